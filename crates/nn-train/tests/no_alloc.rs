//! No-allocation test of the training step.
