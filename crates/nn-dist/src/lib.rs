//! Data-parallel training of `nn` networks across processes and machines, with results
//! **bit-identical** to training in one process.
//!
//! A [`Group`] is this process's membership of a group of processes (over MPI with the `mpi`
//! feature, or threads of this process standing in for processes). Each process runs a contiguous
//! run of the batch's shards ([`TrainConfig::n_shards`](nn_train::TrainConfig::n_shards), the
//! global count), and a [`ChainReducer`] sums the shard gradients of all processes with exactly
//! the additions of the single-process trainer, in the same order: a chain in rank order,
//! pipelined in chunks, the total sent back down the chain (see [`chain`]). Every process then
//! applies the same update to the same parameters. MPI's own all-reduce is not used: it does not
//! fix the order of the additions.
//!
//! # Using it
//! 1. `Group::mpi` (feature `mpi`; under `mpirun`), or [`Group::threads`].
//! 2. Every process loads the data and builds the configuration, then [`Group::agree`] compares
//!    their [`Fingerprint`]s: a different configuration or data set is an error in every process.
//! 3. [`Group::broadcast_parameters`] gives every process rank 0's network (or rank 0 sends a
//!    whole checkpoint with [`Group::broadcast_bytes`]).
//! 4. [`Trainer::with_reducer`](nn_train::Trainer::with_reducer) with
//!    [`Group::chain_reducer`], then train as usual: every process runs `fit` on the whole data set
//!    (each gathers only its shards' samples) and ends with the same parameters; rank 0 saves.
//!
//! # Faults
//! A process that waits longer than [`Options::timeout`] for a peer declares it lost: over MPI it
//! logs a `tracing` error naming the peer and aborts the job (`MPI_Abort`); in-process groups
//! return [`Error::Timeout`]. (A process killed under `mpirun` makes `mpirun` itself end the job
//! within about a second, naming the rank.) A non-finite gradient, or a failure in one process's
//! shards, travels with the sums: every process stops at the same step with the same error.
//!
//! # What it does not do
//! It prints nothing and writes no files. Over MPI it uses point-to-point messages on
//! `MPI_COMM_WORLD` only, with tags 1 to 30,002 (an application should not use the same
//! communicator for its own messages during training).
//!
//! # Example
//! ```
//! use nn_core::rng::{ChaCha8Rng, SeedableRng};
//! use nn_core::{Activation, Loss, Network};
//! use nn_dist::{Fingerprint, Group, Options};
//! use nn_linalg::Mat;
//! use nn_train::optim::OptimizerConfig;
//! use nn_train::{Dataset, NoObserver, TrainConfig, Trainer};
//!
//! fn train(group: Group) -> Result<Vec<f32>, Box<dyn std::error::Error + Send + Sync>> {
//!     let x = Mat::<f32>::from_fn(2, 4, |i, j| ((j >> i) & 1) as f32);
//!     let data = Dataset::classification(x, vec![0, 1, 1, 0], 2)?;
//!     let config = TrainConfig::new(4, 0.5, OptimizerConfig::sgd().with_momentum(0.9)).with_epochs(50).with_shards(2);
//!     group.agree(&Fingerprint::new().with_config_of(&config).with_data(&data))?;
//!     let mut net: Network<f32> = Network::builder(2, Loss::SoftmaxCrossEntropy)
//!         .layer(8, Activation::Tanh)
//!         .layer(2, Activation::Identity)
//!         .build(&mut ChaCha8Rng::seed_from_u64(group.rank() as u64))?; // different...
//!     group.broadcast_parameters(&mut net)?; // ...until every rank takes rank 0's
//!     let reducer = group.chain_reducer(&net)?;
//!     let mut trainer = Trainer::new(&net, config)?.with_reducer(&net, reducer)?;
//!     trainer.fit(&mut net, &data, None, &mut NoObserver)?;
//!     Ok(net.layers()[0].theta_col_major())
//! }
//!
//! let groups = Group::threads(2, Options::default())?;
//! let results: Vec<_> = std::thread::scope(|s| {
//!     let handles: Vec<_> = groups.into_iter().map(|g| s.spawn(move || train(g))).collect();
//!     handles.into_iter().map(|h| h.join().expect("no panic")).collect()
//! });
//! let first = results[0].as_ref().expect("trained");
//! assert!(results.iter().all(|r| r.as_ref().is_ok_and(|p| p == first)));
//! # Ok::<(), nn_dist::Error>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod chain;
mod error;
mod fingerprint;
mod group;
mod layout;
mod link;
#[cfg(feature = "mpi")]
mod mpi_link;
mod options;
mod stats;
mod threads;

pub use chain::ChainReducer;
pub use error::{Difference, Error, FailureCause};
pub use fingerprint::{Fingerprint, dataset_digest};
pub use group::Group;
pub use link::Element;
pub use options::Options;
pub use stats::{CommStats, StatsHandle};
