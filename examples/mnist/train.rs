//! `mnist train`: everything is checked before the first step (flags, the checkpoint resumed,
//! the outputs, the data, the memory), then the network trains, and the model, the weights and
//! the learning curves are saved.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use clap::ValueEnum;
use nn::io::{Checkpoint, CheckpointError, ModelMetadata, StoredFloat};
use nn::net::rng::{ChaCha8Rng, SeedableRng};
use nn::net::{Activation, Loss, Network};
use nn::train::{Dataset, EarlyStopping, EpochReport, RandomShift, TrainConfig, Trainer, evaluate};

use crate::args::{Precision, ScheduleName, TrainArgs};
use crate::data::{self, Classes};
use crate::distributed::{Cluster, Counters, DistFloat};
use crate::memory::{self, TrainShape};
use crate::outputs::{self, Named, RunFolder};
use crate::plot;
use crate::report::{self, Curve, Out, Reporter, TEST_CURVE_KEY, outln};
use crate::settings::{Saved, Settings, join, schedule};

/// A training checkpoint of either float type.
pub(crate) enum AnyCheckpoint {
    F32(Box<Checkpoint<f32>>),
    F64(Box<Checkpoint<f64>>),
}

#[cfg(feature = "mpi")]
impl AnyCheckpoint {
    /// The checkpoint's bytes, as `--save` writes them (the header says the float type).
    pub(crate) fn encode(&self) -> Result<Vec<u8>> {
        Ok(match self {
            AnyCheckpoint::F32(c) => nn::io::encode_checkpoint(c)?,
            AnyCheckpoint::F64(c) => nn::io::encode_checkpoint(c)?,
        })
    }

