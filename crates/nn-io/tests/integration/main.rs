//! Integration tests of nn-io, built as one binary.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::float_cmp,
    reason = "tests: a failure should stop them; exact comparisons are intended"
)]

mod idx;
