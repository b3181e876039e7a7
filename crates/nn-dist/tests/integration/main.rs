//! Integration tests of nn-dist: ranks as threads of the test process (the exact arithmetic, the
//! protocol, the faults), and, with the `mpi` feature, the same under `mpirun`.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "tests: a failure should stop them, with the value that failed"
)]

mod collectives;
mod exact;
mod faults;
#[cfg(feature = "mpi")]
mod mpi;
mod support;
