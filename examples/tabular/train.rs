//! The `train` command: read, split, fit the preprocessing, train, score, save.

use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use nn::io::tabular::{Feature, Preprocessor, TabularError, TabularSpec, TargetEncoding, Task};
use nn::io::{ModelMetadata, StoredFloat};
use nn::net::rng::{ChaCha8Rng, SeedableRng};
use nn::net::{Activation, Network};
use nn::train::optim::OptimizerConfig;
use nn::train::{Control, Dataset, EarlyStopping, EpochReport, Observer, TrainConfig, Trainer};

use crate::eval::{encode, score};
use crate::output::{Out, warning};
use crate::{Precision, TrainArgs, charts, check_output, plot, read_table};

/// The training settings, parsed and checked before any file is read.
struct Settings {
    hidden: Vec<usize>,
    activation: Activation,
    optimizer: OptimizerConfig,
    test_split: f64,
}

fn settings(args: &TrainArgs) -> Result<Settings> {
    let hidden = match args.hidden.trim() {
        "none" | "" => Vec::new(),
        list => list
            .split(',')
            .map(|s| match s.trim().parse::<usize>() {
                Ok(0) | Err(_) => Err(anyhow!(
                    "--hidden: expected layer sizes of at least 1, comma-separated (e.g. 64,32), or `none`; got {:?}",
                    args.hidden
                )),
                Ok(n) => Ok(n),
            })
            .collect::<Result<_>>()?,
    };
    let activation = args.activation.parse().map_err(|e| anyhow!("--activation: {e}"))?;
    let optimizer =
        OptimizerConfig::from_name(&args.optimizer).map_err(|e| anyhow!("--optimizer: {e}"))?;
    if !(args.lr.is_finite() && args.lr > 0.0) {
        bail!("--lr must be a finite number > 0, got {}", args.lr);
    }
    for (value, name) in [
        (args.epochs, "--epochs"),
        (args.batch, "--batch"),
        (args.threads, "--threads"),
        (args.shards, "--shards"),
        (args.max_categories, "--max-categories"),
    ] {
        if value == 0 {
            bail!("{name} must be at least 1");
        }
    }
    let test_split = args.test_split.unwrap_or(0.2);
    if !(test_split > 0.0 && test_split < 1.0) {
        bail!("--test-split must be in (0, 1), got {test_split}");
    }
    if !(0.0..1.0).contains(&args.val_split) {
        bail!("--val-split must be in [0, 1), got {}", args.val_split);
    }
    if args.early_stop_patience.is_some() && args.val_split <= 0.0 {
        bail!("--early-stop-patience needs a validation set: pass --val-split (e.g. 0.1)");
    }
    Ok(Settings { hidden, activation, optimizer, test_split })
}

pub(crate) fn run(args: &TrainArgs, out: &mut Out) -> Result<()> {
    match args.precision {
        Precision::F32 => train_as::<f32>(args, out),
        Precision::F64 => train_as::<f64>(args, out),
    }
}

/// Prints some epochs (about ten, the last, the best) and keeps the first error.
struct Reporter<'a> {
    out: &'a mut Out,
    total_epochs: usize,
    monitor: &'static str,
    error: Option<anyhow::Error>,
}

impl<T: StoredFloat> Observer<T> for Reporter<'_> {
    fn on_epoch(&mut self, report: &EpochReport, _: &Network<T>, _: &Trainer<T>) -> Control {
        let every = self.total_epochs.div_ceil(10).max(1);
        let epoch = report.epoch + 1;
        if !epoch.is_multiple_of(every) && epoch != self.total_epochs && epoch != 1 {
            return Control::Continue;
        }
        let mut line =
            format!("epoch {epoch:>4}/{}  train_loss={:.4}", self.total_epochs, report.train_loss);
        if let Some(acc) = report.train_accuracy {
            line.push_str(&format!(" train_acc={acc:.4}"));
        }
        if let Some(v) = &report.validation {
            line.push_str(&format!("  {}_loss={:.4}", self.monitor, v.loss));
            if let Some(acc) = v.accuracy {
                line.push_str(&format!(" {}_acc={acc:.4}", self.monitor));
            }
        }
        line.push_str(&format!("  {:.2} s", report.seconds));
        if let Err(e) = self.out.line(line) {
            self.error = Some(e);
            return Control::Stop;
        }
        Control::Continue
    }
}

