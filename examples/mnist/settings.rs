//! The settings of a training run: a preset's values overridden by the flags given, or, with
//! `--resume`, the checkpoint's values, which flags may restate but not contradict.

use anyhow::{Result, bail};
use nn::net::Activation;
use nn::train::optim::OptimizerConfig;
use nn::train::schedule::Schedule;

use crate::args::{Precision, ScheduleName, TrainArgs};
use crate::presets;

/// Everything that defines a training run (outputs and data folder aside).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Settings {
    pub(crate) preset: String,
    pub(crate) hidden: Vec<usize>,
    pub(crate) activation: Activation,
    pub(crate) optimizer: OptimizerConfig,
    pub(crate) lr: f64,
    pub(crate) dropout: f64,
    pub(crate) label_smoothing: f64,
    pub(crate) schedule: ScheduleName,
    pub(crate) epochs: usize,
    pub(crate) batch: usize,
    /// The largest random shift of the training images (0: none).
    pub(crate) shift: usize,
    pub(crate) threads: usize,
    pub(crate) shards: usize,
    pub(crate) seed: u64,
    pub(crate) precision: Precision,
    pub(crate) val_split: f64,
    pub(crate) early_stop_patience: Option<usize>,
    pub(crate) limit_train: Option<usize>,
}

impl Settings {
    /// A new run: the preset's values, overridden by the flags given.
    pub(crate) fn fresh(args: &TrainArgs) -> Result<Settings> {
        let preset = presets::get(&args.preset);
        let mut optimizer = match args.optimizer {
            Some(o) => o,
            None => preset_optimizer(preset)?,
        };
        if let Some(m) = args.momentum {
            optimizer = optimizer.with_momentum(m).ok_or_else(|| {
                anyhow::anyhow!(
                    "--momentum applies to sgd and rmsprop, not {}: pass --optimizer sgd or rmsprop, or drop --momentum",
                    optimizer.name()
                )
            })?;
        }
        if let Some(wd) = args.weight_decay {
            optimizer = optimizer.with_weight_decay(wd);
        }
        let val_split = args.val_split.unwrap_or(0.0);
        if args.early_stop_patience.is_some() && val_split <= 0.0 {
            bail!("--early-stop-patience needs a validation set: pass --val-split (e.g. 0.1)");
        }
        Ok(Settings {
            preset: preset.name.to_owned(),
            hidden: args.hidden.clone().unwrap_or_else(|| preset.hidden.to_vec()),
            activation: args.activation.unwrap_or(preset.activation),
            optimizer,
            lr: args.lr.unwrap_or(preset.lr),
            dropout: args.dropout.unwrap_or(preset.dropout),
            label_smoothing: args.label_smoothing.unwrap_or(preset.label_smoothing),
            schedule: args.schedule.unwrap_or(preset.schedule),
            epochs: args.epochs.unwrap_or(preset.epochs),
            batch: args.batch.unwrap_or(preset.batch),
            shift: args.shift.unwrap_or(preset.shift),
            threads: args.threads.unwrap_or(presets::THREADS),
            shards: args.shards.unwrap_or(presets::SHARDS),
            seed: args.seed.unwrap_or(presets::SEED),
            precision: args.precision.unwrap_or(Precision::F32),
            val_split,
            early_stop_patience: args.early_stop_patience,
            limit_train: args.limit_train,
        })
    }

