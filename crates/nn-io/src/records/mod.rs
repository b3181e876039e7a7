//! The private records that files are made of: plain structs and enums with serde derives, one
//! set per format version, mirrors of the public types of `nn-core` (which has no serde) and
//! `nn-train` (whose serde support was removed so that its public types can change freely).
//!
//! # The rules
//! - A version's records are frozen once released: their fields, their order and their enum
//!   variants never change, so files of that version decode forever. A new version defines new
//!   records only for what changed, and reuses the older ones for what did not.
//! - Records are converted to and from the public types here, and only here: adding a field to
//!   a public type (say `TrainConfig`) changes no file. A new field is not saved until a new
//!   format version stores it; loading an older file gives it its default.
//! - Sizes are `u64` in records (serde encodes `usize` as `u64` too, so version 1's bytes are
//!   unchanged), and converted with a check on 32-bit targets.
//! - The committed fixtures (`tests/fixtures/`) of every version load with their exact values,
//!   and the current version's fixtures must also be reproduced byte for byte by the writer:
//!   any change to the current records fails that test.

pub(crate) mod model;
#[cfg(feature = "train")]
pub(crate) mod training;

use crate::CheckpointError;

/// A size read from a file, as a `usize` of this platform.
pub(crate) fn size(value: u64, what: &str) -> Result<usize, CheckpointError> {
    usize::try_from(value).map_err(|_| CheckpointError::Decode {
        message: format!("{what} = {value} does not fit this platform's usize"),
    })
}
