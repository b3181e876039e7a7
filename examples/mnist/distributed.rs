//! `train --distributed`: this process as one rank of an MPI job (feature `mpi`), training
//! bit-identically to a single process. Every rank reads the data and trains; rank 0 alone
//! prints, draws the progress bar and writes files.

use std::fmt;

#[cfg(feature = "mpi")]
use anyhow::Context;
use anyhow::Result;
use nn::net::{Float, Network};
use nn::train::{Dataset, Trainer};

use crate::args::TrainArgs;
use crate::report::Out;
#[cfg(feature = "mpi")]
use crate::report::outln;
use crate::train::AnyCheckpoint;

/// The float types a cluster can exchange (any, without MPI).
#[cfg(feature = "mpi")]
pub(crate) trait DistFloat: nn::dist::Element {}
#[cfg(feature = "mpi")]
impl<T: nn::dist::Element> DistFloat for T {}
/// The float types a cluster can exchange (any, without MPI).
#[cfg(not(feature = "mpi"))]
pub(crate) trait DistFloat {}
#[cfg(not(feature = "mpi"))]
impl<T> DistFloat for T {}

/// Where this process stands: alone, or one rank of an MPI job.
pub(crate) struct Cluster {
    #[cfg(feature = "mpi")]
    group: Option<nn::dist::Group>,
}

/// The context of every error of a distributed run: the rank, and whether every rank stops with
/// this error (then all of them end cleanly; otherwise the job is aborted).
#[derive(Debug)]
struct OnRank {
    label: String,
    collective: bool,
}

impl fmt::Display for OnRank {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label)
    }
}

/// The communication counters of a distributed run.
pub(crate) struct Counters {
    #[cfg(feature = "mpi")]
    stats: Option<nn::dist::StatsHandle>,
}

impl Cluster {
    /// Alone, or (`--distributed`) starts MPI. Called after every flag was checked, so that bad
    /// flags fail in every rank before any communication.
    pub(crate) fn start(args: &TrainArgs) -> Result<Cluster> {
        if !(args.dist_timeout.is_finite() && (0.1..=86_400.0).contains(&args.dist_timeout)) {
            anyhow::bail!("--dist-timeout must be 0.1 to 86400 seconds, got {}", args.dist_timeout);
        }
        if !args.distributed {
            return Ok(Cluster {
                #[cfg(feature = "mpi")]
                group: None,
            });
        }
        #[cfg(feature = "mpi")]
        {
            let timeout = std::time::Duration::from_secs_f64(args.dist_timeout);
            let options = nn::dist::Options::default().with_timeout(timeout);
            let group = nn::dist::Group::mpi(options)?;
            Ok(Cluster { group: Some(group) })
        }
        #[cfg(not(feature = "mpi"))]
        anyhow::bail!(
            "--distributed needs MPI: build with `cargo build --release --example mnist --features \
             mpi` (needs Open MPI and libclang) and start with `mpirun -np N \
             target/release/examples/mnist train --distributed ...`"
        )
    }

    /// Whether this process is one rank of several (or of a job of one).
    pub(crate) fn is_distributed(&self) -> bool {
        #[cfg(feature = "mpi")]
        return self.group.is_some();
        #[cfg(not(feature = "mpi"))]
        false
    }

    /// Whether this process prints and writes files: rank 0, or a process alone.
    pub(crate) fn is_root(&self) -> bool {
        #[cfg(feature = "mpi")]
        return self.group.as_ref().is_none_or(nn::dist::Group::is_root);
        #[cfg(not(feature = "mpi"))]
        true
    }

    /// The number of processes.
    pub(crate) fn size(&self) -> usize {
        #[cfg(feature = "mpi")]
        return self.group.as_ref().map_or(1, nn::dist::Group::size);
        #[cfg(not(feature = "mpi"))]
        1
    }

    /// `rank 1 of 4`.
    fn label(&self) -> String {
        #[cfg(feature = "mpi")]
        if let Some(g) = &self.group {
            return format!("rank {} of {}", g.rank(), g.size());
        }
        "rank 0 of 1".to_owned()
    }

