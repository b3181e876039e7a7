//! Integration tests of `nn-core`, built as one binary (ripgrep's layout) to keep link time down.

#![allow(
    clippy::unwrap_used,
    clippy::float_cmp,
    reason = "tests: a failure should stop them; exact comparisons are intended"
)]

mod errors;
mod golden;
mod gradcheck;
mod inference;
mod properties;
mod support;
