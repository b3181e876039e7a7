//! How much memory a run needs, estimated from the sizes before anything large is allocated,
//! and how much the machine can give it: the least of `MemAvailable` in `/proc/meminfo`, the
//! memory left under the process's cgroup limit (containers), and the address space left under
//! `ulimit -v`. Where none of them can be read (another system), the check is skipped.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Result, bail};
use nn::train::optim::OptimizerConfig;

use crate::report::show_size;

/// Fixed costs: the program, thread stacks, the allocator's arenas.
const OVERHEAD: u64 = 64 << 20;

/// The sizes of a training run.
#[derive(Clone, Debug)]
pub(crate) struct TrainShape<'a> {
    /// Units per layer, inputs first.
    pub(crate) sizes: &'a [usize],
    /// Bytes per value: 4 (f32) or 8 (f64).
    pub(crate) value_bytes: u64,
    pub(crate) optimizer: &'a OptimizerConfig,
    pub(crate) shards: usize,
    pub(crate) batch: usize,
    pub(crate) dropout: bool,
    pub(crate) early_stopping: bool,
    /// Whether a checkpoint is saved after every epoch.
    pub(crate) checkpoints: bool,
    pub(crate) n_train: usize,
    pub(crate) n_validation: usize,
    pub(crate) n_test: usize,
    /// The data set's bytes as read from the files (one byte per pixel), alive while converting.
    pub(crate) raw_bytes: u64,
}

/// The parts of an estimate, in bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Estimate {
    pub(crate) parameters: u64,
    pub(crate) gradients: u64,
    pub(crate) optimizer: u64,
    pub(crate) buffers: u64,
    pub(crate) data: u64,
    /// Saving a checkpoint after each epoch, while the trainer's buffers are alive.
    pub(crate) checkpoint: u64,
    /// Saving the model at the end, after the trainer's buffers are freed.
    pub(crate) model: u64,
}

impl Estimate {
    /// The peak: training (with its checkpoints), or saving the model after it.
    pub(crate) fn total(&self) -> u64 {
        let add = |parts: &[u64]| parts.iter().fold(0u64, |a, &b| a.saturating_add(b));
        let training = add(&[self.gradients, self.optimizer, self.buffers, self.checkpoint]);
        add(&[OVERHEAD, self.data, self.parameters, training.max(self.model)])
    }

    /// `parameters 3.7 GB, gradients 7.4 GB for 2 shards, ...`: the parts of the peak that are
    /// not small.
    fn parts(&self, shards: usize) -> String {
        let training = [self.gradients, self.optimizer, self.buffers, self.checkpoint]
            .iter()
            .fold(0u64, |a, &b| a.saturating_add(b));
        let peak: Vec<(&str, u64)> = if training >= self.model {
            vec![
                ("parameters", self.parameters),
                ("gradients", self.gradients),
                ("optimizer state", self.optimizer),
                ("batch buffers", self.buffers),
                ("data", self.data),
                ("checkpoints", self.checkpoint),
            ]
        } else {
            vec![
                ("parameters", self.parameters),
                ("data", self.data),
                ("saving the model", self.model),
            ]
        };
        let mut text = String::new();
        for (name, bytes) in peak {
            if bytes >= 1 << 20 {
                let sep = if text.is_empty() { "" } else { ", " };
                let _ = write!(text, "{sep}{name} {}", show_size(bytes));
                if name == "gradients" {
                    let _ =
                        write!(text, " for {shards} shard{}", if shards == 1 { "" } else { "s" });
                }
            }
        }
        text
    }
}

/// The number of parameters of a network with these layer sizes (saturating).
pub(crate) fn n_params(sizes: &[usize]) -> u64 {
    sizes.windows(2).fold(0u64, |acc, w| {
        let layer = (w[0] as u64).saturating_add(1).saturating_mul(w[1] as u64);
        acc.saturating_add(layer)
    })
}