/// A missing-value error, with the flag that would impute it.
fn hint_impute(e: anyhow::Error, imputing: bool) -> anyhow::Error {
    let missing = e.chain().any(|c| {
        matches!(c.downcast_ref::<TabularError>(), Some(TabularError::MissingValue { .. }))
    });
    if missing && !imputing {
        anyhow!("{e:#}: pass --impute mean to replace missing values by the training mean")
    } else {
        e
    }
}

/// A short description of the features, for the summary.
fn describe_features(pre: &Preprocessor) -> String {
    const SHOWN: usize = 8;
    let mut parts: Vec<String> = pre
        .features()
        .iter()
        .take(SHOWN)
        .map(|f| match f {
            Feature::Numeric(c) => format!("{} (numeric)", c.name),
            Feature::Categorical(c) => {
                format!("{} (categorical, {} categories)", c.name, c.categories.len())
            }
        })
        .collect();
    if pre.features().len() > SHOWN {
        parts.push(format!("and {} more", pre.features().len() - SHOWN));
    }
    format!("{} -> {} inputs", parts.join(", "), pre.n_inputs())
}

fn describe_target(pre: &Preprocessor) -> String {
    match pre.target() {
        TargetEncoding::Classes { column, classes } => {
            let shown: Vec<&str> = classes.iter().take(10).map(String::as_str).collect();
            let more = if classes.len() > 10 { ", ..." } else { "" };
            format!("{column}: {} classes ({}{more})", classes.len(), shown.join(", "))
        }
        TargetEncoding::Regression { columns } => columns
            .iter()
            .map(|c| {
                format!("{} (standardized: mean {:.6}, deviation {:.6})", c.name, c.mean, c.scale)
            })
            .collect::<Vec<_>>()
            .join(", "),
        TargetEncoding::Multilabel { columns } => {
            format!("{} labels: {}", columns.len(), columns.join(", "))
        }
    }
}

