//! Train, evaluate and predict with a fully connected network on a CSV table: classification,
//! regression or multi-label.
//!
//! ```sh
//! cargo run --release --example tabular_data -- regression 1000 > houses.csv
//! cargo run --release --example tabular -- train --train houses.csv --target price \
//!     --task regression --save-model houses.model
//! cargo run --release --example tabular -- eval --model houses.model --test houses.csv
//! cargo run --release --example tabular -- predict --model houses.model --csv houses.csv
//! ```
//! `train` reads the table (a header row is required), holds out a seeded 20 % test split (or
//! reads `--test`), fits the preprocessing on the training rows (numeric columns standardized,
//! string columns one-hot encoded, targets encoded for the task), trains a 64-64 ReLU network
//! with Adam, and ends with the test metrics on one line:
//! `test_accuracy=0.XXXX test_loss=X.XXXX` (classification),
//! `test_r2=0.XXXX test_rmse=X.XXXX test_mae=X.XXXX` (regression, in the targets' units; with
//! several targets each metric is computed per target and averaged, as scikit-learn's
//! `multioutput="uniform_average"`), or `test_subset_accuracy=0.XXXX test_micro_f1=0.XXXX`
//! (multi-label). The metrics are `nn_core::metrics`'. On the generated houses table, expect
//! `test_r2` above 0.98.
//!
//! The model file holds the preprocessing, so `eval` (same last line) and `predict` (CSV
//! predictions on stdout or `--output`) take raw CSV files with the training columns, in any
//! order. Every subcommand has `--help`. Errors print one line on stderr and exit with code 2,
//! writing nothing; a closed stdout (`| head`) ends the output quietly.

mod charts;
mod eval;
mod output;
#[path = "../mnist/plot.rs"]
mod plot;
mod predict;
#[cfg(test)]
mod tests;
mod train;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use nn::io::tabular::{CsvOptions, Imputation, Preprocessor, Table, Task};
use nn::io::{AnyNetwork, ModelMetadata};

