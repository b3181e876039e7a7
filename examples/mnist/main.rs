//! Train, evaluate and predict on MNIST-like data (Fashion-MNIST by default).
//!
//! ```sh
//! apt-get install -y dataset-fashion-mnist        # as root; otherwise with sudo
//! cargo run --release --example mnist -- train
//! ```
//! trains a 784-512-256-10 ReLU network with AdamW and a cosine schedule for 15 epochs (about
//! 30 s on 2 cores), prints the loss and accuracy of every epoch, saves the model and the
//! learning curves in a new folder `runs/train-N/` (`mnist.model`, `training.png`), and ends
//! with `test_accuracy=0.89xx test_loss=0.3xxx`. Expect about 0.89–0.90 test accuracy.
//! `--preset strong` (784-1024-512-10, dropout 0.3, one-cycle, 28 epochs) reaches about 0.905;
//! `--preset fast` (784-512-256-10 SiLU, label smoothing 0.1, batch 256, 32 epochs, chosen on a
//! validation split: see the README's recipe) about 0.908 in about 35 s on 2 cores.
//!
//! ```sh
//! cargo run --release --example mnist -- eval --model runs/train-1/mnist.model --plot confusion.png
//! cargo run --release --example mnist -- predict --model runs/train-1/mnist.model --index 0 1 2
//! cargo run --release --example mnist -- predict --model runs/train-1/mnist.model --image shoe.jpg
//! ```
//! Every subcommand has `--help`. An error (a missing data folder, a bad flag, an unreadable
//! model, an output that cannot be written, a run too large for the memory) is one line on
//! standard error and exit code 2, found before training starts and before any file is written.
//! A closed standard output (`| head`) ends the program quietly.
//!
//! One job per module: [`args`] (the command line), [`presets`] and [`settings`] (the values of
//! a run), [`outputs`] (the files written, checked first), [`data`] (the data set and its
//! classes), [`memory`] (what a run needs), [`train`], [`eval`] and [`predict`] (the
//! subcommands), [`report`] (what is printed), [`image`] and [`plot`] (pictures in and out),
//! [`distributed`] (`train --distributed`: one rank of an MPI job).

mod args;
mod data;
mod distributed;
mod eval;
mod image;
mod memory;
mod outputs;
mod plot;
mod predict;
mod presets;
mod report;
mod settings;
mod train;

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use crate::args::{Cli, Command};
use crate::report::StdoutError;

fn main() -> ExitCode {
    let cli = match presets::document(Cli::command())
        .try_get_matches()
        .and_then(|matches| Cli::from_arg_matches(&matches))
    {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    init_tracing();
    let result = match cli.command {
        Command::Train(args) => train::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::Predict(args) => predict::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report_error(&e),
    }
}

/// One line on standard error and exit code 2; a closed standard output ends quietly, as Unix
/// tools do when the reader of their output goes away.
fn report_error(e: &anyhow::Error) -> ExitCode {
    let closed = e.chain().any(|c| {
        c.downcast_ref::<StdoutError>().is_some_and(|s| s.0.kind() == io::ErrorKind::BrokenPipe)
    });
    if closed {
        return ExitCode::SUCCESS;
    }
    if e.is::<distributed::Reported>() {
        // A rank of a distributed run printed it already, naming itself.
        return ExitCode::from(2);
    }
    let message = format!("{e:#}").replace('\n', " ");
    let _ = writeln!(io::stderr(), "error: {message}");
    ExitCode::from(2)
}

/// clap's `--help` and `--version` as clap prints them (the help also when a subcommand is
/// missing, exit code 2); its errors on one line (the error, its details and its tip), exit
/// code 2.
fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            ExitCode::from(2)
        }
        _ => {
            let _ = writeln!(io::stderr(), "{}", one_line(&e.render().to_string()));
            ExitCode::from(2)
        }
    }
}

/// clap's multi-line message as one line: the `error:` line and the indented lines right after
/// it (the possible values, the missing arguments), then its tips; not the usage.
fn one_line(rendered: &str) -> String {
    let mut lines = rendered.lines();
    let mut text = lines.next().unwrap_or("error: invalid command line").trim().to_owned();
    let mut details = true;
    for line in lines {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            details = false;
        } else if let Some(tip) = trimmed.strip_prefix("tip:") {
            text.push_str(&format!(" ({})", tip.trim()));
        } else if details && line.starts_with(char::is_whitespace) {
            text.push(' ');
            text.push_str(trimmed);
        }
    }
    if !text.contains("--help") {
        text.push_str(" (see --help)");
    }
    text
}

/// `RUST_LOG` selects the library's tracing events (for example `RUST_LOG=nn_train=info`), on
/// standard error, in colour only when it is a terminal (and `NO_COLOR` is not set).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let colour = io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(colour)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_errors_are_one_line_with_their_tip() {
        let err = presets::document(Cli::command())
            .try_get_matches_from(["mnist", "train", "--lrr", "1"])
            .unwrap_err();
        let line = one_line(&err.render().to_string());
        assert!(line.starts_with("error: unexpected argument '--lrr' found"), "{line}");
        assert!(line.contains("'--lr'"), "{line}");
        assert!(!line.contains('\n'));
        let err = presets::document(Cli::command())
            .try_get_matches_from(["mnist", "train", "--schedule", "weekly"])
            .unwrap_err();
        let line = one_line(&err.render().to_string());
        assert!(line.contains("invalid value 'weekly'"), "{line}");
        assert!(line.contains("[possible values: constant, step,"), "{line}");
        let err =
            presets::document(Cli::command()).try_get_matches_from(["mnist", "eval"]).unwrap_err();
        let line = one_line(&err.render().to_string());
        assert_eq!(
            line,
            "error: the following required arguments were not provided: --model <PATH> (see --help)"
        );
    }

    #[test]
    fn a_closed_pipe_is_quiet_and_other_output_errors_are_not() {
        let pipe = anyhow::Error::new(StdoutError(io::Error::from(io::ErrorKind::BrokenPipe)))
            .context("printing");
        assert_eq!(report_error(&pipe), ExitCode::SUCCESS);
        let full = anyhow::Error::new(StdoutError(io::Error::from_raw_os_error(28)));
        assert_eq!(report_error(&full), ExitCode::from(2));
    }
}