/// The buffers each rule keeps per parameter: momentum, first and second moments.
fn optimizer_buffers(optimizer: &OptimizerConfig) -> u64 {
    let momentum = u64::from(optimizer.momentum().is_some_and(|m| m > 0.0));
    match optimizer {
        OptimizerConfig::Sgd(_) => momentum,
        OptimizerConfig::RmsProp(_) => 1 + momentum,
        // Adam and AdamW keep two moments; a rule added later is assumed to keep no more.
        _ => 2,
    }
}

/// What a training run needs at its peak: the parameters, a gradient per shard, the optimizer's
/// buffers, each shard's workspace (z, a and δ of every layer for its part of the batch, and
/// the dropout masks), the gathered batch, the evaluation buffers, the data (converted, while
/// the bytes read are still alive, and the copy made by the validation split), and saving (a
/// model file encodes a copy of Θ, the bytes and the file's bytes; a checkpoint also the
/// optimizer's state).
pub(crate) fn training(shape: &TrainShape<'_>) -> Estimate {
    let s = shape.value_bytes;
    let mul = |a: u64, b: u64| a.saturating_mul(b);
    let theta = mul(n_params(shape.sizes), s);
    let sum = |sizes: &[usize]| sizes.iter().fold(0u64, |a, &n| a.saturating_add(n as u64));
    let units = sum(shape.sizes.get(1..).unwrap_or_default());
    let hidden = sum(shape.sizes.get(1..shape.sizes.len().saturating_sub(1)).unwrap_or_default());
    let n_inputs = shape.sizes.first().map_or(0, |&n| n as u64);
    let shards = shape.shards.max(1) as u64;
    let per_shard = (shape.batch as u64).div_ceil(shards);
    let workspace = mul(
        mul(3, units).saturating_add(1).saturating_add(if shape.dropout { hidden } else { 0 }),
        per_shard,
    );
    let eval_batch = 1000u64.min(shape.n_test.max(shape.n_validation) as u64);
    let evaluation = mul(mul(3, units).saturating_add(n_inputs).saturating_add(1), eval_batch);
    let batch = mul(n_inputs.saturating_add(1), shape.batch as u64);
    let k = optimizer_buffers(shape.optimizer);
    let best = if shape.early_stopping { theta } else { 0 };
    let samples = (shape.n_train + shape.n_validation) as u64;
    let converted = mul(mul(samples.saturating_add(shape.n_test as u64), n_inputs), s);
    let split_copy = if shape.n_validation > 0 { mul(mul(samples, n_inputs), s) } else { 0 };
    let data = converted.saturating_add(shape.raw_bytes.max(split_copy));
    // Encoding a model: a copy of Θ, its bytes, the payload and the sealed file: 4 × Θ.
    let model = mul(4, theta);
    // A checkpoint also copies the network and the optimizer's state (and the best
    // parameters), encoded twice.
    let checkpoint = if shape.checkpoints {
        mul(mul(3, theta), 1 + k).saturating_add(mul(2, best)).saturating_add(theta)
    } else {
        0
    };
    Estimate {
        parameters: theta.saturating_add(best),
        gradients: mul(theta, shards),
        optimizer: mul(theta, k),
        buffers: mul(workspace, shards).saturating_add(batch).saturating_add(mul(evaluation, s)),
        data,
        checkpoint,
        model,
    }
}

/// Where the available memory was read, for the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    MemAvailable,
    Cgroup,
    AddressSpace,
}

/// The memory this process can still use, and what limits it; `None` where it cannot be known.
pub(crate) fn available() -> Option<(u64, Source)> {
    let read = |path: &str| std::fs::read_to_string(path).ok();
    let mut best: Option<(u64, Source)> = None;
    let mut consider = |bytes: Option<u64>, source| {
        if let Some(b) = bytes
            && best.is_none_or(|(old, _)| b < old)
        {
            best = Some((b, source));
        }
    };
    consider(read("/proc/meminfo").and_then(|t| mem_available(&t)), Source::MemAvailable);
    consider(cgroup_room(&read), Source::Cgroup);
    consider(
        read("/proc/self/limits").and_then(|limits| {
            let used = read("/proc/self/status").and_then(|s| status_kb(&s, "VmSize:"))?;
            address_space_room(&limits, used)
        }),
        Source::AddressSpace,
    );
    best
}