use crate::output::Out;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Train, evaluate and predict with a fully connected network on a CSV table"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Fit the preprocessing and train a network on a CSV table; report the test metrics.
    Train(Box<TrainArgs>),
    /// Evaluate a saved model on a CSV table with the target columns.
    Eval(EvalArgs),
    /// Predict the targets of the rows of a CSV table, as CSV.
    Predict(PredictArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum TaskArg {
    /// One target column of class labels (strings or numbers): softmax cross-entropy.
    Classification,
    /// One or more numeric target columns: mean squared error on standardized targets.
    Regression,
    /// Several 0/1 target columns: sigmoid binary cross-entropy.
    Multilabel,
}

impl From<TaskArg> for Task {
    fn from(t: TaskArg) -> Task {
        match t {
            TaskArg::Classification => Task::Classification,
            TaskArg::Regression => Task::Regression,
            TaskArg::Multilabel => Task::Multilabel,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ImputeArg {
    /// Numeric cells take the training mean, string cells the training category frequencies.
    Mean,
}

impl From<ImputeArg> for Imputation {
    fn from(i: ImputeArg) -> Imputation {
        match i {
            ImputeArg::Mean => Imputation::Mean,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Precision {
    F32,
    F64,
}

/// How to read CSV files.
#[derive(Args, Debug)]
struct CsvArgs {
    /// The field delimiter: one ASCII character, or `tab`.
    #[arg(long, default_value = ",")]
    delimiter: String,
}

impl CsvArgs {
    fn options(&self) -> Result<CsvOptions> {
        let d = match self.delimiter.as_str() {
            "tab" | "\\t" | "\t" => b'\t',
            s if s.len() == 1 && s.is_ascii() && s != "\"" && s != "\n" && s != "\r" => {
                s.as_bytes()[0]
            }
            s => bail!(
                "--delimiter must be one ASCII character other than a quote or a line break, or `tab`; got {s:?}"
            ),
        };
        Ok(CsvOptions::default().with_delimiter(d))
    }
}

#[derive(Args, Debug)]
struct TrainArgs {
    /// The training table (CSV with a header row).
    #[arg(long)]
    train: PathBuf,
    /// A test table with the same columns (default: a seeded --test-split of --train).
    #[arg(long, conflicts_with = "test_split")]
    test: Option<PathBuf>,
    /// The fraction of --train rows held out for the test, when there is no --test
    /// (stratified by class for classification).
    #[arg(long, allow_negative_numbers = true)]
    test_split: Option<f64>,
    /// The target column(s), comma-separated: one for classification, one or more for
    /// regression and multilabel.
    #[arg(long, value_delimiter = ',', required = true)]
    target: Vec<String>,
    /// What the targets are.
    #[arg(long, value_enum)]
    task: TaskArg,
    /// Hidden layer sizes, comma-separated, or `none` for a linear model.
    #[arg(long, default_value = "64,64")]
    hidden: String,
    /// Hidden activation: relu, leaky_relu[:α], elu[:α], gelu, gelu_tanh, silu, softplus, tanh,
    /// sigmoid, identity.
    #[arg(long, default_value = "relu")]
    activation: String,
    /// Optimizer: sgd, adam, adamw, rmsprop.
    #[arg(long, default_value = "adam")]
    optimizer: String,
    /// Learning rate.
    #[arg(long, default_value_t = 1e-3, allow_negative_numbers = true)]
    lr: f64,
    /// Epochs.
    #[arg(long, default_value_t = 100)]
    epochs: usize,
    /// Batch size.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Training threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Shards per batch: the result depends on it, not on --threads.
    #[arg(long, default_value_t = 1)]
    shards: usize,
    /// Seed of the test split, the initialisation, the shuffling and the validation split.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Fraction of the training rows held out for validation (and early stopping).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    val_split: f64,
    /// Stop after this many epochs without validation improvement (needs --val-split > 0), and
    /// keep the best epoch's weights.
    #[arg(long)]
    early_stop_patience: Option<usize>,
    /// Save the model, with its preprocessing, for eval and predict.
    #[arg(long)]
    save_model: Option<PathBuf>,
    /// Also export the weights as safetensors.
    #[arg(long)]
    export_safetensors: Option<PathBuf>,
    /// Also export the model as ONNX (opset 17, float32), the preprocessing in its metadata
    /// (`tabular.*` entries).
    #[arg(long)]
    export_onnx: Option<PathBuf>,
    /// Loss (and accuracy) curves per epoch (.png or .svg).
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Impute missing feature values (default: a missing value is an error).
    #[arg(long, value_enum)]
    impute: Option<ImputeArg>,
    /// Columns to one-hot encode even if they hold numbers (zip codes, ids of categories).
    #[arg(long, value_delimiter = ',')]
    categorical: Vec<String>,
    /// Columns that are not features (row ids, free text).
    #[arg(long, value_delimiter = ',')]
    ignore: Vec<String>,
    /// The most distinct values a string column may have.
    #[arg(long, default_value_t = nn::io::tabular::DEFAULT_MAX_CATEGORIES)]
    max_categories: usize,
    /// Floating-point precision.
    #[arg(long, value_enum, default_value = "f32")]
    precision: Precision,
    #[command(flatten)]
    csv: CsvArgs,
}

#[derive(Args, Debug)]
struct EvalArgs {
    /// A model saved by `train --save-model`.
    #[arg(long)]
    model: PathBuf,
    /// The table to evaluate on: the training columns, targets included.
    #[arg(long)]
    test: PathBuf,
    /// Classification: the confusion matrix as a picture (.png or .svg).
    #[arg(long)]
    plot: Option<PathBuf>,
    #[command(flatten)]
    csv: CsvArgs,
}

#[derive(Args, Debug)]
struct PredictArgs {
    /// A model saved by `train --save-model`.
    #[arg(long)]
    model: PathBuf,
    /// The table to predict: the training feature columns (targets not needed).
    #[arg(long)]
    csv: PathBuf,
    /// Write the predictions to this file (atomically) instead of the standard output.
    #[arg(long)]
    output: Option<PathBuf>,
    #[command(flatten)]
    csv_options: CsvArgs,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return output::clap_exit(&e),
    };
    init_tracing();
    let mut out = Out::stdout();
    let result = match cli.command {
        Command::Train(args) => train::run(&args, &mut out),
        Command::Eval(args) => eval::run(&args, &mut out),
        Command::Predict(args) => predict::run(&args, &mut out),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            output::error_line(&e);
            ExitCode::from(2)
        }
    }
}

/// `RUST_LOG` selects the library's tracing events (for example `RUST_LOG=nn_train=info`).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

/// Reads a CSV table.
fn read_table(path: &Path, options: &CsvOptions) -> Result<Table> {
    Ok(nn::io::tabular::read_csv(path, options)?)
}

/// A saved model and the preprocessing it was trained with.
fn load_model(path: &Path) -> Result<(AnyNetwork, ModelMetadata, Preprocessor)> {
    let loaded = nn::io::load_model(path).with_context(|| {
        format!(
            "cannot load the model {} (pass a file written by `tabular train --save-model`)",
            path.display()
        )
    })?;
    let pre = Preprocessor::from_metadata(&loaded.metadata)
        .with_context(|| format!("{}", path.display()))?
        .with_context(|| {
            format!(
                "{}: the model holds no tabular preprocessing (was it saved by `tabular train`?)",
                path.display()
            )
        })?;
    match &loaded.network {
        AnyNetwork::F32(net) => pre.check_network(net),
        AnyNetwork::F64(net) => pre.check_network(net),
    }
    .with_context(|| format!("{}", path.display()))?;
    Ok((loaded.network, loaded.metadata, pre))
}

/// Refuses to start a run whose output could not be written: its folder must exist, and it
/// must not be a folder itself (files are written atomically at the end).
fn check_output(path: &Path, what: &str) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !dir.is_dir() {
        bail!("{what} {}: the folder {} does not exist", path.display(), dir.display());
    }
    if path.is_dir() {
        bail!("{what} {} is a folder, expected a file path", path.display());
    }
    Ok(())
}
