//! `nn`: fully connected neural networks on the CPU, forward and backward propagation exactly as
//! derived in `docs/derivation.md`.
//!
//! This package is a facade: it re-exports the workspace's crates under short names, so an
//! application can depend on one package. Libraries should depend on the crate they need.
//! - [`linalg`] (`nn-linalg`): shape-checked GEMM into caller buffers, explicit parallelism.
//! - [`net`] (`nn-core`): layers, activations, losses, the network, forward and backward passes.
//! - [`train`] (`nn-train`): data sets, optimizers, schedules, metrics, the data-parallel trainer.
//! - [`io`] (`nn-io`): files: IDX data sets (MNIST-like), checkpoints, weight export.
//! - `dist` (`nn-dist`, feature `mpi`): training across processes and machines over MPI,
//!   bit-identical to one process.
//!
//! ```
//! use nn::linalg::Mat;
//! use nn::net::rng::{ChaCha8Rng, SeedableRng};
//! use nn::net::{Activation, Loss, Network};
//!
//! let mut rng = ChaCha8Rng::seed_from_u64(0);
//! let net: Network<f32> = Network::builder(4, Loss::SoftmaxCrossEntropy)
//!     .layer(8, Activation::Relu)
//!     .layer(3, Activation::Identity)
//!     .build(&mut rng)?;
//! let x = Mat::<f32>::from_fn(4, 5, |i, j| (i + j) as f32 / 10.0);
//! let classes = net.predict(x.as_ref())?;
//! assert_eq!(classes.len(), 5);
//! # Ok::<(), nn::net::Error>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use nn_core as net;
#[cfg(feature = "mpi")]
pub use nn_dist as dist;
pub use nn_io as io;
pub use nn_linalg as linalg;
pub use nn_train as train;

/// The README's Rust examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
