//! Integration tests of `nn-core`, built as one binary (ripgrep's layout) to keep link time down.

mod errors;
mod golden;
mod gradcheck;
mod properties;
mod support;
