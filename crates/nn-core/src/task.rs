//! What a network learns: classes, real values, or independent labels.

use std::fmt;
use std::str::FromStr;

use crate::Loss;

/// What the targets are, which fixes the loss, the network's outputs and the metrics that
/// measure it (nn-train's `evaluate`, nn-io's tables). One task per loss of the derivation
/// (L1–L3): like [`Loss`], the enum is exhaustive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Task {
    /// One class per sample: one output per class, softmax cross-entropy (L2); accuracy,
    /// top-5 accuracy, confusion matrix, precision, recall, F1.
    Classification,
    /// Real-valued targets: one output each, mean squared error (L1); MSE, RMSE, MAE, R².
    Regression,
    /// A 0/1 indicator per label, each independent: one output each, sigmoid binary
    /// cross-entropy (L3); subset accuracy, Hamming loss, micro- and macro-F1.
    Multilabel,
}

impl Task {
    /// `classification`, `regression` or `multilabel` (also what [`FromStr`] reads).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Task::Classification => "classification",
            Task::Regression => "regression",
            Task::Multilabel => "multilabel",
        }
    }

    /// The loss a network trained for this task uses: softmax cross-entropy, mean squared
    /// error, or sigmoid binary cross-entropy. Its last layer has the identity activation.
    #[must_use]
    pub fn loss(self) -> Loss {
        match self {
            Task::Classification => Loss::SoftmaxCrossEntropy,
            Task::Regression => Loss::MeanSquaredError,
            Task::Multilabel => Loss::SigmoidBinaryCrossEntropy,
        }
    }
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A string that names no [`Task`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown task {0:?}: expected classification, regression or multilabel")]
pub struct ParseTaskError(pub String);

impl FromStr for Task {
    type Err = ParseTaskError;

    /// Any case, with or without `-` or `_` (`multi-label` too).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "classification" => Ok(Task::Classification),
            "regression" => Ok(Task::Regression),
            "multilabel" => Ok(Task::Multilabel),
            _ => Err(ParseTaskError(s.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_fix_the_loss() {
        for task in [Task::Classification, Task::Regression, Task::Multilabel] {
            assert_eq!(task.name().parse::<Task>(), Ok(task));
            assert_eq!(task.to_string(), task.name());
        }
        assert_eq!("Multi-Label".parse::<Task>(), Ok(Task::Multilabel));
        assert_eq!(Task::Regression.loss(), Loss::MeanSquaredError);
        let err = "ranking".parse::<Task>().unwrap_err();
        assert!(err.to_string().contains("\"ranking\""), "{err}");
    }
}
