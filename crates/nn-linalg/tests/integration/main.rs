//! Integration tests of `nn-linalg`, built as one binary to keep link time down.

#![allow(
    clippy::unwrap_used,
    clippy::float_cmp,
    reason = "tests: a failure should stop them; exact comparisons are intended"
)]

mod upper_state;
mod vmath;