    /// A resumed run: the checkpoint's settings. Each flag given must agree with them, except
    /// those that may change ([`MAY_CHANGE`]); `--epochs` must be above the epochs done.
    /// `n_train` is the size of the training set the run uses (a batch larger than it was
    /// reduced to it, so `--batch` of the original command line agrees).
    pub(crate) fn resumed(args: &TrainArgs, saved: &Saved, n_train: usize) -> Result<Settings> {
        let mut contradictions = Vec::new();
        let mut check = |flag: &str, given: Option<String>, saved: String| {
            if let Some(given) = given
                && given != saved
            {
                contradictions.push(format!("{flag} {given} (the checkpoint has {saved})"));
            }
        };
        let show = crate::report::number;
        check("--hidden", args.hidden.as_ref().map(|h| join(h)), join(&saved.hidden));
        check(
            "--activation",
            args.activation.map(|a| a.to_string()),
            saved.activation.map_or_else(|| "none".to_owned(), |a| a.to_string()),
        );
        check(
            "--optimizer",
            args.optimizer.map(|o| o.name().to_owned()),
            saved.optimizer.name().to_owned(),
        );
        check("--lr", args.lr.map(show), show(saved.lr));
        check("--momentum", args.momentum.map(show), show(momentum(&saved.optimizer)));
        check("--weight-decay", args.weight_decay.map(show), show(saved.optimizer.weight_decay()));
        check("--dropout", args.dropout.map(show), show(saved.dropout));
        check("--label-smoothing", args.label_smoothing.map(show), show(saved.label_smoothing));
        check("--batch", args.batch.map(|b| b.min(n_train).to_string()), saved.batch.to_string());
        check("--shards", args.shards.map(|s| s.to_string()), saved.shards.to_string());
        check("--seed", args.seed.map(|s| s.to_string()), saved.seed.to_string());
        check(
            "--precision",
            args.precision.map(|p| precision_name(p).to_owned()),
            precision_name(saved.precision).to_owned(),
        );
        check(
            "--early-stop-patience",
            args.early_stop_patience.map(|p| p.to_string()),
            saved.early_stop_patience.map_or_else(|| "none".to_owned(), |p| p.to_string()),
        );
        if let Some(v) = saved.val_split {
            check("--val-split", args.val_split.map(show), show(v));
        }
        if let Some(limit) = saved.limit_train {
            check(
                "--limit-train",
                args.limit_train.map(|n| n.to_string()),
                limit.map_or_else(|| "all".to_owned(), |n| n.to_string()),
            );
        }
        if let Some(s) = saved.schedule {
            check("--schedule", args.schedule.map(ScheduleName::name), s.name());
        }
        check("--shift", args.shift.map(|s| s.to_string()), saved.shift.to_string());
        if let Some(p) = &saved.preset {
            // `--preset` has a default: only a different name contradicts.
            if args.preset != *p && args.preset != presets::DEFAULT {
                contradictions.push(format!("--preset {} (the checkpoint has {p})", args.preset));
            }
        }
        if !contradictions.is_empty() {
            bail!(
                "--resume: {} contradict{} the checkpoint: drop {} (on resume only {MAY_CHANGE} may differ)",
                contradictions.join(", "),
                if contradictions.len() == 1 { "s" } else { "" },
                if contradictions.len() == 1 { "it" } else { "them" },
            );
        }
        let epochs = args.epochs.unwrap_or(saved.epochs);
        if epochs <= saved.epochs_done {
            let done = saved.epochs_done;
            match args.epochs {
                Some(_) => bail!(
                    "--resume: the checkpoint has already trained {} and --epochs is {epochs}: pass --epochs {} or more to train further",
                    crate::report::epochs(done),
                    done + 1
                ),
                None => bail!(
                    "--resume: the checkpoint has already trained all of its {}: pass --epochs {} or more to train further",
                    crate::report::epochs(done),
                    done + 1
                ),
            }
        }
        Ok(Settings {
            preset: saved.preset.clone().unwrap_or_else(|| args.preset.clone()),
            hidden: saved.hidden.clone(),
            activation: saved.activation.unwrap_or(Activation::Identity),
            optimizer: saved.optimizer,
            lr: saved.lr,
            dropout: saved.dropout,
            label_smoothing: saved.label_smoothing,
            schedule: saved.schedule.or(args.schedule).unwrap_or(ScheduleName::Constant),
            epochs,
            batch: saved.batch,
            shift: saved.shift,
            threads: args.threads.unwrap_or(presets::THREADS),
            shards: saved.shards,
            seed: saved.seed,
            precision: saved.precision,
            val_split: saved.data_split(args).1,
            early_stop_patience: saved.early_stop_patience,
            limit_train: saved.data_split(args).0,
        })
    }

    /// Reduces the batch to the training set's size; returns the size asked for if it did.
    pub(crate) fn cap_batch(&mut self, n_train: usize) -> Option<usize> {
        let asked = self.batch;
        self.batch = asked.min(n_train.max(1));
        (self.batch != asked).then_some(asked)
    }
}

/// The flags that may differ from the checkpoint's run on `--resume`.
pub(crate) const MAY_CHANGE: &str = "--epochs, --threads, --data, --classes, --save, --save-model, --plot, --export-safetensors and --export-onnx";

