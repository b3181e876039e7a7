//! The command line: subcommands, flags, and the parsers that refuse a bad value with its real
//! reason (negative numbers are parsed as numbers, then refused if out of range, so `--lr -1`
//! says what is wrong with -1 instead of taking it for a flag: whole numbers are accepted as
//! negative numbers, and real numbers take any value, `-1e-4` included).
//!
//! Tunable flags of `train` are `Option`s without a clap default: `Some` means the user gave
//! the flag, which `--resume` needs to know. Their defaults come from the preset table
//! ([`crate::presets`]), which also writes them into `--help`.

use std::path::PathBuf;

use clap::builder::PossibleValue;
use clap::{Args, Parser, Subcommand, ValueEnum};
use nn::net::Activation;
use nn::train::optim::OptimizerConfig;

use crate::presets;

#[derive(Parser, Debug)]
#[command(
    name = "mnist",
    version,
    about = "Train, evaluate and predict with a fully connected network on MNIST-like data"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Train a network and report its test accuracy.
    Train(Box<TrainArgs>),
    /// Evaluate a saved model on the test set: accuracy, loss, confusion matrix, per-class metrics.
    Eval(EvalArgs),
    /// Predict the class of images (PNG, JPEG, PGM, BMP, GIF, WebP; any size) or of test-set
    /// samples.
    Predict(PredictArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Precision {
    F32,
    F64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ScheduleName {
    Constant,
    Step,
    Exponential,
    Cosine,
    OneCycle,
    InvScaling,
    Plateau,
}

impl ScheduleName {
    /// The name on the command line, e.g. `one-cycle`.
    pub(crate) fn name(self) -> String {
        self.to_possible_value().map_or_else(|| format!("{self:?}"), |v| v.get_name().to_owned())
    }
}

#[derive(Args, Clone, Debug)]
pub(crate) struct DataArgs {
    /// A folder holding the four MNIST-style IDX files (gzip or raw).
    #[arg(long, value_name = "DIR", default_value = nn::io::FASHION_MNIST_DIR)]
    pub(crate) data: PathBuf,
    /// A text file with one class name per line, in label order; it also says how many classes
    /// there are, for labels with gaps (default: the names saved in the model, Fashion-MNIST's
    /// names when the folder is Fashion-MNIST, digits otherwise).
    #[arg(long, value_name = "FILE")]
    pub(crate) classes: Option<PathBuf>,
}

#[derive(Args, Clone, Debug)]
pub(crate) struct TrainArgs {
    #[command(flatten)]
    pub(crate) data: DataArgs,
    /// A set of defaults for the options below (which override it).
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(preset_values()), default_value = presets::DEFAULT)]
    pub(crate) preset: String,
    /// Hidden layer sizes, comma-separated.
    #[arg(long, value_name = "SIZES", value_delimiter = ',', value_parser = hidden_size)]
    pub(crate) hidden: Option<Vec<usize>>,
    /// Hidden activation: relu, leaky_relu[:α], elu[:α], gelu, gelu_tanh, silu, softplus, tanh,
    /// sigmoid, identity.
    #[arg(long, value_name = "NAME", value_parser = activation, allow_negative_numbers = true)]
    pub(crate) activation: Option<Activation>,
    /// Optimizer: sgd, adam, adamw, rmsprop (with its own defaults: adamw's weight decay is 0.01
    /// unless --weight-decay says otherwise).
    #[arg(long, value_name = "NAME", value_parser = optimizer)]
    pub(crate) optimizer: Option<OptimizerConfig>,
    /// Base learning rate (> 0).
    #[arg(long, value_parser = learning_rate, allow_hyphen_values = true)]
    pub(crate) lr: Option<f64>,
    /// Momentum of sgd and rmsprop, in [0, 1).
    #[arg(long, value_parser = unit_interval, allow_hyphen_values = true)]
    pub(crate) momentum: Option<f64>,
    /// Weight decay (≥ 0; coupled for sgd/adam/rmsprop, decoupled for adamw; never on biases).
    #[arg(long, value_parser = non_negative, allow_hyphen_values = true)]
    pub(crate) weight_decay: Option<f64>,
    /// Dropout rate of the hidden layers, in [0, 1).
    #[arg(long, value_name = "RATE", value_parser = unit_interval, allow_hyphen_values = true)]
    pub(crate) dropout: Option<f64>,
    /// Label smoothing ε in [0, 1): the training targets become (1 − ε) one-hot + ε/classes.
    #[arg(long, value_name = "EPSILON", value_parser = unit_interval, allow_hyphen_values = true)]
    pub(crate) label_smoothing: Option<f64>,
    /// Learning-rate schedule.
    #[arg(long, value_enum)]
    pub(crate) schedule: Option<ScheduleName>,
    /// Total number of epochs (a resumed run counts the epochs it already did).
    #[arg(long, value_name = "N", value_parser = count, allow_negative_numbers = true)]
    pub(crate) epochs: Option<usize>,
    /// Augmentation: move each training image by a random offset of up to N pixels in each
    /// direction, a new one every epoch (0: none).
    #[arg(long, value_name = "N", value_parser = shift, allow_negative_numbers = true)]
    pub(crate) shift: Option<usize>,
    /// Batch size (at most the number of training samples: a larger one is reduced to it).
    #[arg(long, value_name = "N", value_parser = count, allow_negative_numbers = true)]
    pub(crate) batch: Option<usize>,
    /// Training threads.
    #[arg(long, value_name = "N", value_parser = count, allow_negative_numbers = true)]
    pub(crate) threads: Option<usize>,
    /// Shards per batch: the result depends on it, not on --threads.
    #[arg(long, value_name = "N", value_parser = count, allow_negative_numbers = true)]
    pub(crate) shards: Option<usize>,
    /// Seed of the initialisation, shuffling, dropout and validation split.
    #[arg(long, value_name = "N", value_parser = seed, allow_negative_numbers = true)]
    pub(crate) seed: Option<u64>,
    /// Floating-point precision (default: f32, or the checkpoint's with --resume).
    #[arg(long, value_enum)]
    pub(crate) precision: Option<Precision>,
    /// Fraction of the training set held out for validation (and early stopping), in [0, 1)
    /// [default: 0].
    #[arg(long, value_name = "FRACTION", value_parser = unit_interval, allow_hyphen_values = true)]
    pub(crate) val_split: Option<f64>,
    /// Stop after this many epochs without validation improvement (needs --val-split > 0), and
    /// keep the best epoch's weights.
    #[arg(long, value_name = "N", value_parser = count, allow_negative_numbers = true)]
    pub(crate) early_stop_patience: Option<usize>,
    /// Training checkpoint, written atomically after every epoch.
    #[arg(long, value_name = "PATH")]
    pub(crate) save: Option<PathBuf>,
    /// The trained model, for eval and predict [default: runs/train-N/mnist.model, in a new
    /// numbered folder].
    #[arg(long, value_name = "PATH")]
    pub(crate) save_model: Option<PathBuf>,
    /// Continue a run saved with --save, up to --epochs. Flags that may differ from the saved
    /// run: --epochs (to train further), --threads, --data, --classes and the outputs; any other
    /// flag given must agree with the checkpoint.
    #[arg(long, value_name = "PATH")]
    pub(crate) resume: Option<PathBuf>,
    /// Also export the weights as safetensors.
    #[arg(long, value_name = "PATH")]
    pub(crate) export_safetensors: Option<PathBuf>,
    /// Also export the model as ONNX (opset 17, float32), for onnxruntime and other runtimes.
    #[arg(long, value_name = "PATH")]
    pub(crate) export_onnx: Option<PathBuf>,
    /// Loss and accuracy curves (.png or .svg) [default: runs/train-N/training.png].
    #[arg(long, value_name = "PATH")]
    pub(crate) plot: Option<PathBuf>,
    /// Train on the first N training images only.
    #[arg(long, value_name = "N", value_parser = count, allow_negative_numbers = true)]
    pub(crate) limit_train: Option<usize>,
    /// Train in every process of the MPI job this program runs in: `mpirun -np N
    /// target/release/examples/mnist train --distributed ...` (a build with `--features mpi`).
    /// The result is bit-identical to one process with the same --shards (at least N); rank 0
    /// prints and writes the files.
    #[arg(long)]
    pub(crate) distributed: bool,
    /// With --distributed: seconds a process waits for another before it declares it lost and
    /// stops the job (more than the longest checkpoint write).
    #[arg(long, value_name = "SECS", default_value_t = 10.0, allow_hyphen_values = true)]
    pub(crate) dist_timeout: f64,
}

