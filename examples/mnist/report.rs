//! What the program tells the user: standard output written with errors returned instead of
//! panics (a closed pipe ends the program quietly, a full disk is one error), warnings on
//! standard error, number formats, the progress bar, and the training observer that prints each
//! epoch and saves the checkpoints.

use std::fmt;
use std::io::{self, IsTerminal, Write};
use std::path::Path;

use anyhow::anyhow;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use nn::io::{Checkpoint, ModelMetadata, StoredFloat};
use nn::net::Network;
use nn::train::{BatchReport, Control, Dataset, EpochReport, Observer, Trainer, evaluate};

/// A write to standard output failed: `BrokenPipe` when the reader went away (`| head`), which
/// ends the program quietly; anything else (a full disk) is an error.
#[derive(Debug)]
pub(crate) struct StdoutError(pub(crate) io::Error);

impl fmt::Display for StdoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot write to standard output: {}", self.0)
    }
}

impl std::error::Error for StdoutError {}

/// Standard output, whose write errors are returned (`println!` panics on them).
/// `None`: a rank of a distributed run other than rank 0, which prints nothing.
#[derive(Debug)]
pub(crate) struct Out(Option<io::Stdout>);

impl Out {
    pub(crate) fn stdout() -> Out {
        Out(Some(io::stdout()))
    }

    /// An output that drops every line.
    pub(crate) fn silent() -> Out {
        Out(None)
    }

    /// Writes one line (standard output is line-buffered: the error of a full disk or a closed
    /// pipe comes back here, not later).
    pub(crate) fn line(&mut self, args: fmt::Arguments<'_>) -> Result<(), StdoutError> {
        let Some(stdout) = &self.0 else { return Ok(()) };
        let mut lock = stdout.lock();
        lock.write_fmt(args).and_then(|()| lock.write_all(b"\n")).map_err(StdoutError)
    }

    /// A warning on standard error, unless this output is silent (a rank other than 0 of a
    /// distributed run, whose warnings rank 0 gives once).
    pub(crate) fn warn(&self, message: impl fmt::Display) {
        if self.0.is_some() {
            warn(message);
        }
    }

    pub(crate) fn flush(&mut self) -> Result<(), StdoutError> {
        self.0.as_mut().map_or(Ok(()), io::Write::flush).map_err(StdoutError)
    }
}

/// `outln!(out, "...", args)`: one line on standard output, `Result<(), StdoutError>`.
macro_rules! outln {
    ($out:expr, $($arg:tt)*) => {
        $out.line(format_args!($($arg)*))
    };
}
pub(crate) use outln;

/// A warning on standard error (nothing to do if standard error itself is gone).
pub(crate) fn warn(message: impl fmt::Display) {
    let _ = writeln!(io::stderr(), "warning: {message}");
}

/// A size for messages: `"812 bytes"`, `"3.7 GB"` (decimal units), as nn-io's errors show them.
pub(crate) use nn::io::show_size;

/// A hyper-parameter as a user would type it: `0.001`, `1e6`, `1e-4`.
pub(crate) fn number(v: f64) -> String {
    if v != 0.0 && (v.abs() >= 1e5 || v.abs() < 1e-3) { format!("{v:e}") } else { format!("{v}") }
}

/// `1 epoch`, `3 epochs`.
pub(crate) fn epochs(n: usize) -> String {
    if n == 1 { "1 epoch".to_owned() } else { format!("{n} epochs") }
}

/// A loss or accuracy: 4 decimals, or scientific notation for a number too large for them.
pub(crate) fn metric(value: f64) -> String {
    if value.is_finite() && value.abs() < 1e5 {
        format!("{value:.4}")
    } else {
        format!("{value:.4e}")
    }
}

/// The progress bar of one epoch, on standard error when it is a terminal (hidden otherwise).
pub(crate) fn progress_bar() -> ProgressBar {
    let target = if io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(None, target);
    // The template is a constant, checked by a test: it cannot fail here.
    if let Ok(style) = ProgressStyle::with_template(BAR_TEMPLATE) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

const BAR_TEMPLATE: &str = "{msg} [{bar:30}] {pos}/{len} batches, {eta} left in this epoch";

/// The metadata key of the test set's per-epoch loss and accuracy, kept in checkpoints so that
/// a resumed run's plot has the whole curve.
pub(crate) const TEST_CURVE_KEY: &str = "test_curve";

/// One point per epoch: (epoch counted from 1, loss, accuracy).
pub(crate) type Curve = Vec<(usize, f64, Option<f64>)>;

/// `1:0.51:0.81;2:0.45:0.84`.
pub(crate) fn encode_curve(curve: &Curve) -> String {
    let point = |(e, l, a): &(usize, f64, Option<f64>)| {
        format!("{e}:{l}:{}", a.map_or_else(String::new, |a| a.to_string()))
    };
    curve.iter().map(point).collect::<Vec<_>>().join(";")
}

/// The points of [`encode_curve`]'s text that parse (a damaged entry is skipped, not fatal: it
/// only draws a plot).
pub(crate) fn decode_curve(text: &str) -> Curve {
    text.split(';')
        .filter_map(|p| {
            let mut parts = p.split(':');
            let epoch = parts.next()?.parse().ok()?;
            let loss = parts.next()?.parse().ok()?;
            let accuracy = parts.next()?.parse().ok();
            Some((epoch, loss, accuracy))
        })
        .collect()
}

/// Prints every epoch, draws the progress bar, measures the test set when there is no
/// validation set, saves the checkpoint.
pub(crate) struct Reporter<'a, T: nn::net::Float> {
    pub(crate) out: &'a mut Out,
    pub(crate) bar: ProgressBar,
    pub(crate) total_epochs: usize,
    pub(crate) checkpoint: Option<&'a Path>,
    pub(crate) metadata: ModelMetadata,
    /// Measured after every epoch when `fit` has no validation set (shown, never used to
    /// choose anything).
    pub(crate) test: Option<&'a Dataset<T>>,
    pub(crate) test_curve: Curve,
    pub(crate) error: Option<anyhow::Error>,
}

