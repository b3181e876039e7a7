//! Fully connected networks, forward and backward propagation exactly as derived in
//! `docs/derivation.md` (tags F1–F3, B1–B3, L1–L3, R1).
//!
//! # Notation
//! | symbol | here | shape |
//! |---|---|---|
//! | `Θ^(l)` | [`Dense::theta`] | n × (m+1), column 0 = biases `b`, columns 1..=m = weights `W` |
//! | `z^(l)`, `a^(l)`, `δ^(l)` | [`Workspace::z`], [`Workspace::a`], [`Workspace::delta`] | units × B |
//! | `B` | batch size | samples are **columns** |
//! | `g`, `g'` | [`Activation`] | element-wise |
//! | `J` | [`Loss`] (+ R1) | mean over the batch |
//!
//! # What is here
//! - [`Dense`]: Θ stored as the derivation has it, with zero-copy views of `W` and `b`.
//! - [`Activation`]: sigmoid, tanh, ReLU, leaky ReLU, ELU, GELU (erf and tanh forms), SiLU,
//!   softplus, identity, each with `g'`.
//! - [`Loss`]: mean squared error (L1), softmax + cross-entropy (L2), sigmoid + binary
//!   cross-entropy (L3), fused and numerically stable; optional class weights; L2 penalty R1.
//! - [`Network`]: forward ([`Network::forward_into`]) and backward
//!   ([`ForwardPass::backward_into`], on the value the forward pass returns, so it always sees
//!   that pass's input and parameters) into reusable [`Workspace`] and [`Gradients`] buffers,
//!   allocation-free after they are built; [`Network::predict`] and [`Network::predict_proba`]
//!   as allocating conveniences.
//! - [`MseScale`]: the derivation's ½ Σ over the outputs, or scikit-learn's and PyTorch's means.
//! - [`metrics`]: accuracy, confusion matrix, precision/recall/F1, top-k, MSE/RMSE/MAE/R²,
//!   subset accuracy, Hamming loss and micro-F1, from outputs and targets.
//! - [`Predictor`]: batched inference on any number of samples without allocation, a batch-1 fast
//!   path, and (feature `rayon`) several threads, with the same bits for any thread count.
//! - [`Init`] and [`rng`]: Xavier and He initialisation from an explicit, seeded, portable RNG.
//! - [`gradcheck`]: central differences in f64 against B3, for any network.
//!
//! What it deliberately does not do: files, serialization, optimizers, training loops (those are
//! `nn-io` and `nn-train`). It starts no threads: only the opt-in `rayon` feature lets a
//! [`Predictor`] run in the caller's rayon pool. It prints nothing.
//!
//! The element-wise math (activations, softmax, the cross-entropies, bias broadcast and row
//! sums) runs in SIMD with run-time dispatch through `nn_linalg::vmath`: f32 with polynomial
//! approximations of documented accuracy, f64 with `std`/`libm` exactly.
//!
//! # Example
//! ```
//! use nn_core::{Activation, Gradients, Loss, Network, Targets, Workspace};
//! use nn_core::rng::{ChaCha8Rng, SeedableRng};
//! use nn_linalg::Mat;
//!
//! let mut rng = ChaCha8Rng::seed_from_u64(0);
//! let net: Network<f32> = Network::builder(2, Loss::SoftmaxCrossEntropy)
//!     .layer(8, Activation::Tanh)
//!     .layer(2, Activation::Identity)
//!     .build(&mut rng)?;
//! let x = Mat::<f32>::from_fn(2, 4, |i, j| ((i + j) % 2) as f32); // 4 samples as columns
//! let y = [0, 1, 1, 0];
//!
//! let mut ws = Workspace::for_network(&net, 4)?; // allocated once
//! let mut grads = Gradients::zeros_like(&net);
//! let pass = net.forward_into(x.as_ref(), &mut ws)?; // F1–F3
//! let loss = pass.backward_into(Targets::Classes(&y), &mut grads)?; // B1–B3, L2
//! assert!(loss > 0.0 && grads.global_norm() > 0.0);
//! # Ok::<(), nn_core::Error>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod activation;
mod dense;
mod dropout;
mod error;
pub mod gradcheck;
mod inference;
mod init;
mod loss;
pub mod metrics;
mod mse_scale;
mod network;
pub mod rng;
mod task;
mod workspace;

pub use activation::{Activation, ParseActivationError};
pub use dense::{Dense, MAX_LAYER_PARAMS, MAX_LAYER_WIDTH};
pub use dropout::Dropout;
pub use error::Error;
pub use inference::Predictor;
pub use init::{Init, ParseInitError};
pub use loss::{Loss, ParseLossError, Targets};
pub use mse_scale::{MseScale, ParseMseScaleError};
pub use network::{ForwardPass, Network, NetworkBuilder, argmax};
pub use nn_linalg::{Float, Par};
pub use task::{ParseTaskError, Task};
pub use workspace::{Gradients, MAX_BATCH, Workspace};