#[derive(Args, Debug)]
pub(crate) struct EvalArgs {
    #[command(flatten)]
    pub(crate) data: DataArgs,
    /// A model or training checkpoint saved by `train`.
    #[arg(long, value_name = "PATH")]
    pub(crate) model: PathBuf,
    /// The confusion matrix as a picture (.png or .svg).
    #[arg(long, value_name = "PATH")]
    pub(crate) plot: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub(crate) struct PredictArgs {
    #[command(flatten)]
    pub(crate) data: DataArgs,
    /// A model or training checkpoint saved by `train`.
    #[arg(long, value_name = "PATH")]
    pub(crate) model: PathBuf,
    /// Images to classify: PNG, JPEG, PGM/PPM/PBM, BMP, GIF or WebP, of any size (converted to
    /// gray and resized to the model's input). The data sets have light objects on a black
    /// background: a dark object on a light background gives a warning (see --invert).
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub(crate) image: Vec<PathBuf>,
    /// Invert the images (for dark objects on a light background, such as ink on paper).
    #[arg(long)]
    pub(crate) invert: bool,
    /// Indices into the test set.
    #[arg(long, value_name = "N", num_args = 1.., allow_negative_numbers = true, value_parser = index)]
    pub(crate) index: Vec<usize>,
}

/// A whole number ≥ 1.
fn count(s: &str) -> Result<usize, String> {
    match s.trim().parse::<i128>() {
        Ok(v) if v >= 1 => usize::try_from(v).map_err(|_| format!("{v} is too large")),
        Ok(v) => Err(format!("expected a whole number ≥ 1, found {v}")),
        Err(_) => Err(format!("expected a whole number ≥ 1, found {s:?}")),
    }
}

/// A whole number ≥ 0 (an index).
fn index(s: &str) -> Result<usize, String> {
    match s.trim().parse::<i128>() {
        Ok(v) if v >= 0 => usize::try_from(v).map_err(|_| format!("{v} is too large")),
        Ok(v) => Err(format!("expected a whole number ≥ 0, found {v}")),
        Err(_) => Err(format!("expected a whole number ≥ 0, found {s:?}")),
    }
}

/// A maximum shift in pixels: a whole number ≥ 0 (0: no augmentation), below the image size
/// (checked with the data).
fn shift(s: &str) -> Result<usize, String> {
    index(s)
}

/// A seed: a whole number from 0 to 2^64 − 1.
fn seed(s: &str) -> Result<u64, String> {
    match s.trim().parse::<i128>() {
        Ok(v) => u64::try_from(v)
            .map_err(|_| format!("expected a whole number from 0 to {}, found {v}", u64::MAX)),
        Err(_) => Err(format!("expected a whole number ≥ 0, found {s:?}")),
    }
}

/// The width of a hidden layer: 1 to `nn::net::MAX_LAYER_WIDTH` units.
fn hidden_size(s: &str) -> Result<usize, String> {
    let n = count(s)?;
    if n > nn::net::MAX_LAYER_WIDTH {
        return Err(format!("a layer has at most {} units, found {n}", nn::net::MAX_LAYER_WIDTH));
    }
    Ok(n)
}

fn number(s: &str) -> Result<f64, String> {
    s.trim().parse::<f64>().map_err(|_| format!("expected a number, found {s:?}"))
}

/// A finite number > 0.
fn learning_rate(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(format!("the learning rate must be a finite number > 0 (such as 0.001), found {v}"))
    }
}