/// What a checkpoint says about the run that wrote it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Saved {
    pub(crate) hidden: Vec<usize>,
    /// The activation of the hidden layers (`None` without hidden layers).
    pub(crate) activation: Option<Activation>,
    pub(crate) optimizer: OptimizerConfig,
    pub(crate) lr: f64,
    pub(crate) dropout: f64,
    pub(crate) batch: usize,
    pub(crate) shards: usize,
    pub(crate) seed: u64,
    pub(crate) precision: Precision,
    /// The epochs the run was started for.
    pub(crate) epochs: usize,
    pub(crate) epochs_done: usize,
    pub(crate) early_stop_patience: Option<usize>,
    /// From the metadata (`None` if the checkpoint does not say).
    pub(crate) val_split: Option<f64>,
    /// From the metadata: `Some(None)` for all the samples, `None` if the checkpoint does not say.
    pub(crate) limit_train: Option<Option<usize>>,
    pub(crate) schedule: Option<ScheduleName>,
    pub(crate) preset: Option<String>,
    /// From the metadata (0 if the checkpoint does not say: it was written before `--shift`).
    pub(crate) shift: usize,
    /// From the metadata (0 if the checkpoint does not say).
    pub(crate) label_smoothing: f64,
}

impl Saved {
    /// The training images used (`None`: all) and the validation fraction: the checkpoint's,
    /// or the flags' for a checkpoint that does not say.
    pub(crate) fn data_split(&self, args: &TrainArgs) -> (Option<usize>, f64) {
        let limit = self.limit_train.unwrap_or(args.limit_train);
        (limit, self.val_split.or(args.val_split).unwrap_or(0.0))
    }
}

/// The preset's optimizer with the preset's weight decay and momentum.
fn preset_optimizer(preset: &presets::Preset) -> Result<OptimizerConfig> {
    let optimizer =
        OptimizerConfig::from_name(preset.optimizer)?.with_weight_decay(preset.weight_decay);
    Ok(optimizer.with_momentum(preset.momentum).unwrap_or(optimizer))
}

/// The momentum of sgd and rmsprop, 0 for the others.
pub(crate) fn momentum(optimizer: &OptimizerConfig) -> f64 {
    optimizer.momentum().unwrap_or(0.0)
}

pub(crate) fn precision_name(p: Precision) -> &'static str {
    match p {
        Precision::F32 => "f32",
        Precision::F64 => "f64",
    }
}

pub(crate) fn join(sizes: &[usize]) -> String {
    sizes.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
}