    /// The checkpoint of `--resume`: rank 0 reads it (`local` is its result there, `None` in the
    /// other ranks) and sends it to the others, so that it only needs to exist on rank 0's
    /// machine. A failure to read it stops every rank.
    ///
    /// # Errors
    /// In every rank: rank 0's error (the others say that rank 0 could not read it).
    pub(crate) fn share_checkpoint(
        &self,
        local: Option<Result<AnyCheckpoint>>,
    ) -> Result<AnyCheckpoint> {
        #[cfg(feature = "mpi")]
        if let Some(group) = &self.group {
            // Empty: rank 0 failed.
            let (mut bytes, local) = match local {
                Some(Ok(c)) => match c.encode() {
                    Ok(bytes) => (bytes, Some(Ok(c))),
                    Err(e) => (Vec::new(), Some(Err(e.context("cannot encode the checkpoint")))),
                },
                other => (Vec::new(), other),
            };
            group.broadcast_bytes(&mut bytes)?;
            let result = match local {
                Some(result) => result,
                None if bytes.is_empty() => Err(anyhow::anyhow!(
                    "rank 0 could not read the checkpoint of --resume (it says why)"
                )),
                None => AnyCheckpoint::decode(&bytes)
                    .context("cannot decode the checkpoint rank 0 sent"),
            };
            // A rank that could not decode it (another build, say) stops every rank.
            let fingerprint = match &result {
                Ok(_) => nn::dist::Fingerprint::new(),
                Err(_) => nn::dist::Fingerprint::failed(),
            };
            return self.settle(group, result, &fingerprint);
        }
        local.unwrap_or_else(|| Err(anyhow::anyhow!("no checkpoint was read")))
    }

    /// Start-up agreement. `local` is this rank's preparation (the flags checked against the
    /// checkpoint, the data read, the outputs checked on rank 0); `datasets` gives its training
    /// and test sets. The ranks compare their command lines and data before any of them trains.
    ///
    /// # Errors
    /// In every rank: a rank that could not prepare (it reports its own error), or a difference in
    /// configuration or data.
    pub(crate) fn agree<T: Float, P>(
        &self,
        args: &TrainArgs,
        local: Result<P>,
        datasets: impl Fn(&P) -> ([&Dataset<T>; 2], String),
    ) -> Result<P> {
        #[cfg(feature = "mpi")]
        if let Some(group) = &self.group {
            let fingerprint = match &local {
                Ok(p) => {
                    let ([train, test], shape) = datasets(p);
                    fingerprint(args, train, test).with_config(&shape)
                }
                Err(_) => nn::dist::Fingerprint::failed(),
            };
            return self.settle(group, local, &fingerprint);
        }
        let _ = (args, datasets);
        local
    }

    /// Every rank's `local` result, after they all compared `fingerprint`s (a failed rank sends
    /// [`nn::dist::Fingerprint::failed`]): if any rank failed or differs, every rank returns an
    /// error, and all of them end cleanly.
    #[cfg(feature = "mpi")]
    fn settle<P>(
        &self,
        group: &nn::dist::Group,
        local: Result<P>,
        fingerprint: &nn::dist::Fingerprint,
    ) -> Result<P> {
        match (group.agree(fingerprint), local) {
            (Ok(()), local) => local,
            // Every rank knows this one failed: all stop cleanly.
            (Err(_), Err(own)) => Err(self.shared(own)),
            (Err(e), Ok(_)) => Err(e.into()),
        }
    }

    /// `e` as an error every rank stops with at the same point (they all end cleanly).
    #[cfg(feature = "mpi")]
    fn shared(&self, e: anyhow::Error) -> anyhow::Error {
        e.context(OnRank { label: self.label(), collective: true })
    }

    /// Every rank takes rank 0's parameters, and its trainer sums the gradients with the others
    /// (it then runs only its own shards).
    pub(crate) fn attach<T: Float + DistFloat>(
        &self,
        net: &mut Network<T>,
        trainer: Trainer<T>,
    ) -> Result<(Trainer<T>, Counters)> {
        #[cfg(feature = "mpi")]
        if let Some(group) = &self.group {
            group.broadcast_parameters(net)?;
            let reducer = group.chain_reducer(net)?;
            let stats = reducer.stats();
            let trainer = trainer.with_reducer(net, reducer)?;
            return Ok((trainer, Counters { stats: Some(stats) }));
        }
        let _ = net;
        Ok((
            trainer,
            Counters {
                #[cfg(feature = "mpi")]
                stats: None,
            },
        ))
    }