/// A number in [0, 1).
fn unit_interval(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if (0.0..1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("expected a number from 0 (included) to 1 (excluded), found {v}"))
    }
}

/// A finite number ≥ 0.
fn non_negative(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(format!("expected a finite number ≥ 0, found {v}"))
    }
}

fn activation(s: &str) -> Result<Activation, String> {
    s.parse().map_err(|e: nn::net::ParseActivationError| e.to_string())
}

fn optimizer(s: &str) -> Result<OptimizerConfig, String> {
    OptimizerConfig::from_name(s).map_err(|e| e.to_string())
}

/// The preset names, with their summaries, for `--preset`'s possible values.
pub(crate) fn preset_values() -> Vec<PossibleValue> {
    presets::PRESETS.iter().map(|p| PossibleValue::new(p.name).help(p.summary)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_refused_with_the_real_reason() {
        assert_eq!(count("3"), Ok(3));
        assert_eq!(count("-1"), Err("expected a whole number ≥ 1, found -1".to_owned()));
        assert_eq!(count("0"), Err("expected a whole number ≥ 1, found 0".to_owned()));
        assert!(count("1.5").unwrap_err().contains("\"1.5\""));
        assert_eq!(index("0"), Ok(0));
        assert!(index("-3").is_err());
        assert_eq!(seed(&u64::MAX.to_string()), Ok(u64::MAX));
        assert!(seed("-5").unwrap_err().contains("found -5"));
        assert!(learning_rate("-1").unwrap_err().contains("must be a finite number > 0"));
        assert!(learning_rate("nan").is_err() && learning_rate("inf").is_err());
        assert!(learning_rate("0").is_err());
        assert_eq!(learning_rate("1e-3"), Ok(1e-3));
        assert!(unit_interval("-0.1").unwrap_err().contains("found -0.1"));
        assert!(unit_interval("1").is_err() && unit_interval("NaN").is_err());
        assert_eq!(unit_interval("0"), Ok(0.0));
        assert!(non_negative("-1e-4").is_err());
        assert!(hidden_size(&(nn::net::MAX_LAYER_WIDTH + 1).to_string()).is_err());
    }

    #[test]
    fn negative_values_reach_the_parsers_and_are_refused_by_them() {
        for (flag, value, expected) in [
            ("--lr", "-1", "the learning rate must be a finite number > 0"),
            ("--dropout", "-0.1", "from 0 (included) to 1 (excluded), found -0.1"),
            ("--dropout=-0.5", "", "found -0.5"),
            ("--epochs", "-2", "expected a whole number ≥ 1, found -2"),
            ("--seed", "-1", "from 0 to"),
            ("--weight-decay", "-1e-4", "finite number ≥ 0"),
        ] {
            let mut argv = vec!["mnist", "train", flag];
            if !value.is_empty() {
                argv.push(value);
            }
            let err = Cli::try_parse_from(&argv).unwrap_err();
            let text = err.to_string();
            assert!(text.contains(expected), "{argv:?}: {text}");
            assert!(!text.contains("unexpected argument"), "{argv:?}: {text}");
        }
    }

    #[test]
    fn version_names_the_program() {
        let err = Cli::try_parse_from(["mnist", "--version"]).unwrap_err();
        assert_eq!(err.to_string(), format!("mnist {}\n", env!("CARGO_PKG_VERSION")));
    }
}