/// `MemAvailable` of `/proc/meminfo`, in bytes.
fn mem_available(meminfo: &str) -> Option<u64> {
    status_kb(meminfo, "MemAvailable:")
}

/// A `Name:   1234 kB` line of `/proc/meminfo` or `/proc/self/status`, in bytes.
fn status_kb(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line[key.len()..].split_whitespace().next()?.parse().ok()?;
    kb.checked_mul(1024)
}

/// The room left under the soft `Max address space` of `/proc/self/limits`, given `used` bytes.
fn address_space_room(limits: &str, used: u64) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max address space"))?;
    let soft = line["Max address space".len()..].split_whitespace().next()?;
    let limit: u64 = soft.parse().ok()?; // "unlimited" does not parse: no limit.
    Some(limit.saturating_sub(used))
}

/// The room left under the cgroup v2 memory limit of this process, if it has one.
fn cgroup_room(read: &dyn Fn(&str) -> Option<String>) -> Option<u64> {
    let cgroups = read("/proc/self/cgroup")?;
    let path = cgroups.lines().find_map(|l| l.strip_prefix("0::"))?;
    let dir = format!("/sys/fs/cgroup{}", path.trim_end_matches('/'));
    let max: u64 = read(&format!("{dir}/memory.max"))?.trim().parse().ok()?; // "max": no limit.
    let current: u64 = read(&format!("{dir}/memory.current"))?.trim().parse().ok()?;
    Some(max.saturating_sub(current))
}

/// Refuses a run whose estimate exceeds the memory available, with both numbers and what to
/// change; `what` names the run (`784-512-256-10 in f32`).
pub(crate) fn check(estimate: &Estimate, shards: usize, what: &str, fix: &str) -> Result<()> {
    check_against(estimate, shards, what, fix, available())
}

fn check_against(
    estimate: &Estimate,
    shards: usize,
    what: &str,
    fix: &str,
    available: Option<(u64, Source)>,
) -> Result<()> {
    let Some((room, source)) = available else { return Ok(()) };
    let needed = estimate.total();
    if needed <= room {
        return Ok(());
    }
    let limit = match source {
        Source::MemAvailable => "available",
        Source::Cgroup => "left under this process's memory limit (cgroup)",
        Source::AddressSpace => "left under the address-space limit (ulimit -v)",
    };
    bail!(
        "{what} needs about {} of memory ({}), but only {} are {limit}: {fix}",
        show_size(needed),
        estimate.parts(shards),
        show_size(room),
    )
}

