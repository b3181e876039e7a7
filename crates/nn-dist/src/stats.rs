//! Counters of the communication of a reducer, readable while it trains.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// What a [`ChainReducer`](crate::ChainReducer) has done so far. All counts are for this process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommStats {
    /// Steps reduced.
    pub steps: u64,
    /// Bytes this process sent (payloads only: MPI's envelopes are not counted).
    pub bytes_sent: u64,
    /// Bytes this process received.
    pub bytes_received: u64,
    /// Time in the reduction (from the end of the local shards to the summed gradient in place):
    /// waiting for the other ranks, moving the bytes, adding, and unpacking the total.
    pub reduce_time: Duration,
    /// The part of `reduce_time` spent idle, waiting for a message.
    pub wait_time: Duration,
}

impl CommStats {
    /// The counters as `u64`s, for sending them to another process.
    #[must_use]
    pub fn to_words(&self) -> [u64; 5] {
        [
            self.steps,
            self.bytes_sent,
            self.bytes_received,
            u64::try_from(self.reduce_time.as_nanos()).unwrap_or(u64::MAX),
            u64::try_from(self.wait_time.as_nanos()).unwrap_or(u64::MAX),
        ]
    }

    /// The inverse of [`CommStats::to_words`].
    #[must_use]
    pub fn from_words(w: [u64; 5]) -> Self {
        CommStats {
            steps: w[0],
            bytes_sent: w[1],
            bytes_received: w[2],
            reduce_time: Duration::from_nanos(w[3]),
            wait_time: Duration::from_nanos(w[4]),
        }
    }

    /// Bytes sent per step (0 before the first step).
    #[must_use]
    pub fn bytes_sent_per_step(&self) -> f64 {
        self.bytes_sent as f64 / self.steps.max(1) as f64
    }

    /// Seconds in the reduction per step.
    #[must_use]
    pub fn reduce_seconds_per_step(&self) -> f64 {
        self.reduce_time.as_secs_f64() / self.steps.max(1) as f64
    }

    /// Seconds idle, waiting for messages, per step.
    #[must_use]
    pub fn wait_seconds_per_step(&self) -> f64 {
        self.wait_time.as_secs_f64() / self.steps.max(1) as f64
    }
}

/// A handle on a reducer's counters; clones share them.
#[derive(Clone, Debug, Default)]
pub struct StatsHandle(Arc<[AtomicU64; 5]>);

impl StatsHandle {
    /// The counters now.
    #[must_use]
    pub fn get(&self) -> CommStats {
        CommStats::from_words(std::array::from_fn(|i| self.0[i].load(Ordering::Relaxed)))
    }

    /// Adds one step's counts.
    pub(crate) fn add(&self, step: &CommStats) {
        for (cell, v) in self.0.iter().zip(step.to_words()) {
            cell.fetch_add(v, Ordering::Relaxed);
        }
    }
}
