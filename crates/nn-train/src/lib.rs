//! Mini-batch training of `nn-core` networks: data sets, optimizers, learning-rate schedules,
//! metrics, and a trainer whose data-parallel steps are bit-reproducible.
//!
//! # Parallelism and determinism
//! A batch is cut into a fixed number of shards ([`TrainConfig::n_shards`], part of the
//! configuration, independent of the thread count). Each shard runs forward and backward with
//! sequential GEMMs on its own workspace, on a rayon pool of [`TrainConfig::n_threads`] threads
//! owned by the [`Trainer`] (the global pool is never configured), and the shard gradients are
//! summed in shard order after all of them finish. Dropout masks come from a random stream that
//! depends on the seed, the step and the shard only, and the random shifts of
//! [`TrainConfig::random_shift`] from one that depends on the seed and the step only. So the same seed gives bit-identical
//! parameters with 1, 2, 4 or 8 threads.
//!
//! # What it does not do
//! It prints nothing: it emits `tracing` spans and events (epoch, batch, loss, accuracy, learning
//! rate, samples/s). It reads and writes no files (`nn-io` does).
//!
//! # Example
//! ```
//! use nn_core::rng::{ChaCha8Rng, SeedableRng};
//! use nn_core::{Activation, Loss, Network};
//! use nn_linalg::Mat;
//! use nn_train::optim::OptimizerConfig;
//! use nn_train::{Dataset, NoObserver, TrainConfig, Trainer};
//!
//! // XOR: 4 samples as columns.
//! let x = Mat::<f32>::from_fn(2, 4, |i, j| ((j >> i) & 1) as f32);
//! let data = Dataset::classification(x, vec![0, 1, 1, 0], 2)?;
//! let mut net: Network<f32> = Network::builder(2, Loss::SoftmaxCrossEntropy)
//!     .layer(8, Activation::Tanh)
//!     .layer(2, Activation::Identity)
//!     .build(&mut ChaCha8Rng::seed_from_u64(1))?;
//! let config = TrainConfig::new(4, 0.5, OptimizerConfig::sgd().with_momentum(0.9)).with_epochs(200);
//! let mut trainer = Trainer::new(&net, config)?;
//! trainer.fit(&mut net, &data, None, &mut NoObserver)?;
//! assert_eq!(net.predict(data.inputs())?, vec![0, 1, 1, 0]);
//! # Ok::<(), nn_train::Error>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod augment;
mod config;
pub mod data;
mod error;
pub mod metrics;
pub mod optim;
pub mod reduce;
mod report;
pub mod schedule;
mod state;
mod trainer;

pub use augment::RandomShift;
pub use config::{EarlyStopping, Parallelism, TrainConfig};
pub use data::{Batch, Dataset, ParseTaskError, TargetData, Task};
pub use error::{Error, ReductionError, ThreadPoolError};
pub use metrics::{
    ClassMetrics, ConfusionMatrix, Evaluation, MultilabelMetrics, RegressionMetrics, evaluate,
};
pub use reduce::{GradientReducer, LocalReducer, LocalShards, StepTotals};
pub use report::{BatchReport, Control, EpochReport, FitReport, NoObserver, Observer};
pub use state::{EarlyStoppingState, EpochProgress, RngState, TrainerState};
pub use trainer::Trainer;
