//! Mini-batch training of `nn-core` networks.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
pub mod optim;
pub mod schedule;

pub use error::Error;