    /// After training: rank 0 prints every rank's communication counters (`out` is silent in
    /// the other ranks).
    pub(crate) fn report(&self, counters: &Counters, out: &mut Out) -> Result<()> {
        #[cfg(feature = "mpi")]
        if let (Some(group), Some(stats)) = (&self.group, &counters.stats) {
            let all = group.gather_stats(&stats.get())?;
            for (rank, s) in all.iter().enumerate() {
                outln!(
                    out,
                    "rank {rank}: {:.0} bytes sent per step, {:.3} ms per step in the reduction \
                     ({:.3} ms of it waiting), {} steps",
                    s.bytes_sent_per_step(),
                    1e3 * s.reduce_seconds_per_step(),
                    1e3 * s.wait_seconds_per_step(),
                    s.steps
                )?;
            }
        }
        let _ = (counters, out);
        Ok(())
    }

    /// The end of a run. In a distributed run, an error is printed here, naming the rank: an
    /// error every rank shares is followed by a barrier (so that every rank prints it before
    /// `mpirun` ends the job on the first exit code 2) and returned as [`Reported`]; any other
    /// error aborts the whole job (the other ranks may be waiting for this one).
    pub(crate) fn finish(&self, result: Result<()>) -> Result<()> {
        if !self.is_distributed() {
            return result;
        }
        result.map_err(|e| {
            let collective =
                e.downcast_ref::<OnRank>().map_or_else(|| is_collective(&e), |c| c.collective);
            let e = if e.downcast_ref::<OnRank>().is_some() {
                e
            } else {
                e.context(OnRank { label: self.label(), collective })
            };
            if collective {
                print_line(&format!("error: {e:#}\n"));
                self.barrier();
                anyhow::Error::new(Reported)
            } else {
                print_line(&format!("error: {e:#}; aborting the job\n"));
                self.abort(2)
            }
        })
    }

    /// Waits for every rank (a failed barrier changes nothing: the job is ending).
    fn barrier(&self) {
        #[cfg(feature = "mpi")]
        if let Some(group) = &self.group {
            let _ = group.barrier();
        }
    }

    /// Ends every rank of the job.
    fn abort(&self, code: i32) -> anyhow::Error {
        #[cfg(feature = "mpi")]
        if let Some(group) = &self.group {
            group.abort(code);
        }
        let _ = code;
        anyhow::anyhow!("the job was aborted")
    }
}

/// An error already printed by [`Cluster::finish`]: `main` only sets the exit code.
#[derive(Debug)]
pub(crate) struct Reported;

impl fmt::Display for Reported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(reported above)")
    }
}

impl std::error::Error for Reported {}

/// Writes `line` to stderr in one write, so that the lines of several ranks do not mix.
fn print_line(line: &str) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Whether every rank stops with this error at the same point.
fn is_collective(e: &anyhow::Error) -> bool {
    if let Some(e) = e.downcast_ref::<nn::train::Error>() {
        return matches!(
            e,
            nn::train::Error::NonFiniteLoss { .. }
                | nn::train::Error::Reduction { all_processes: true, .. }
        );
    }
    if e.is::<crate::train::Diverged>() {
        return true;
    }
    #[cfg(feature = "mpi")]
    if let Some(e) = e.downcast_ref::<nn::dist::Error>() {
        return e.is_collective();
    }
    false
}

/// What the ranks compare: the command line (without `--threads`, which may differ per rank, and
/// the data folder's path), the precision, the program's version, and the data.
#[cfg(feature = "mpi")]
fn fingerprint<T: Float>(
    args: &TrainArgs,
    train: &Dataset<T>,
    test: &Dataset<T>,
) -> nn::dist::Fingerprint {
    let mut canonical = args.clone();
    canonical.threads = None;
    canonical.data.data = std::path::PathBuf::new();
    nn::dist::Fingerprint::new()
        .with_config(concat!("mnist ", env!("CARGO_PKG_VERSION")))
        .with_config(T::NAME)
        .with_config_of(&canonical)
        .with_config(&format!("test data {:016x}", nn::dist::dataset_digest(test)))
        .with_data(train)
}
