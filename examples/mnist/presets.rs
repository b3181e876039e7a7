//! The presets: named sets of defaults for `train`, in one table. Adding a preset is adding a
//! row: `--preset` accepts its name, and `train --help` shows its values next to each flag.

use clap::Command;
use nn::net::Activation;

use crate::args::ScheduleName;

/// The values a preset gives to the flags the user does not pass.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Preset {
    /// Its name on the command line.
    pub(crate) name: &'static str,
    /// One line for `--help`.
    pub(crate) summary: &'static str,
    pub(crate) hidden: &'static [usize],
    pub(crate) activation: Activation,
    /// `sgd`, `adam`, `adamw` or `rmsprop`.
    pub(crate) optimizer: &'static str,
    pub(crate) weight_decay: f64,
    pub(crate) momentum: f64,
    pub(crate) lr: f64,
    pub(crate) dropout: f64,
    /// Label smoothing ε (0: none).
    pub(crate) label_smoothing: f64,
    pub(crate) schedule: ScheduleName,
    pub(crate) epochs: usize,
    pub(crate) batch: usize,
    /// The largest random shift of the training images, in pixels (0: no augmentation).
    pub(crate) shift: usize,
}

/// The preset used without `--preset`.
pub(crate) const DEFAULT: &str = "default";

/// Defaults that no preset changes.
pub(crate) const THREADS: usize = 2;
pub(crate) const SHARDS: usize = 2;
pub(crate) const SEED: u64 = 0;

/// Every preset; the first is [`DEFAULT`].
pub(crate) const PRESETS: &[Preset] = &[
    Preset {
        name: DEFAULT,
        summary: "784-512-256-10 ReLU, AdamW, cosine, 15 epochs: about 0.90 in well under a minute",
        hidden: &[512, 256],
        activation: Activation::Relu,
        optimizer: "adamw",
        weight_decay: 1e-4,
        momentum: 0.0,
        lr: 1e-3,
        dropout: 0.1,
        label_smoothing: 0.0,
        schedule: ScheduleName::Cosine,
        epochs: 15,
        batch: 128,
        shift: 0,
    },
    Preset {
        name: "strong",
        summary: "784-1024-512-10 ReLU, AdamW, dropout 0.3, one-cycle, 28 epochs: about 0.905",
        hidden: &[1024, 512],
        activation: Activation::Relu,
        optimizer: "adamw",
        weight_decay: 1e-4,
        momentum: 0.0,
        lr: 1e-3,
        dropout: 0.3,
        label_smoothing: 0.0,
        schedule: ScheduleName::OneCycle,
        epochs: 28,
        batch: 128,
        shift: 0,
    },
    // Chosen on a validation split (`--val-split 0.1`), never on the test set: see the README's
    // recipe.
    Preset {
        name: "fast",
        summary: "784-512-256-10 SiLU, AdamW wd 0.05, label smoothing 0.1, one-cycle, batch 256, 32 epochs: about 0.906 in under a minute",
        hidden: &[512, 256],
        activation: Activation::Silu,
        optimizer: "adamw",
        weight_decay: 0.05,
        momentum: 0.0,
        lr: 2e-3,
        dropout: 0.2,
        label_smoothing: 0.1,
        schedule: ScheduleName::OneCycle,
        epochs: 32,
        batch: 256,
        shift: 0,
    },
];

/// The preset named `name` (the default one for an unknown name, which clap already refused).
pub(crate) fn get(name: &str) -> &'static Preset {
    PRESETS.iter().find(|p| p.name == name).unwrap_or(&PRESETS[0])
}

/// The value of one field in every preset, for `--help`: `[default: 512,256; strong: 1024,512]`,
/// or `[default: 128]` when all presets agree.
fn defaults(field: impl Fn(&Preset) -> String) -> String {
    let values: Vec<(String, String)> =
        PRESETS.iter().map(|p| (p.name.to_owned(), field(p))).collect();
    if values.iter().all(|(_, v)| *v == values[0].1) {
        return format!("[default: {}]", values[0].1);
    }
    let mut text = format!("[default: {}", values[0].1);
    for (name, value) in &values[1..] {
        text.push_str(&format!("; --preset {name}: {value}"));
    }
    text.push(']');
    text
}

fn join(sizes: &[usize]) -> String {
    sizes.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
}

/// `train --help` with every default written next to its flag.
pub(crate) fn document(command: Command) -> Command {
    let fields: [(&str, String); 13] = [
        ("hidden", defaults(|p| join(p.hidden))),
        ("activation", defaults(|p| p.activation.to_string())),
        ("optimizer", defaults(|p| p.optimizer.to_owned())),
        ("lr", defaults(|p| format!("{:e}", p.lr))),
        ("momentum", defaults(|p| p.momentum.to_string())),
        ("weight_decay", defaults(|p| format!("{:e} with {}", p.weight_decay, p.optimizer))),
        ("dropout", defaults(|p| p.dropout.to_string())),
        ("label_smoothing", defaults(|p| p.label_smoothing.to_string())),
        ("schedule", defaults(|p| p.schedule.name())),
        ("epochs", defaults(|p| p.epochs.to_string())),
        ("batch", defaults(|p| p.batch.to_string())),
        ("shift", defaults(|p| p.shift.to_string())),
        ("threads", format!("[default: {THREADS}]")),
    ];
    command.mut_subcommand("train", |train| {
        let mut train = train
            .mut_arg("shards", |a| append(a, &format!("[default: {SHARDS}]")))
            .mut_arg("seed", |a| append(a, &format!("[default: {SEED}]")));
        for (id, text) in fields {
            train = train.mut_arg(id, |a| append(a, &text));
        }
        train
    })
}

fn append(arg: clap::Arg, text: &str) -> clap::Arg {
    let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
    arg.help(format!("{help} {text}"))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;
    use crate::args::Cli;

    #[test]
    fn help_shows_the_defaults_of_every_preset() {
        let mut command = document(Cli::command());
        let help = command
            .find_subcommand_mut("train")
            .map(|c| c.render_long_help().to_string())
            .unwrap_or_default();
        for expected in [
            "[default: 512,256; --preset strong: 1024,512; --preset fast: 512,256]",
            "[default: 1e-3; --preset strong: 1e-3; --preset fast: 2e-3]",
            "[default: 128; --preset strong: 128; --preset fast: 256]",
            "[default: 15; --preset strong: 28; --preset fast: 32]",
            "[default: adamw]",
            "[default: 1e-4 with adamw; --preset strong: 1e-4 with adamw; --preset fast: 5e-2 with adamw]",
            "[default: 0.1; --preset strong: 0.3; --preset fast: 0.2]",
            "[default: 0; --preset strong: 0; --preset fast: 0.1]",
            "[default: cosine; --preset strong: one-cycle; --preset fast: one-cycle]",
            "[default: relu; --preset strong: relu; --preset fast: silu]",
            "[default: 2]",
            "[default: 0]",
        ] {
            assert!(help.contains(expected), "missing {expected:?} in:\n{help}");
        }
        for preset in PRESETS {
            assert!(help.contains(preset.name), "{}", preset.name);
        }
    }

    #[test]
    fn names_are_unique_and_the_first_is_the_default() {
        assert_eq!(PRESETS[0].name, DEFAULT);
        for (i, p) in PRESETS.iter().enumerate() {
            assert!(PRESETS[i + 1..].iter().all(|q| q.name != p.name), "{}", p.name);
            assert_eq!(get(p.name).name, p.name);
            assert!(nn::train::optim::OptimizerConfig::from_name(p.optimizer).is_ok());
        }
    }
}