    /// The checkpoint of [`AnyCheckpoint::encode`]'s bytes.
    pub(crate) fn decode(bytes: &[u8]) -> Result<AnyCheckpoint> {
        match nn::io::decode_checkpoint::<f32>(bytes) {
            Ok(c) => Ok(AnyCheckpoint::F32(Box::new(c))),
            Err(CheckpointError::WrongPrecision { .. }) => {
                Ok(AnyCheckpoint::F64(Box::new(nn::io::decode_checkpoint::<f64>(bytes)?)))
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Training that diverged, in the program's words (see [`divergence`]): in a distributed run,
/// every rank stops with it at the same step.
#[derive(Debug)]
pub(crate) struct Diverged(String);

impl fmt::Display for Diverged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Diverged {}

pub(crate) fn run(args: &TrainArgs) -> Result<()> {
    // The flags first: in a distributed run, a bad one fails in every rank before any of them
    // talks to another (a resumed run's flags are compared with the checkpoint later).
    if args.resume.is_none() {
        Settings::fresh(args)?;
    }
    let cluster = Cluster::start(args)?;
    let result = run_in(args, &cluster);
    cluster.finish(result)
}

/// `train` in this process: alone, or one rank of a distributed run.
fn run_in(args: &TrainArgs, cluster: &Cluster) -> Result<()> {
    // Only rank 0 prints and writes files.
    let mut out = if cluster.is_root() { Out::stdout() } else { Out::silent() };
    let resumed = match &args.resume {
        // Rank 0 reads the checkpoint and sends it to the others.
        Some(path) if cluster.is_distributed() => {
            Some(cluster.share_checkpoint(cluster.is_root().then(|| load_checkpoint(path)))?)
        }
        Some(path) => Some(load_checkpoint(path)?),
        None => None,
    };
    match (resumed, args.precision.unwrap_or(Precision::F32)) {
        (Some(AnyCheckpoint::F32(c)), _) => train_as::<f32>(args, Some(*c), &mut out, cluster),
        (Some(AnyCheckpoint::F64(c)), _) => train_as::<f64>(args, Some(*c), &mut out, cluster),
        (None, Precision::F32) => train_as::<f32>(args, None, &mut out, cluster),
        (None, Precision::F64) => train_as::<f64>(args, None, &mut out, cluster),
    }
}

/// Loads the checkpoint of `--resume`, whichever float type it holds.
fn load_checkpoint(path: &Path) -> Result<AnyCheckpoint> {
    memory::check_file(path, "--resume")?;
    let error = |e: nn::io::Error| match e {
        nn::io::Error::Checkpoint { kind: CheckpointError::WrongKind { found, .. }, .. } => {
            anyhow!(
                "--resume {} is {found}: resuming needs the training checkpoint written by --save",
                path.display()
            )
        }
        other => anyhow!(other).context("--resume"),
    };
    match nn::io::load_checkpoint::<f32>(path) {
        Ok(c) => Ok(AnyCheckpoint::F32(Box::new(c))),
        Err(nn::io::Error::Checkpoint { kind: CheckpointError::WrongPrecision { .. }, .. }) => {
            let c = nn::io::load_checkpoint::<f64>(path).map_err(error)?;
            Ok(AnyCheckpoint::F64(Box::new(c)))
        }
        Err(e) => Err(error(e)),
    }
}

/// What a checkpoint says about its run.
fn saved_of<T: StoredFloat>(c: &Checkpoint<T>) -> Saved {
    let sizes = c.network.sizes();
    let hidden = sizes.get(1..sizes.len().saturating_sub(1)).unwrap_or_default().to_vec();
    let layers = c.network.layers();
    let activation = (layers.len() > 1).then(|| layers[0].activation());
    let extra = |key: &str| c.metadata.extra.get(key).map(String::as_str);
    Saved {
        hidden,
        activation,
        optimizer: c.config.optimizer,
        lr: c.config.learning_rate,
        dropout: c.config.dropout.first().copied().unwrap_or(0.0),
        batch: c.config.batch_size,
        shards: c.config.n_shards,
        seed: c.config.seed,
        precision: match T::PRECISION {
            nn::io::Precision::F32 => Precision::F32,
            nn::io::Precision::F64 => Precision::F64,
        },
        epochs: c.config.epochs,
        epochs_done: c.state.epoch,
        early_stop_patience: c.config.early_stopping.map(|e| e.patience),
        val_split: extra("val_split").and_then(|v| v.parse().ok()),
        limit_train: extra("limit_train").and_then(|v| match v {
            "all" => Some(None),
            n => n.parse().ok().map(Some),
        }),
        schedule: extra("schedule").and_then(|n| ScheduleName::from_str(n, true).ok()),
        preset: extra("preset").map(str::to_owned),
        // A checkpoint of format 3 stores both options; one of an older format stored neither,
        // and this program kept them in the metadata.
        shift: match c.config.random_shift {
            Some(shift) => shift.max_shift(),
            None => extra("shift").and_then(|v| v.parse().ok()).unwrap_or(0),
        },
        label_smoothing: if c.config.label_smoothing > 0.0 {
            c.config.label_smoothing
        } else {
            extra("label_smoothing").and_then(|v| v.parse().ok()).unwrap_or(0.0)
        },
    }
}

/// The sizes of the training data, before anything is converted.
struct Split {
    /// The first `limit` training images are used.
    limit: usize,
    n_train: usize,
    n_validation: usize,
}

/// The sizes of the training and validation sets: the first `limit_train` of `available`
/// images, of which the fraction `val_split` (rounded down) is held out.
fn split(limit_train: Option<usize>, val_split: f64, available: usize) -> Result<Split> {
    let limit = limit_train.unwrap_or(available).min(available);
    if limit == 0 {
        bail!("the data set has no training image");
    }
    // As `Dataset::split_validation` counts: the fraction of the samples, rounded down.
    let n_validation = (limit as f64 * val_split).floor() as usize;
    if val_split > 0.0 && n_validation == 0 {
        bail!(
            "--val-split {val_split} of {limit} training images leaves no validation image: pass a larger --val-split"
        );
    }
    if n_validation >= limit {
        bail!("--val-split {val_split} leaves no training image");
    }
    Ok(Split { limit, n_train: limit - n_validation, n_validation })
}

/// What a run has checked and read before it builds its network.
struct Prepared<T: StoredFloat> {
    settings: Settings,
    /// The new `runs/train-N` folder, when an output goes there (rank 0 only).
    run_folder: Option<RunFolder>,
    model_path: PathBuf,
    plot_path: PathBuf,
    classes: Classes,
    n_features: usize,
    /// Rows and columns of the images.
    image_shape: [usize; 2],
    /// The augmentation of `--shift`, checked against the images.
    random_shift: Option<RandomShift>,
    train_set: Dataset<T>,
    validation: Option<Dataset<T>>,
    test: Dataset<T>,
}

/// Everything checked before the first step: the flags (against the checkpoint when resuming),
/// the outputs (when this process `writes` them), the data, the memory; then the data as
/// numbers.
fn prepare<T: StoredFloat>(
    args: &TrainArgs,
    checkpoint: Option<&Checkpoint<T>>,
    saved: Option<&Saved>,
    out: &mut Out,
    writes: bool,
) -> Result<Prepared<T>> {
    // Flags first: a mistake there costs nothing.
    let fresh = match &saved {
        Some(_) => None,
        None => Some(Settings::fresh(args)?),
    };

    // Outputs: every path checked before any work.
    let run_folder =
        (writes && (args.save_model.is_none() || args.plot.is_none())).then(RunFolder::next);
    let in_run = |name: &str| run_folder.as_ref().map(|f| f.path.join(name)).unwrap_or_default();
    let model_path = args.save_model.clone().unwrap_or_else(|| in_run("mnist.model"));
    let plot_path = args.plot.clone().unwrap_or_else(|| in_run("training.png"));
    // Every rank checks the flag; only rank 0 has a default path.
    if writes || args.plot.is_some() {
        plot::check_extension(&plot_path).context("--plot")?;
    }
    let mut outputs =
        vec![Named::new("--save-model", &model_path), Named::new("--plot", &plot_path)];
    outputs.extend(args.save.iter().map(|p| Named::new("--save", p)));
    outputs.extend(args.export_safetensors.iter().map(|p| Named::new("--export-safetensors", p)));
    outputs.extend(args.export_onnx.iter().map(|p| Named::new("--export-onnx", p)));
    let mut inputs = outputs::data_files(&args.data.data);
    inputs.extend(args.resume.iter().map(|p| Named::new("--resume", p)));
    inputs.extend(args.data.classes.iter().map(|p| Named::new("--classes", p)));
    if writes {
        outputs::check(&outputs, run_folder.as_ref(), &inputs, &[("--save", "--resume")])?;
    }

    // The data, and the classes it has.
    let raw = data::load(&args.data)?;
    let classes = data::classes_for_training(&args.data, &raw, out)?;
    let n_features = raw.train.n_features();
    let image_shape = [raw.train.n_rows(), raw.train.n_cols()];
    let (mut settings, split) = match (saved, fresh) {
        (Some(saved), _) => {
            // The training set's size follows the checkpoint's limit and split.
            let (limit, val_split) = saved.data_split(args);
            let split = split(limit, val_split, raw.train.n_samples())?;
            (Settings::resumed(args, saved, split.n_train)?, split)
        }
        (None, Some(fresh)) => {
            let split = split(fresh.limit_train, fresh.val_split, raw.train.n_samples())?;
            (fresh, split)
        }
        (None, None) => bail!("no settings"),
    };
    if let Some(c) = checkpoint {
        check_resumable(&c.network, n_features, &classes)?;
    }
    if let Some(asked) = settings.cap_batch(split.n_train) {
        outln!(
            out,
            "batch {} (--batch {asked} is more than the {} training images)",
            settings.batch,
            split.n_train
        )?;
    }
    let mut sizes = vec![n_features];
    sizes.extend(&settings.hidden);
    sizes.push(classes.n());
    check_layers(&sizes)?;
    let estimate = memory::training(&TrainShape {
        sizes: &sizes,
        value_bytes: std::mem::size_of::<T>() as u64,
        optimizer: &settings.optimizer,
        shards: settings.shards,
        batch: settings.batch,
        dropout: settings.dropout > 0.0,
        early_stopping: settings.early_stop_patience.is_some(),
        checkpoints: args.save.is_some(),
        n_train: split.n_train,
        n_validation: split.n_validation,
        n_test: raw.test.n_samples(),
        raw_bytes: (raw.train.pixels().len() + raw.test.pixels().len()) as u64,
    });
    memory::check(
        &estimate,
        settings.shards,
        &format!("training {} in {}", join(&sizes).replace(',', "-"), T::NAME),
        if T::PRECISION == nn::io::Precision::F64 {
            "use smaller or fewer --hidden layers, fewer --shards, a smaller --batch, or --precision f32"
        } else {
            "use smaller or fewer --hidden layers, fewer --shards or a smaller --batch"
        },
    )?;

    let random_shift = match checkpoint.and_then(|c| c.config.random_shift) {
        // The checkpoint's shifts, of the images it was trained on.
        Some(shift) => Some(check_saved_shift(shift, image_shape)?),
        None => random_shift(settings.shift, image_shape)?,
    };

    // The data as numbers.
    let train_full = data::to_dataset::<T>(&raw.train, split.limit, classes.n())?;
    let test = data::to_dataset::<T>(&raw.test, raw.test.n_samples(), classes.n())?;
    drop(raw);
    let (train_set, validation) = if split.n_validation > 0 {
        let (t, v) = train_full.split_validation(settings.val_split, settings.seed)?;
        (t, Some(v))
    } else {
        (train_full, None)
    };
    Ok(Prepared {
        settings,
        run_folder,
        model_path,
        plot_path,
        classes,
        n_features,
        image_shape,
        random_shift,
        train_set,
        validation,
        test,
    })
}

fn train_as<T: StoredFloat + DistFloat>(
    args: &TrainArgs,
    checkpoint: Option<Checkpoint<T>>,
    out: &mut Out,
    cluster: &Cluster,
) -> Result<()> {
    let saved = checkpoint.as_ref().map(saved_of);
    let local = prepare(args, checkpoint.as_ref(), saved.as_ref(), out, cluster.is_root());
    // In a distributed run, the ranks compare their flags and data here.
    let Prepared {
        settings,
        mut run_folder,
        model_path,
        plot_path,
        classes,
        n_features,
        image_shape,
        random_shift,
        train_set,
        validation,
        test,
    } = cluster.agree(args, local, |p: &Prepared<T>| {
        ([&p.train_set, &p.test], format!("images {}x{}", p.image_shape[0], p.image_shape[1]))
    })?;
    let steps_per_epoch = train_set.n_samples().div_ceil(settings.batch);

    let test_curve = checkpoint
        .as_ref()
        .and_then(|c| c.metadata.extra.get(TEST_CURVE_KEY))
        .map(|t| report::decode_curve(t))
        .unwrap_or_default();
    let metadata = ModelMetadata {
        class_names: classes.names.clone(),
        extra: BTreeMap::from([
            ("data".to_owned(), args.data.data.display().to_string()),
            ("preset".to_owned(), settings.preset.clone()),
            (
                "limit_train".to_owned(),
                settings.limit_train.map_or("all".to_owned(), |n| n.to_string()),
            ),
            ("val_split".to_owned(), settings.val_split.to_string()),
            ("schedule".to_owned(), settings.schedule.name()),
            ("shift".to_owned(), settings.shift.to_string()),
            ("label_smoothing".to_owned(), settings.label_smoothing.to_string()),
        ]),
    };
    let (mut net, trainer) = match checkpoint {
        Some(c) => {
            let mut config = c.config;
            config.epochs = settings.epochs;
            config.n_threads = settings.threads;
            // The schedule is rebuilt for the (possibly longer) run, exactly as a run started
            // with this many epochs would have built it.
            config.schedule = schedule(settings.schedule, settings.epochs, steps_per_epoch);
            // A checkpoint of format 3 holds its random shifts and label smoothing, in its
            // configuration and its state, and the trainer continues with them. One of an older
            // format held neither (they load as off): they come back from its metadata, into
            // the state, from which the trainer takes them.
            let mut state = c.state;
            state.random_shift = random_shift;
            state.label_smoothing = settings.label_smoothing;
            let trainer = Trainer::resume(&c.network, config, state)?;
            (c.network, trainer)
        }
        None => {
            let mut builder = Network::builder(n_features, Loss::SoftmaxCrossEntropy);
            for &n in &settings.hidden {
                builder = builder.layer(n, settings.activation);
            }
            let net: Network<T> = builder
                .layer(classes.n(), Activation::Identity)
                .build(&mut ChaCha8Rng::seed_from_u64(settings.seed))?;
            let mut config = TrainConfig::new(settings.batch, settings.lr, settings.optimizer)
                .with_epochs(settings.epochs)
                .with_threads(settings.threads)
                .with_shards(settings.shards)
                .with_seed(settings.seed)
                .with_schedule(schedule(settings.schedule, settings.epochs, steps_per_epoch));
            if settings.dropout > 0.0 {
                config = config.with_dropout(settings.dropout);
            }
            if let Some(patience) = settings.early_stop_patience {
                config = config.with_early_stopping(EarlyStopping::new(patience));
            }
            if settings.label_smoothing > 0.0 {
                config = config.with_label_smoothing(settings.label_smoothing);
            }
            if let Some(shift) = random_shift {
                config = config.with_random_shift(shift);
            }
            let trainer = Trainer::new(&net, config)?;
            (net, trainer)
        }
    };
    // In a distributed run: rank 0's parameters everywhere, and the gradients summed over the
    // ranks.
    let (trainer, counters) = cluster.attach(&mut net, trainer)?;

    let processes = if cluster.is_distributed() {
        format!("{} processes of {} threads", cluster.size(), settings.threads)
    } else {
        format!("{} threads", settings.threads)
    };
    outln!(
        out,
        "training {} ({}, {} parameters, {}) on {} samples, {} validation, {} test; {processes}",
        join(&net.sizes()).replace(',', "-"),
        settings.activation,
        net.n_params(),
        T::NAME,
        train_set.n_samples(),
        validation.as_ref().map_or(0, nn::train::Dataset::n_samples),
        test.n_samples(),
    )?;
    if trainer.epoch() > 0 {
        outln!(out, "resumed after epoch {} of {}", trainer.epoch(), trainer.config().epochs)?;
    }
    if let Some(folder) = run_folder.as_mut() {
        folder.create()?;
    }
    let announced = match &run_folder {
        Some(folder) => outln!(out, "outputs go to {}", folder.path.display()),
        None => Ok(()),
    };
    let result = announced.map_err(anyhow::Error::from).and_then(|()| {
        train_and_save(TrainRun {
            out,
            args,
            settings: &settings,
            net: &mut net,
            trainer,
            train_set: &train_set,
            validation: validation.as_ref(),
            test: &test,
            metadata,
            test_curve,
            model_path: &model_path,
            plot_path: &plot_path,
            image_shape,
            cluster,
            counters,
        })
    });
    if result.is_err()
        && let Some(folder) = &run_folder
    {
        // A run that failed leaves no empty folder behind (what it saved stays).
        folder.remove_if_empty();
    }
    result
}

/// The checkpoint's network must fit the data: as many inputs as pixels, as many outputs as
/// classes (checked before training, not after an epoch).
fn check_resumable<T: StoredFloat>(
    net: &Network<T>,
    n_features: usize,
    classes: &Classes,
) -> Result<()> {
    if net.n_inputs() != n_features {
        bail!(
            "--resume: the checkpoint's network takes {} inputs, but the images of --data have {n_features} pixels: resume on the data it was trained on",
            net.n_inputs()
        );
    }
    if net.n_outputs() != classes.n() {
        bail!(
            "--resume: the checkpoint's network has {} classes, but the data set has {}: resume on the data it was trained on (or pass the same --classes)",
            net.n_outputs(),
            classes.n()
        );
    }
    Ok(())
}

/// The random shifts stored in a checkpoint, which must be of images of `[rows, cols]` pixels
/// (the network's inputs are checked before: only the shape can differ).
fn check_saved_shift(shift: RandomShift, [rows, cols]: [usize; 2]) -> Result<RandomShift> {
    if [shift.height(), shift.width()] != [rows, cols] {
        bail!(
            "--resume: the checkpoint shifts images of {} × {} pixels, but the images of --data are {rows} × {cols}: resume on the data it was trained on",
            shift.height(),
            shift.width()
        );
    }
    Ok(shift)
}

/// The augmentation of `--shift` for images of `[rows, cols]` pixels (none for 0), refused in
/// the flag's words when the images are too small for it.
fn random_shift(max_shift: usize, [rows, cols]: [usize; 2]) -> Result<Option<RandomShift>> {
    if max_shift == 0 {
        return Ok(None);
    }
    match RandomShift::new(rows, cols, max_shift) {
        Ok(shift) => Ok(Some(shift)),
        Err(_) => bail!(
            "--shift {max_shift}: the images are {rows} × {cols} pixels: pass a --shift below {}",
            rows.min(cols)
        ),
    }
}

/// Refuses layers that nn-core would refuse, with the flag's words.
fn check_layers(sizes: &[usize]) -> Result<()> {
    for (l, pair) in sizes.windows(2).enumerate() {
        let params = (pair[0] as u128 + 1) * pair[1] as u128;
        if params > nn::net::MAX_LAYER_PARAMS as u128 {
            bail!(
                "--hidden: layer {} ({} × {}) would have {params} parameters, more than the {} a layer can have: use smaller --hidden layers",
                l + 1,
                pair[0],
                pair[1],
                nn::net::MAX_LAYER_PARAMS
            );
        }
    }
    Ok(())
}

/// What [`train_and_save`] works on.
struct TrainRun<'a, T: StoredFloat> {
    out: &'a mut Out,
    args: &'a TrainArgs,
    settings: &'a Settings,
    net: &'a mut Network<T>,
    trainer: Trainer<T>,
    train_set: &'a nn::train::Dataset<T>,
    validation: Option<&'a nn::train::Dataset<T>>,
    test: &'a nn::train::Dataset<T>,
    metadata: ModelMetadata,
    test_curve: Curve,
    model_path: &'a Path,
    plot_path: &'a Path,
    /// Rows and columns of the images (for the ONNX export's metadata).
    image_shape: [usize; 2],
    cluster: &'a Cluster,
    counters: Counters,
}

fn train_and_save<T: StoredFloat>(run: TrainRun<'_, T>) -> Result<()> {
    let root = run.cluster.is_root();
    let TrainRun { out, args, settings, net, mut trainer, train_set, validation, test, .. } = run;
    let total_epochs = trainer.config().epochs;
    // Every rank of a distributed run measures the test set after each epoch (so that they stay
    // in step); only rank 0 prints (the others' `out` is silent), draws the bar and writes
    // checkpoints.
    let mut reporter = Reporter {
        out,
        bar: if root { report::progress_bar() } else { indicatif::ProgressBar::hidden() },
        total_epochs,
        checkpoint: if root { args.save.as_deref() } else { None },
        metadata: run.metadata,
        // Without a validation set, the test set is measured after each epoch, for display.
        test: validation.is_none().then_some(test),
        test_curve: run.test_curve,
        error: None,
    };
    let started = Instant::now();
    let fit = trainer.fit(net, train_set, validation, &mut reporter);
    reporter.bar.finish_and_clear();
    if let Some(e) = reporter.error.take() {
        return Err(e);
    }
    let report = fit.map_err(|e| divergence(e, settings, train_set.n_samples()))?;
    let seconds = started.elapsed().as_secs_f64();
    let Reporter { out, metadata, test_curve, .. } = reporter;
    run.cluster.report(&run.counters, out)?;
    if !root {
        return Ok(());
    }
    if report.stopped_early {
        outln!(
            out,
            "early stop after epoch {} (best epoch {})",
            report.epochs_completed,
            report.best_epoch.map_or(0, |e| e + 1)
        )?;
    }
    let history: Vec<EpochReport> = trainer.history().to_vec();
    // The gradients and the optimizer's state are not needed any more: free them before saving
    // (the memory estimate counts on it).
    drop(trainer);
    let test_eval = evaluate(net, test, 1000)?;
    nn::io::save_model(run.model_path, net, &metadata).context("--save-model")?;
    outln!(out, "saved the model to {}", run.model_path.display())?;
    if let Some(path) = &args.export_safetensors {
        nn::io::export_safetensors(path, net).context("--export-safetensors")?;
        outln!(out, "exported the weights to {}", path.display())?;
    }
    if let Some(path) = &args.export_onnx {
        // What a runtime must do to an image before the model: travels in the file's metadata.
        let [rows, cols] = run.image_shape;
        let options = nn::io::OnnxOptions::new()
            .with_metadata("preprocessing", "pixel / 255")
            .with_metadata("image_shape", format!("{rows}x{cols}"))
            .with_metadata(
                "input",
                format!(
                    "a {rows}x{cols} grayscale image, row-major: input[r * {cols} + c] = pixel(r, c) / 255"
                ),
            )
            .with_metadata("class_names", serde_json::to_string(&metadata.class_names)?)
            .with_metadata_entries(metadata.extra.clone());
        nn::io::export_onnx(path, net, &options).context("--export-onnx")?;
        outln!(out, "exported the ONNX model to {}", path.display())?;
    }
    plot_history(run.plot_path, &history, validation.is_some(), &test_curve)?;
    outln!(out, "saved the learning curves to {}", run.plot_path.display())?;
    outln!(out, "training took {seconds:.1} s")?;
    outln!(
        out,
        "test_accuracy={:.4} test_loss={:.4}",
        test_eval.accuracy.unwrap_or(f64::NAN),
        test_eval.loss
    )?;
    out.flush()?;
    Ok(())
}

/// Divergence in the program's words (epochs and batches counted from 1, the flag to change);
/// other errors as they are.
fn divergence(e: nn::train::Error, settings: &Settings, n_train: usize) -> anyhow::Error {
    match e {
        nn::train::Error::NonFiniteLoss { epoch, batch_idx, what } => {
            anyhow::Error::new(Diverged(format!(
                "training diverged at epoch {}, batch {} of {}: the {what} is not finite: train again with a smaller --lr than {}",
                epoch + 1,
                batch_idx + 1,
                n_train.div_ceil(settings.batch.max(1)),
                crate::report::number(settings.lr)
            )))
        }
        other => anyhow!(other),
    }
}

fn plot_history(
    path: &Path,
    history: &[EpochReport],
    has_validation: bool,
    test_curve: &Curve,
) -> Result<()> {
    let series = |name: &str, f: &dyn Fn(&EpochReport) -> Option<f64>| plot::Series {
        name: name.to_owned(),
        points: history.iter().filter_map(|h| f(h).map(|v| ((h.epoch + 1) as f64, v))).collect(),
    };
    let measured = |accuracy: bool| -> plot::Series {
        if has_validation {
            series("validation", &|h| {
                h.validation.as_ref().and_then(|v| if accuracy { v.accuracy } else { Some(v.loss) })
            })
        } else {
            plot::Series {
                name: "test".to_owned(),
                points: test_curve
                    .iter()
                    .filter_map(|&(e, l, a)| {
                        (if accuracy { a } else { Some(l) }).map(|v| (e as f64, v))
                    })
                    .collect(),
            }
        }
    };
    let charts = [
        plot::LineChart {
            title: "loss".to_owned(),
            x_label: "epoch".to_owned(),
            y_label: "loss".to_owned(),
            series: vec![series("train", &|h| Some(h.train_loss)), measured(false)],
        },
        plot::LineChart {
            title: "accuracy".to_owned(),
            x_label: "epoch".to_owned(),
            y_label: "accuracy".to_owned(),
            series: vec![series("train", &|h| h.train_accuracy), measured(true)],
        },
    ];
    plot::save_line_charts(path, &charts).context("--plot")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_layers_are_refused_with_the_flag_name() {
        check_layers(&[784, 512, 256, 10]).unwrap();
        let msg = check_layers(&[784, 100_000, 100_000, 10]).unwrap_err().to_string();
        assert!(msg.starts_with("--hidden: layer 2 (100000 × 100000)"), "{msg}");
    }

    #[test]
    fn shifts_too_large_for_the_images_are_refused_with_the_flag_name() {
        assert_eq!(random_shift(0, [28, 28]).unwrap(), None);
        let shift = random_shift(2, [28, 20]).unwrap().unwrap();
        assert_eq!((shift.height(), shift.width(), shift.max_shift()), (28, 20, 2));
        let msg = random_shift(20, [28, 20]).unwrap_err().to_string();
        assert_eq!(msg, "--shift 20: the images are 28 × 20 pixels: pass a --shift below 20");
    }

    /// A checkpoint of a run on 3 × 4 images with `config`'s options and `extra` metadata.
    fn checkpoint(config: TrainConfig, extra: &[(&str, &str)]) -> Checkpoint<f32> {
        let net: Network<f32> = Network::builder(12, Loss::SoftmaxCrossEntropy)
            .layer(3, Activation::Identity)
            .build(&mut ChaCha8Rng::seed_from_u64(0))
            .unwrap();
        let trainer = Trainer::new(&net, config).unwrap();
        let extra = extra.iter().map(|&(k, v)| (k.to_owned(), v.to_owned())).collect();
        Checkpoint::of(&net, &trainer, ModelMetadata { class_names: vec![], extra })
    }

    #[test]
    fn a_checkpoint_s_stored_options_are_its_settings_and_older_ones_come_from_the_metadata() {
        let base = TrainConfig::new(8, 0.1, nn::train::optim::OptimizerConfig::adam());
        let shift = RandomShift::new(3, 4, 2).unwrap();
        // Format 3: stored in the configuration, whatever the metadata says (nothing here).
        let stored =
            checkpoint(base.clone().with_random_shift(shift).with_label_smoothing(0.1), &[]);
        let saved = saved_of(&stored);
        assert_eq!((saved.shift, saved.label_smoothing), (2, 0.1));
        // As this program writes it: the metadata agrees.
        let both = [("shift", "2"), ("label_smoothing", "0.1")];
        let agreeing =
            checkpoint(base.clone().with_random_shift(shift).with_label_smoothing(0.1), &both);
        assert_eq!(saved_of(&agreeing), saved);
        // Older formats loaded without them: the metadata has them.
        let older = saved_of(&checkpoint(base.clone(), &both));
        assert_eq!((older.shift, older.label_smoothing), (2, 0.1));
        let neither = saved_of(&checkpoint(base, &[]));
        assert_eq!((neither.shift, neither.label_smoothing), (0, 0.0));
    }

    #[test]
    fn a_stored_shift_of_other_images_is_refused() {
        let shift = RandomShift::new(28, 28, 2).unwrap();
        assert_eq!(check_saved_shift(shift, [28, 28]).unwrap(), shift);
        let msg = check_saved_shift(shift, [14, 56]).unwrap_err().to_string();
        assert_eq!(
            msg,
            "--resume: the checkpoint shifts images of 28 × 28 pixels, but the images of --data are 14 × 56: resume on the data it was trained on"
        );
    }

    #[test]
    fn divergence_counts_from_1_and_names_the_flag() {
        let settings = Settings::fresh(&match <crate::args::Cli as clap::Parser>::try_parse_from([
            "mnist", "train", "--lr", "1e6",
        ])
        .unwrap()
        .command
        {
            crate::args::Command::Train(a) => *a,
            _ => unreachable!(),
        })
        .unwrap();
        let e = nn::train::Error::NonFiniteLoss { epoch: 2, batch_idx: 0, what: "loss" };
        let msg = divergence(e, &settings, 3000).to_string();
        assert_eq!(
            msg,
            "training diverged at epoch 3, batch 1 of 24: the loss is not finite: train again with a smaller --lr than 1e6"
        );
    }
}