/// Refuses to load a model or checkpoint file that needs more memory than is available: its
/// bytes, the decoded records and the network, about 3 times the file's size. A path that is
/// not a readable regular file is left for nn-io to report.
pub(crate) fn check_file(path: &Path, flag: &str) -> Result<()> {
    let Ok(metadata) = std::fs::metadata(path) else { return Ok(()) };
    if !metadata.is_file() {
        return Ok(());
    }
    let estimate = Estimate { data: metadata.len().saturating_mul(3), ..Estimate::default() };
    // (Shown as "data": the file's bytes and what is decoded from them.)
    check(
        &estimate,
        1,
        &format!("{flag} {}: loading this {} file", path.display(), show_size(metadata.len())),
        "free some memory, or load it on a larger machine",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape<'a>(sizes: &'a [usize], optimizer: &'a OptimizerConfig) -> TrainShape<'a> {
        TrainShape {
            sizes,
            value_bytes: 4,
            optimizer,
            shards: 2,
            batch: 128,
            dropout: true,
            early_stopping: false,
            checkpoints: false,
            n_train: 60_000,
            n_validation: 0,
            n_test: 10_000,
            raw_bytes: 70_000 * 784,
        }
    }

    #[test]
    fn the_estimate_counts_every_copy_of_the_parameters() {
        let adamw: OptimizerConfig = OptimizerConfig::adamw().with_weight_decay(1e-4).into();
        let sizes = [784, 30_000, 30_000, 10];
        let e = training(&shape(&sizes, &adamw));
        let p = n_params(&sizes);
        assert_eq!(p, 785 * 30_000 + 30_001 * 30_000 + 30_001 * 10);
        assert_eq!(e.parameters, 4 * p);
        assert_eq!(e.gradients, 2 * 4 * p);
        assert_eq!(e.optimizer, 2 * 4 * p);
        assert_eq!((e.model, e.checkpoint), (4 * 4 * p, 0));
        // Θ, 2 gradients and 2 moments while training; saving the model comes after.
        let training_bytes = 5 * 4 * p + e.buffers + e.data + OVERHEAD;
        assert_eq!(e.total(), training_bytes);
        assert!(e.total() > 18_000_000_000, "{e:?}");
        // Plain SGD keeps no buffer; a checkpoint costs while the trainer is alive.
        let sgd: OptimizerConfig = OptimizerConfig::sgd().into();
        let mut s = shape(&sizes, &sgd);
        assert_eq!(training(&s).optimizer, 0);
        s.checkpoints = true;
        assert_eq!(training(&s).checkpoint, 4 * 4 * p);
        let e = training(&shape(&[784, 512, 256, 10], &adamw));
        assert!(e.total() < 500_000_000, "{e:?}");
        // Absurd sizes saturate instead of overflowing.
        let huge = [usize::MAX, usize::MAX, 10];
        assert_eq!(training(&shape(&huge, &adamw)).total(), u64::MAX);
    }

    #[test]
    fn a_run_too_large_is_refused_with_both_numbers() {
        let adamw: OptimizerConfig = OptimizerConfig::adamw().with_weight_decay(1e-4).into();
        let e = training(&shape(&[784, 30_000, 30_000, 10], &adamw));
        let err = check_against(
            &e,
            2,
            "784-30000-30000-10 in f32",
            "use smaller --hidden layers",
            Some((4_000_000_000, Source::AddressSpace)),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("784-30000-30000-10 in f32 needs about 19.6 GB of memory ("),
            "{err}"
        );
        assert!(!err.contains("saving"), "{err}");
        assert!(err.contains("gradients 7.4 GB for 2 shards"), "{err}");
        assert!(
            err.contains("but only 4.0 GB are left under the address-space limit (ulimit -v)"),
            "{err}"
        );
        assert!(err.ends_with(": use smaller --hidden layers"), "{err}");
        assert!(check_against(&e, 2, "x", "y", Some((u64::MAX, Source::MemAvailable))).is_ok());
        assert!(check_against(&e, 2, "x", "y", None).is_ok());
    }

    #[test]
    fn proc_files_are_parsed() {
        let meminfo =
            "MemTotal:       24000000 kB\nMemFree:  100 kB\nMemAvailable:   22000000 kB\n";
        assert_eq!(mem_available(meminfo), Some(22_000_000 * 1024));
        assert_eq!(mem_available("MemTotal: 5 kB\n"), None);
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max address space         4096000000           unlimited            bytes     \n";
        assert_eq!(address_space_room(limits, 96_000_000), Some(4_000_000_000));
        let unlimited =
            "Max address space         unlimited            unlimited            bytes\n";
        assert_eq!(address_space_room(unlimited, 1), None);
        let files = |path: &str| -> Option<String> {
            match path {
                "/proc/self/cgroup" => Some("0::/user.slice/job\n".to_owned()),
                "/sys/fs/cgroup/user.slice/job/memory.max" => Some("8000000000\n".to_owned()),
                "/sys/fs/cgroup/user.slice/job/memory.current" => Some("1000000000\n".to_owned()),
                _ => None,
            }
        };
        assert_eq!(cgroup_room(&files), Some(7_000_000_000));
        let no_limit = |path: &str| -> Option<String> {
            match path {
                "/proc/self/cgroup" => Some("0::/\n".to_owned()),
                "/sys/fs/cgroup/memory.max" => Some("max\n".to_owned()),
                _ => Some("0".to_owned()),
            }
        };
        assert_eq!(cgroup_room(&no_limit), None);
        // On this machine, something is known (Linux CI): the check is not silently skipped.
        #[cfg(target_os = "linux")]
        assert!(available().is_some());
    }
}
