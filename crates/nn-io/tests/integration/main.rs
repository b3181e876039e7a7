//! Integration tests of nn-io, built as one binary: the IDX reader, model and checkpoint files,
//! safetensors and ONNX export.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::float_cmp,
    reason = "tests: a failure should stop them; exact comparisons are intended"
)]

#[cfg(feature = "train")]
mod checkpoint;
mod fixtures;
mod format_v1;
mod format_v2;
#[cfg(feature = "train")]
mod format_v3;
mod idx;
mod model;
mod mutations;
mod onnx;
mod safetensors;
mod support;
#[cfg(feature = "tabular")]
mod tabular;