/// The schedule called `name`, for a run of `epochs` epochs of `steps_per_epoch` steps.
pub(crate) fn schedule(name: ScheduleName, epochs: usize, steps_per_epoch: usize) -> Schedule {
    match name {
        ScheduleName::Constant => Schedule::Constant,
        ScheduleName::Step => Schedule::Step { step_epochs: (epochs / 3).max(1), gamma: 0.1 },
        ScheduleName::Exponential => Schedule::Exponential { gamma: 0.9 },
        ScheduleName::Cosine => Schedule::Cosine { t_max_epochs: epochs, eta_min: 0.0 },
        ScheduleName::OneCycle => Schedule::one_cycle(epochs * steps_per_epoch),
        ScheduleName::InvScaling => Schedule::InverseScaling { power_t: 0.5 },
        ScheduleName::Plateau => Schedule::reduce_on_plateau(),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::args::{Cli, Command};

    fn train_args(flags: &[&str]) -> TrainArgs {
        let argv = ["mnist", "train"].into_iter().chain(flags.iter().copied());
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Train(args) => *args,
            other => panic!("{other:?}"),
        }
    }

    fn saved() -> Saved {
        Saved {
            hidden: vec![512, 256],
            activation: Some(Activation::Relu),
            optimizer: OptimizerConfig::adamw().with_weight_decay(1e-4).into(),
            lr: 1e-3,
            dropout: 0.1,
            batch: 128,
            shards: 2,
            seed: 0,
            precision: Precision::F32,
            epochs: 15,
            epochs_done: 3,
            early_stop_patience: None,
            val_split: Some(0.0),
            limit_train: Some(Some(6000)),
            schedule: Some(ScheduleName::Cosine),
            preset: Some("default".to_owned()),
            shift: 0,
            label_smoothing: 0.0,
        }
    }

    #[test]
    fn flags_override_the_preset() {
        let s = Settings::fresh(&train_args(&[])).unwrap();
        assert_eq!((s.hidden.as_slice(), s.epochs, s.batch), (&[512, 256][..], 15, 128));
        assert_eq!(s.optimizer, OptimizerConfig::adamw().with_weight_decay(1e-4).into());
        let s = Settings::fresh(&train_args(&["--preset", "strong", "--epochs", "2"])).unwrap();
        assert_eq!((s.hidden.as_slice(), s.epochs, s.dropout), (&[1024, 512][..], 2, 0.3));
        let s = Settings::fresh(&train_args(&["--preset", "fast"])).unwrap();
        assert_eq!((s.hidden.as_slice(), s.epochs, s.batch), (&[512, 256][..], 32, 256));
        assert_eq!(
            (s.activation, s.lr, s.dropout, s.label_smoothing),
            (Activation::Silu, 2e-3, 0.2, 0.1)
        );
        assert_eq!((s.schedule, s.shift), (ScheduleName::OneCycle, 0));
        assert_eq!(s.optimizer, OptimizerConfig::adamw().with_weight_decay(0.05).into());
        let s =
            Settings::fresh(&train_args(&["--preset", "fast", "--label-smoothing", "0"])).unwrap();
        assert_eq!(s.label_smoothing, 0.0);
        let s = Settings::fresh(&train_args(&["--optimizer", "sgd", "--momentum", "0.9"])).unwrap();
        assert_eq!(s.optimizer, OptimizerConfig::sgd().with_momentum(0.9).into());
        let err = Settings::fresh(&train_args(&["--momentum", "0.9"])).unwrap_err();
        assert!(err.to_string().contains("--momentum applies to sgd and rmsprop, not adamw"));
        let err = Settings::fresh(&train_args(&["--early-stop-patience", "2"])).unwrap_err();
        assert!(err.to_string().contains("needs a validation set"));
    }

    #[test]
    fn flags_that_restate_the_checkpoint_are_accepted() {
        let args = train_args(&[
            "--hidden",
            "512,256",
            "--lr",
            "0.001",
            "--batch",
            "128",
            "--seed",
            "0",
            "--epochs",
            "20",
            "--threads",
            "1",
            "--limit-train",
            "6000",
        ]);
        let s = Settings::resumed(&args, &saved(), 6000).unwrap();
        assert_eq!((s.epochs, s.threads, s.batch, s.limit_train), (20, 1, 128, Some(6000)));
        // A batch that was reduced to the training set's size agrees with the one asked for.
        let mut small = saved();
        small.batch = 100;
        let args = train_args(&["--batch", "1000000"]);
        assert_eq!(Settings::resumed(&args, &small, 100).unwrap().batch, 100);
    }

    #[test]
    fn flags_that_contradict_the_checkpoint_are_named() {
        let args = train_args(&[
            "--hidden",
            "100",
            "--lr",
            "1e6",
            "--optimizer",
            "sgd",
            "--batch",
            "7",
            "--seed",
            "5",
            "--activation",
            "tanh",
            "--precision",
            "f64",
            "--shift",
            "1",
            "--label-smoothing",
            "0.1",
        ]);
        let msg = Settings::resumed(&args, &saved(), 6000).unwrap_err().to_string();
        for part in [
            "--hidden 100 (the checkpoint has 512,256)",
            "--activation tanh (the checkpoint has relu)",
            "--optimizer sgd (the checkpoint has adamw)",
            "--lr 1e6 (the checkpoint has 0.001)",
            "--batch 7 (the checkpoint has 128)",
            "--seed 5 (the checkpoint has 0)",
            "--precision f64 (the checkpoint has f32)",
            "--shift 1 (the checkpoint has 0)",
            "--label-smoothing 0.1 (the checkpoint has 0)",
            "contradict the checkpoint: drop them",
            "--epochs, --threads",
        ] {
            assert!(msg.contains(part), "missing {part:?} in {msg}");
        }
        assert!(!msg.contains('\n'));
    }

    #[test]
    fn epochs_at_or_below_those_done_are_an_error() {
        for flags in [&["--epochs", "2"][..], &["--epochs", "3"]] {
            let msg =
                Settings::resumed(&train_args(flags), &saved(), 6000).unwrap_err().to_string();
            assert!(msg.contains("already trained 3 epochs and --epochs is "), "{msg}");
            assert!(msg.contains("pass --epochs 4 or more"), "{msg}");
        }
        let mut done = saved();
        done.epochs_done = 15;
        let msg = Settings::resumed(&train_args(&[]), &done, 6000).unwrap_err().to_string();
        assert!(msg.contains("all of its 15 epochs: pass --epochs 16 or more"), "{msg}");
    }

    #[test]
    fn the_batch_is_capped_at_the_training_set() {
        let mut s = Settings::fresh(&train_args(&["--batch", "1000000"])).unwrap();
        assert_eq!(s.cap_batch(2000), Some(1_000_000));
        assert_eq!(s.batch, 2000);
        assert_eq!(s.cap_batch(5000), None);
    }
}
