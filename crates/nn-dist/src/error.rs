//! The error type of `nn-dist`.

use std::fmt;
use std::time::Duration;

/// Everything that can go wrong in a process group. Each variant carries what was expected and
/// what was found, and names the ranks concerned.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `MPI_Init` was called already in this process (a process joins one group).
    #[error("cannot start MPI: it is already initialized in this process")]
    MpiAlreadyInitialized,
    /// The MPI library cannot serve calls from several threads one at a time.
    #[error(
        "cannot start MPI: the library provides {provided} thread support, `serialized` is needed"
    )]
    ThreadSupport {
        /// What it provides: `single` or `funneled`.
        provided: &'static str,
    },
    /// A setting outside its domain.
    #[error("invalid {name} = {value}: expected {expected}")]
    InvalidOption {
        /// Its name: `timeout` (seconds), `startup_timeout` (seconds), `chunk_elems`, `size`.
        name: &'static str,
        /// The value given.
        value: f64,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// The gradient would travel in more pieces than the message tags allow.
    #[error(
        "chunk_elems = {chunk_elems} cuts the gradient into {chunks} pieces, at most {max} are allowed: choose a larger size"
    )]
    TooManyChunks {
        /// The piece size asked for.
        chunk_elems: usize,
        /// The pieces it gives.
        chunks: usize,
        /// The most there may be.
        max: usize,
    },
    /// A peer sent nothing for too long: it was killed, hangs, or cannot be reached.
    #[error(
        "rank {rank}: no message from rank {peer} for {:.1} s during {during}: rank {peer} was killed, hangs or cannot be reached",
        waited.as_secs_f64()
    )]
    Timeout {
        /// This process's rank.
        rank: usize,
        /// The rank it waited for.
        peer: usize,
        /// How long it waited without any progress.
        waited: Duration,
        /// What the group was doing.
        during: &'static str,
    },
    /// A message of another length than the protocol says (another program or version on the
    /// other side).
    #[error(
        "rank {rank}: a message of {found} elements from rank {peer} with tag {tag}, expected {expected}"
    )]
    MessageLength {
        /// This process's rank.
        rank: usize,
        /// The sender.
        peer: usize,
        /// The message's tag.
        tag: i32,
        /// The length the protocol expects.
        expected: usize,
        /// The length that arrived.
        found: usize,
    },
    /// A message of another element type than the protocol says (in-process groups).
    #[error("rank {rank}: a message of another element type from rank {peer} with tag {tag}")]
    MessageType {
        /// This process's rank.
        rank: usize,
        /// The sender.
        peer: usize,
        /// The message's tag.
        tag: i32,
    },
    /// The processes of the group do not run the same training: every process returns this same
    /// error.
    #[error("the processes disagree: {}", join(differences))]
    Disagree {
        /// Each difference found, naming the ranks.
        differences: Vec<Difference>,
    },
    /// Some processes could not prepare their part (their own output says why): every process
    /// returns this same error.
    #[error("{} could not start (see {} own message)", rank_list(ranks), if ranks.len() == 1 { "its" } else { "their" })]
    RanksFailed {
        /// The ranks that failed.
        ranks: Vec<usize>,
    },
    /// Fewer shards per batch than processes: every process returns this same error.
    #[error(
        "{n_shards} shards per batch cannot be shared by {n_processes} processes: use at least as many shards as processes (--shards {n_processes})"
    )]
    TooFewShards {
        /// The shards of a batch.
        n_shards: usize,
        /// The processes of the group.
        n_processes: usize,
    },
    /// A rank failed in a step; every process returns an error at this step (that rank its own
    /// error when it has one, the others this).
    #[error("rank {rank} {cause}, at step {step}")]
    RankFailed {
        /// The rank that failed first.
        rank: usize,
        /// The step (optimizer steps taken before it).
        step: u64,
        /// What happened there.
        cause: FailureCause,
    },
    /// The total does not fit the trainer's gradient (a reducer used with another network).
    #[error("rank {rank}: the summed gradient does not have the shape of the trainer's gradient")]
    GradientShape {
        /// This process's rank.
        rank: usize,
    },
    /// A broadcast of more bytes than this process can address.
    #[error("a broadcast of {bytes} bytes does not fit in this process's memory")]
    TooLarge {
        /// The bytes announced by rank 0.
        bytes: u64,
    },
    /// The chain ended without the final header (a protocol error of this crate).
    #[error("rank {rank}: the gradient reduction ended without its final header")]
    Incomplete {
        /// This process's rank.
        rank: usize,
    },
    /// Rank 0's network was refused (from `nn-core`).
    #[error("rank 0's network: {0}")]
    Network(#[from] nn_core::Error),
}

