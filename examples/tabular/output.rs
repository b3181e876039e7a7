//! The standard output (a closed pipe ends it quietly), one-line errors, warnings.

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::{Result, anyhow};

/// Where results go: the standard output, or a buffer in tests.
///
/// A closed pipe (`tabular predict ... | head`) is not an error: the rest of the output is
/// dropped and the command finishes its work (a `train` still saves its model) and exits with
/// code 0. Any other write error (a full disk) is an error.
pub(crate) struct Out {
    sink: Sink,
    closed: bool,
}

enum Sink {
    Stdout,
    #[cfg_attr(not(test), allow(dead_code, reason = "tests capture the output"))]
    Buffer(Vec<u8>),
}

impl Out {
    pub(crate) fn stdout() -> Self {
        Out { sink: Sink::Stdout, closed: false }
    }

    #[cfg(test)]
    pub(crate) fn buffer() -> Self {
        Out { sink: Sink::Buffer(Vec::new()), closed: false }
    }

    /// What was written to a buffer (empty for the standard output).
    #[cfg(test)]
    pub(crate) fn text(&self) -> String {
        match &self.sink {
            Sink::Buffer(b) => String::from_utf8_lossy(b).into_owned(),
            Sink::Stdout => String::new(),
        }
    }

    /// Writes `text` as it is.
    pub(crate) fn write(&mut self, text: &str) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        let result = match &mut self.sink {
            Sink::Buffer(b) => {
                b.extend_from_slice(text.as_bytes());
                Ok(())
            }
            Sink::Stdout => {
                let mut stdout = io::stdout().lock();
                stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush())
            }
        };
        match result {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            Err(e) => Err(anyhow!("cannot write to the standard output: {e}")),
        }
    }

    /// Writes one line.
    pub(crate) fn line(&mut self, line: impl std::fmt::Display) -> Result<()> {
        self.write(&format!("{line}\n"))
    }
}

/// Prints `message` on stderr (ignoring a closed stderr: there is nowhere else to say it).
fn stderr_line(message: &str) {
    let _ = writeln!(io::stderr().lock(), "{message}");
}

/// A warning on stderr: the command goes on.
pub(crate) fn warning(message: impl std::fmt::Display) {
    stderr_line(&format!("warning: {message}"));
}

/// An error as one line on stderr, its causes joined with `: `.
pub(crate) fn error_line(e: &anyhow::Error) {
    let text = format!("error: {e:#}");
    stderr_line(&one_line(&text));
}

/// `text` with its lines joined by spaces (the messages hold none, but a cause might).
fn one_line(text: &str) -> String {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

/// What to do with a command line clap refuses: `--help` and `--version` print and succeed;
/// anything else is one line on stderr (the usage, which follows it, is left to `--help`) and
/// exit code 2.
pub(crate) fn clap_exit(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            stderr_line("error: a subcommand is required: train, eval or predict (see --help)");
            ExitCode::from(2)
        }
        _ => {
            let rendered = e.render().to_string();
            let before_usage: Vec<&str> = rendered
                .lines()
                .take_while(|l| !l.trim_start().starts_with("Usage:"))
                .filter(|l| !l.trim_start().starts_with("For more information"))
                .collect();
            let mut line = one_line(&before_usage.join("\n"));
            line.push_str(" (see --help)");
            stderr_line(&line);
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_line_messages_become_one_line() {
        assert_eq!(one_line("error: a\n\n  b \nc"), "error: a b c");
    }
}
