//! The settings of a process group.

use std::time::Duration;

use crate::Error;

/// How a [`Group`](crate::Group) communicates. Build with [`Options::default`] and the `with_*`
/// methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// How long a process waits for a peer during training before it declares the peer lost and
    /// stops the group. It must exceed the longest pause of any process between two steps (rank 0
    /// writing a checkpoint, every rank evaluating the validation set). Default: 10 s.
    pub timeout: Duration,
    /// The same for start-up (the agreement and the first broadcast), which waits for every
    /// process to load its data. Default: 120 s.
    pub startup_timeout: Duration,
    /// The target size, in elements, of the pieces the gradient travels in: the reduction is
    /// pipelined piece by piece, so that ranks add and send at the same time. Pieces hold whole
    /// columns of one layer. Default: 16,384 (64 KiB of `f32`).
    pub chunk_elems: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timeout: Duration::from_secs(10),
            startup_timeout: Duration::from_secs(120),
            chunk_elems: 1 << 14,
        }
    }
}

impl Options {
    /// Sets [`Options::timeout`].
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets [`Options::startup_timeout`].
    #[must_use]
    pub fn with_startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// Sets [`Options::chunk_elems`].
    #[must_use]
    pub fn with_chunk_elems(mut self, chunk_elems: usize) -> Self {
        self.chunk_elems = chunk_elems;
        self
    }

    /// Checks every value.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] for a zero timeout or a piece size outside 1 to 2^24.
    pub fn validate(&self) -> Result<(), Error> {
        for (name, t) in [("timeout", self.timeout), ("startup_timeout", self.startup_timeout)] {
            if t.is_zero() {
                return Err(Error::InvalidOption {
                    name,
                    value: t.as_secs_f64(),
                    expected: "more than 0 seconds",
                });
            }
        }
        if !(1..=1 << 24).contains(&self.chunk_elems) {
            return Err(Error::InvalidOption {
                name: "chunk_elems",
                value: self.chunk_elems as f64,
                expected: "1 to 2^24",
            });
        }
        Ok(())
    }
}