/// One difference between a rank and rank 0, found by [`Group::agree`](crate::Group::agree) or
/// [`Group::broadcast_parameters`](crate::Group::broadcast_parameters).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Difference {
    /// Another version of the messages between processes.
    Version {
        /// The rank.
        rank: usize,
        /// Its version.
        found: u64,
        /// Rank 0's.
        expected: u64,
    },
    /// Another configuration (command line, program).
    Configuration {
        /// The rank.
        rank: usize,
        /// Its configuration hash.
        found: u64,
        /// Rank 0's.
        expected: u64,
    },
    /// Another number of training samples or features.
    DataSize {
        /// The rank.
        rank: usize,
        /// Its (samples, features).
        found: (u64, u64),
        /// Rank 0's.
        expected: (u64, u64),
    },
    /// The same size, other values.
    Data {
        /// The rank.
        rank: usize,
        /// Its data digest.
        found: u64,
        /// Rank 0's.
        expected: u64,
    },
    /// Another kind of CPU: other SIMD kernels round differently, so the processes would neither
    /// match one process nor, evaluating on their own, take the same decisions.
    Machine {
        /// The rank.
        rank: usize,
        /// Its kernels.
        found: String,
        /// Rank 0's.
        expected: String,
    },
    /// A network of other sizes.
    NetworkSizes {
        /// The ranks.
        ranks: Vec<usize>,
    },
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::Version { rank, found, expected } => write!(
                f,
                "rank {rank} speaks protocol version {found}, rank 0 version {expected} (run the \
                 same program everywhere)"
            ),
            Difference::Configuration { rank, found, expected } => write!(
                f,
                "rank {rank}'s configuration differs from rank 0's (hash {found:016x}, rank 0: \
                 {expected:016x}): every rank must run the same program with the same options"
            ),
            Difference::DataSize { rank, found, expected } => write!(
                f,
                "rank {rank} has {} training samples of {} features, rank 0 has {} of {}: every \
                 rank must read the same data set (a shared file system, or the same copy on \
                 every machine)",
                found.0, found.1, expected.0, expected.1
            ),
            Difference::Data { rank, found, expected } => write!(
                f,
                "rank {rank}'s training data differ from rank 0's (same size, other values: \
                 digest {found:016x}, rank 0: {expected:016x}): every rank must read the same \
                 data set"
            ),
            Difference::Machine { rank, found, expected } => write!(
                f,
                "rank {rank} computes with {found}, rank 0 with {expected}: every machine must \
                 have the same kind of CPU for the results to have the same bits"
            ),
            Difference::NetworkSizes { ranks } => {
                write!(f, "{} hold a network of other sizes than rank 0's", rank_list(ranks))
            }
        }
    }
}

/// What made a rank fail a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureCause {
    /// One of its shards failed (its own error says why).
    Shards,
    /// It is not at the same step as the rank before it.
    OutOfStep,
    /// Its gradients have another shape than the network the reducer was built for.
    Shape,
    /// A failure code this version does not know (another version on the other side).
    Unknown,
}

impl fmt::Display for FailureCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailureCause::Shards => "failed in its shards (its own error says why)",
            FailureCause::OutOfStep => {
                "is not at the same step as the rank before it (the processes are out of step)"
            }
            FailureCause::Shape => {
                "has gradients of another shape than the network the reducer was built for"
            }
            FailureCause::Unknown => "failed",
        })
    }
}

impl Error {
    /// Whether every process of the group returns this same error at the same point, so that all
    /// of them can stop cleanly; otherwise others may still wait for this one, and the group must
    /// be aborted ([`Group::abort`](crate::Group::abort)).
    #[must_use]
    pub fn is_collective(&self) -> bool {
        matches!(
            self,
            Error::Disagree { .. }
                | Error::RanksFailed { .. }
                | Error::TooFewShards { .. }
                | Error::RankFailed { .. }
        )
    }
}

fn join(differences: &[Difference]) -> String {
    differences.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

/// `rank 2`, `ranks 1 and 3`, `ranks 1, 2 and 3`.
pub(crate) fn rank_list(ranks: &[usize]) -> String {
    match ranks {
        [] => "no rank".to_owned(),
        [r] => format!("rank {r}"),
        [init @ .., last] => {
            let init: Vec<String> = init.iter().map(ToString::to_string).collect();
            format!("ranks {} and {last}", init.join(", "))
        }
    }
}

impl From<Error> for nn_train::Error {
    fn from(e: Error) -> Self {
        nn_train::Error::Reduction {
            all_processes: e.is_collective(),
            source: nn_train::ReductionError::new(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::rank_list;

    #[test]
    fn rank_lists_read_as_english() {
        assert_eq!(rank_list(&[2]), "rank 2");
        assert_eq!(rank_list(&[1, 3]), "ranks 1 and 3");
        assert_eq!(rank_list(&[1, 2, 3]), "ranks 1, 2 and 3");
    }
}