impl<T: StoredFloat> Reporter<'_, T> {
    fn epoch(
        &mut self,
        report: &EpochReport,
        net: &Network<T>,
        trainer: &Trainer<T>,
    ) -> anyhow::Result<()> {
        let epoch = report.epoch + 1;
        let (name, measured) = match (&report.validation, self.test) {
            (Some(v), _) => ("validation", Some((v.loss, v.accuracy))),
            (None, Some(test)) => {
                let e = evaluate(net, test, 1000)?;
                self.test_curve.retain(|&(k, _, _)| k < epoch);
                self.test_curve.push((epoch, e.loss, e.accuracy));
                self.metadata
                    .extra
                    .insert(TEST_CURVE_KEY.to_owned(), encode_curve(&self.test_curve));
                ("test", Some((e.loss, e.accuracy)))
            }
            (None, None) => ("test", None),
        };
        let measured = measured.map_or_else(String::new, |(loss, acc)| {
            format!(
                "  {name}_loss={} {name}_acc={}",
                metric(loss),
                acc.map_or_else(|| "n/a".to_owned(), metric)
            )
        });
        let line = format!(
            "epoch {epoch:>3}/{}  train_loss={} train_acc={}{measured}  lr={:.2e}  {:.1} s ({:.0} samples/s)",
            self.total_epochs,
            metric(report.train_loss),
            report.train_accuracy.map_or_else(|| "n/a".to_owned(), metric),
            report.learning_rate,
            report.seconds,
            report.samples_per_s,
        );
        let out = &mut *self.out;
        self.bar.suspend(|| outln!(out, "{line}"))?;
        if let Some(path) = self.checkpoint {
            let checkpoint = Checkpoint {
                network: net.clone(),
                config: trainer.config().clone(),
                state: trainer.state(),
                metadata: self.metadata.clone(),
            };
            nn::io::save_checkpoint(path, &checkpoint)
                .map_err(|e| anyhow!(e).context("cannot save the checkpoint (--save)"))?;
        }
        Ok(())
    }
}

impl<T: StoredFloat> Observer<T> for Reporter<'_, T> {
    fn on_batch(&mut self, report: &BatchReport) -> Control {
        if report.batch_idx == 0 {
            self.bar.set_length(report.n_batches as u64);
            self.bar.set_position(0);
            self.bar.reset_eta();
            self.bar.set_message(format!("epoch {}/{}", report.epoch + 1, self.total_epochs));
        }
        self.bar.inc(1);
        Control::Continue
    }

    fn on_epoch(
        &mut self,
        report: &EpochReport,
        net: &Network<T>,
        trainer: &Trainer<T>,
    ) -> Control {
        match self.epoch(report, net, trainer) {
            Ok(()) => Control::Continue,
            Err(e) => {
                self.error = Some(e);
                Control::Stop
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_template_is_valid_and_says_what_its_time_measures() {
        assert!(ProgressStyle::with_template(BAR_TEMPLATE).is_ok());
        assert!(BAR_TEMPLATE.contains("left in this epoch"));
    }

    #[test]
    fn metrics_stay_readable_at_any_size() {
        assert_eq!(metric(0.123_456), "0.1235");
        assert_eq!(metric(1.8e114), "1.8000e114");
        assert_eq!(metric(f64::NAN), "NaN");
        assert_eq!(number(1e6), "1e6");
        assert_eq!(number(1e-4), "1e-4");
        assert_eq!(number(0.001), "0.001");
        assert_eq!(number(0.0), "0");
        assert_eq!(epochs(1), "1 epoch");
        assert_eq!(show_size(3_700_480_000), "3.7 GB");
        assert_eq!(show_size(12), "12 bytes");
    }

    #[test]
    fn curves_round_trip_and_damage_is_skipped() {
        let curve = vec![(1, 0.5, Some(0.8)), (2, 0.25, None)];
        assert_eq!(decode_curve(&encode_curve(&curve)), curve);
        assert_eq!(decode_curve("1:x:0.5;2:0.3:0.9;;junk"), vec![(2, 0.3, Some(0.9))]);
    }
}
