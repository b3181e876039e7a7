//! Integration tests of nn-train, built as one binary.

#![allow(
    clippy::unwrap_used,
    clippy::float_cmp,
    reason = "tests: a failure should stop them; exact comparisons are intended"
)]

mod defects;
mod determinism;
mod errors;
mod optim;
mod schedule;
mod smoothing;
mod support;
mod train;
