//! Integration tests of nn-train.

#![allow(clippy::unwrap_used, reason = "tests")]

mod optim;
mod schedule;
