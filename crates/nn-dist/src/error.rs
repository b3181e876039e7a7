//! The error type of `nn-dist`.

use std::time::Duration;

/// Everything that can go wrong in a process group.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// MPI could not be started (already started in this process, or too little thread support).
    #[error("cannot start MPI: {detail}")]
    Init {
        /// What happened.
        detail: String,
    },
    /// Bad options.
    #[error("invalid {name}: {detail}")]
    InvalidOption {
        /// The option's name.
        name: &'static str,
        /// What was expected and what was found.
        detail: String,
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
    /// A message that does not follow the protocol (another program or version on the other
    /// side).
    #[error("rank {rank}: unexpected message from rank {peer}: {detail}")]
    Protocol {
        /// This process's rank.
        rank: usize,
        /// The sender.
        peer: usize,
        /// What was expected and what was found.
        detail: String,
    },
    /// The processes of the group do not run the same training: every process returns this same
    /// error.
    #[error("the processes disagree: {}", details.join("; "))]
    Disagree {
        /// One line per difference, naming the ranks.
        details: Vec<String>,
    },
    /// Some processes could not prepare their part (their own output says why): every process
    /// returns this same error.
    #[error("{} could not start (see {} own message)", rank_list(ranks), if ranks.len() == 1 { "its" } else { "their" })]
    RanksFailed {
        /// The ranks that failed.
        ranks: Vec<usize>,
    },
}

impl Error {
    /// Whether every process of the group returns this same error at the same point, so that all
    /// of them can stop cleanly; otherwise others may still wait for this one, and the group must
    /// be aborted ([`Group::abort`](crate::Group::abort)).
    #[must_use]
    pub fn is_collective(&self) -> bool {
        matches!(self, Error::Disagree { .. } | Error::RanksFailed { .. })
    }
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
        nn_train::Error::Reduction { all_processes: e.is_collective(), detail: e.to_string() }
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