fn train_as<T: StoredFloat>(args: &TrainArgs, out: &mut Out) -> Result<()> {
    let s = settings(args)?;
    let options = args.csv.options()?;
    for (path, what) in [
        (&args.save_model, "--save-model"),
        (&args.export_safetensors, "--export-safetensors"),
        (&args.export_onnx, "--export-onnx"),
        (&args.plot, "--plot"),
    ] {
        if let Some(p) = path {
            check_output(p, what)?;
        }
    }
    if let Some(p) = &args.plot {
        plot::check_extension(p)?;
    }
    let task: Task = args.task.into();
    let mut spec = TabularSpec::new(task, args.target.iter().cloned())
        .with_categorical(args.categorical.iter().cloned())
        .with_ignored(args.ignore.iter().cloned())
        .with_max_categories(args.max_categories);
    if let Some(impute) = args.impute {
        spec = spec.with_imputation(impute.into());
    }

    // The tables: a test file, or a seeded split of the training file.
    let table = read_table(&args.train, &options)?;
    let train_name = args.train.display().to_string();
    let (train_table, test_table, test_path) = match &args.test {
        Some(path) => (table, read_table(path, &options)?, path.clone()),
        None => {
            let stratify = (task == Task::Classification).then(|| args.target[0].as_str());
            let (a, b) = table
                .split(s.test_split, args.seed, stratify)
                .with_context(|| format!("{train_name}: --test-split {}", s.test_split))?;
            (a, b, args.train.clone())
        }
    };
    let hint = |e: anyhow::Error| hint_impute(e, args.impute.is_some());
    let pre =
        Preprocessor::fit(&train_table, &spec).with_context(|| train_name.clone()).map_err(hint)?;
    let train = encode::<T>(&pre, &train_table, &args.train).map_err(hint)?;
    let test = encode::<T>(&pre, &test_table, &test_path).map_err(hint)?;
    let test_desc = match &args.test {
        Some(p) => p.display().to_string(),
        None => format!(
            "{:.0} % of {train_name}, seed {}{}",
            100.0 * s.test_split,
            args.seed,
            if task == Task::Classification { ", stratified" } else { "" }
        ),
    };
    out.line(format!(
        "read {} training rows from {train_name} and {} test rows ({test_desc})",
        train_table.n_rows(),
        test_table.n_rows()
    ))?;
    out.line(format!("features: {}", describe_features(&pre)))?;
    out.line(format!("{task} of {}", describe_target(&pre)))?;
    if let TargetEncoding::Classes { column, classes } = pre.target()
        && classes.len() > 20
        && 2 * classes.len() > train_table.n_rows()
        && classes.iter().all(|c| c.parse::<f64>().is_ok())
    {
        warning(format!(
            "the target {column:?} has {} distinct numbers in {} rows: is it a regression target (--task regression)?",
            classes.len(),
            train_table.n_rows()
        ));
    }

    let (train_set, validation) = if args.val_split > 0.0 {
        let (t, v) = train.dataset.split_validation(args.val_split, args.seed)?;
        if v.n_samples() == 0 || t.n_samples() == 0 {
            bail!(
                "--val-split {} of {} training rows leaves an empty training or validation set",
                args.val_split,
                train.dataset.n_samples()
            );
        }
        (t, Some(v))
    } else {
        (train.dataset, None)
    };

    let mut builder = Network::builder(pre.n_inputs(), task.loss());
    for &n in &s.hidden {
        builder = builder.layer(n, s.activation);
    }
    let mut net: Network<T> = builder
        .layer(pre.n_outputs(), Activation::Identity)
        .build(&mut ChaCha8Rng::seed_from_u64(args.seed))?;
    let mut config = TrainConfig::new(args.batch, args.lr, s.optimizer)
        .with_epochs(args.epochs)
        .with_threads(args.threads)
        .with_shards(args.shards)
        .with_seed(args.seed);
    if let Some(patience) = args.early_stop_patience {
        config = config.with_early_stopping(EarlyStopping::new(patience));
    }
    let mut trainer = Trainer::new(&net, config)?;
    let sizes: Vec<String> = net.sizes().iter().map(ToString::to_string).collect();
    out.line(format!(
        "training {} ({}, {}, {} parameters, {}) on {} rows, {} validation; {} epochs, batches of {}, {} thread{}",
        sizes.join("-"),
        if s.hidden.is_empty() { "linear".to_owned() } else { s.activation.to_string() },
        s.optimizer.name(),
        net.n_params(),
        T::NAME,
        train_set.n_samples(),
        validation.as_ref().map_or(0, Dataset::n_samples),
        args.epochs,
        args.batch,
        args.threads,
        if args.threads == 1 { "" } else { "s" }
    ))?;

    // Per-epoch metrics on the validation set, or the test set (shown only: nothing is chosen
    // on it).
    let (monitor, monitor_name) = match &validation {
        Some(v) => (v, "val"),
        None => (&test.dataset, "test"),
    };
    let mut reporter =
        Reporter { out, total_epochs: args.epochs, monitor: monitor_name, error: None };
    let started = Instant::now();
    let fit = trainer.fit(&mut net, &train_set, Some(monitor), &mut reporter);
    if let Some(e) = reporter.error.take() {
        return Err(e);
    }
    let report = fit?;
    let seconds = started.elapsed().as_secs_f64();
    if report.stopped_early {
        out.line(format!(
            "early stop after epoch {} (best epoch {}, whose weights are kept)",
            report.epochs_completed,
            report.best_epoch.map_or(0, |e| e + 1)
        ))?;
    }
    let scores = score(&net, &pre, &test)?;

    if let Some(path) = &args.save_model {
        let mut metadata = ModelMetadata::default();
        pre.store_in(&mut metadata);
        let file_name = args.train.file_name().map(|n| n.to_string_lossy().into_owned());
        metadata.extra.insert("tabular.train_file".to_owned(), file_name.unwrap_or_default());
        nn::io::save_model(path, &net, &metadata)
            .with_context(|| format!("cannot save the model to {}", path.display()))?;
        out.line(format!("saved the model (with its preprocessing) to {}", path.display()))?;
    }
    if let Some(path) = &args.export_safetensors {
        nn::io::export_safetensors(path, &net)
            .with_context(|| format!("cannot export {}", path.display()))?;
        out.line(format!("exported the weights to {}", path.display()))?;
    }
    if let Some(path) = &args.export_onnx {
        // Everything a runtime needs to feed the model and read its outputs.
        let options = nn::io::OnnxOptions::new().with_metadata_entries(pre.metadata_entries());
        nn::io::export_onnx(path, &net, &options)
            .with_context(|| format!("cannot export {}", path.display()))?;
        out.line(format!(
            "exported the ONNX model (the preprocessing in its metadata) to {}",
            path.display()
        ))?;
    }
    if let Some(path) = &args.plot {
        charts::plot_history(path, trainer.history(), validation.is_some())?;
        out.line(format!("saved the learning curves to {}", path.display()))?;
    }
    out.line(format!("training took {seconds:.1} s"))?;
    out.line(scores.final_line())
}
