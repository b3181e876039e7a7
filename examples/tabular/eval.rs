//! Encoding a table for a network, the test metrics of each task and their last line, and the
//! `eval` command.

use std::path::Path;

use anyhow::{Context, Result, bail};
use nn::io::AnyNetwork;
use nn::io::tabular::{EncodedTargets, Preprocessor, Table, Task};
use nn::linalg::Mat;
use nn::net::{Float, Network};
use nn::train::{ConfusionMatrix, Dataset, evaluate};

use crate::metrics::{self, LabelScores, MultilabelScores, RegressionScores};
use crate::output::{Out, warning};
use crate::{EvalArgs, charts, check_output, load_model, plot, read_table};

/// A table encoded for a network: inputs and targets as a data set, and the targets as the
/// preprocessing gives them (in their units, for metrics).
pub(crate) struct Encoded<T: Float> {
    pub(crate) dataset: Dataset<T>,
    pub(crate) targets: EncodedTargets<T>,
}

/// Encodes the inputs and targets of `table` (read from `path`, for messages); warnings about
/// categories not seen in training go to stderr.
pub(crate) fn encode<T: Float>(
    pre: &Preprocessor,
    table: &Table,
    path: &Path,
) -> Result<Encoded<T>> {
    let at = || path.display().to_string();
    let inputs = pre.transform_inputs::<T>(table).with_context(at)?;
    for w in &inputs.warnings {
        warning(format!("{}: {w}", path.display()));
    }
    let targets = pre.transform_targets::<T>(table).with_context(at)?;
    let x = Mat::from_fn(inputs.n_inputs, inputs.n_samples, |i, j| {
        inputs.values[j * inputs.n_inputs + i]
    });
    let matrix =
        |values: &[T], n: usize| Mat::from_fn(n, inputs.n_samples, |i, j| values[j * n + i]);
    let dataset = match &targets {
        EncodedTargets::Classes { labels, n_classes } => {
            Dataset::classification(x, labels.clone(), *n_classes)?
        }
        EncodedTargets::Regression { values, n_targets, .. } => {
            Dataset::regression(x, matrix(values, *n_targets))?
        }
        EncodedTargets::Multilabel { values, n_labels } => {
            Dataset::multilabel(x, matrix(values, *n_labels))?
        }
    };
    Ok(Encoded { dataset, targets })
}

/// The test metrics of a network.
pub(crate) enum Scores {
    Classification { accuracy: f64, loss: f64, confusion: ConfusionMatrix },
    Regression { per_target: Vec<RegressionScores>, overall: RegressionScores },
    Multilabel(MultilabelScores),
}

/// The network's outputs for every sample, sample after sample, in f64.
fn outputs<T: Float>(net: &Network<T>, data: &Dataset<T>) -> Result<Vec<T>> {
    let proba = net.predict_proba(data.inputs())?;
    Ok((0..proba.ncols()).flat_map(|j| proba.col_as_slice(j).to_vec()).collect())
}

/// Scores `net` on `data`.
pub(crate) fn score<T: Float>(
    net: &Network<T>,
    pre: &Preprocessor,
    data: &Encoded<T>,
) -> Result<Scores> {
    Ok(match &data.targets {
        EncodedTargets::Classes { .. } => {
            let eval = evaluate(net, &data.dataset, 1000)?;
            let confusion = eval.confusion.context("no confusion matrix for class labels")?;
            Scores::Classification { accuracy: confusion.accuracy(), loss: eval.loss, confusion }
        }
        EncodedTargets::Regression { original, n_targets, .. } => {
            let predicted = pre.outputs_to_original(&outputs(net, &data.dataset)?)?;
            let (per_target, overall) = metrics::regression(&predicted, original, *n_targets);
            Scores::Regression { per_target, overall }
        }
        EncodedTargets::Multilabel { values, n_labels } => {
            let probabilities: Vec<f64> =
                outputs(net, &data.dataset)?.iter().map(|v| v.to_f64()).collect();
            let truth: Vec<f64> = values.iter().map(|v| v.to_f64()).collect();
            Scores::Multilabel(metrics::multilabel(&probabilities, &truth, *n_labels))
        }
    })
}

impl Scores {
    /// The last line of `train` and `eval`.
    pub(crate) fn final_line(&self) -> String {
        match self {
            Scores::Classification { accuracy, loss, .. } => {
                format!("test_accuracy={accuracy:.4} test_loss={loss:.4}")
            }
            Scores::Regression { overall: s, .. } => {
                format!("test_r2={:.4} test_rmse={:.4} test_mae={:.4}", s.r2, s.rmse, s.mae)
            }
            Scores::Multilabel(s) => format!(
                "test_subset_accuracy={:.4} test_micro_f1={:.4}",
                s.subset_accuracy, s.micro.f1
            ),
        }
    }

    /// A table of the metrics per class, target or label.
    pub(crate) fn details(&self, pre: &Preprocessor) -> Vec<String> {
        let names = pre.output_names();
        let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(5).clamp(5, 24);
        let name =
            |k: usize| names.get(k).map_or(String::new(), |n| n.chars().take(width).collect());
        let label_rows = |scores: &[LabelScores]| -> Vec<String> {
            let mut lines = vec![format!("{:>width$}  precision  recall      f1  support", "")];
            for (k, s) in scores.iter().enumerate() {
                lines.push(format!(
                    "{:>width$}  {:>9.4}  {:>6.4}  {:>6.4}  {:>7}",
                    name(k),
                    s.precision,
                    s.recall,
                    s.f1,
                    s.support
                ));
            }
            lines
        };
        match self {
            Scores::Classification { confusion, .. } => {
                let per_class: Vec<LabelScores> = confusion
                    .per_class()
                    .iter()
                    .map(|m| LabelScores {
                        precision: m.precision,
                        recall: m.recall,
                        f1: m.f1,
                        support: usize::try_from(m.support).unwrap_or(usize::MAX),
                    })
                    .collect();
                let mut lines = label_rows(&per_class);
                lines.push(format!("macro F1 {:.4}", confusion.macro_f1()));
                lines
            }
            Scores::Regression { per_target, .. } => {
                let mut lines = vec![format!("{:>width$}      r2        rmse         mae", "")];
                for (k, s) in per_target.iter().enumerate() {
                    lines.push(format!(
                        "{:>width$}  {:>6.4}  {:>10.4}  {:>10.4}",
                        name(k),
                        s.r2,
                        s.rmse,
                        s.mae
                    ));
                }
                lines
            }
            Scores::Multilabel(s) => label_rows(&s.per_label),
        }
    }
}

pub(crate) fn run(args: &EvalArgs, out: &mut Out) -> Result<()> {
    let options = args.csv.options()?;
    if let Some(path) = &args.plot {
        check_output(path, "--plot")?;
        plot::check_extension(path)?;
    }
    let (net, _, pre) = load_model(&args.model)?;
    if args.plot.is_some() && pre.task() != Task::Classification {
        bail!(
            "--plot draws a confusion matrix: it needs a classification model, this one is {}",
            pre.task()
        );
    }
    let table = read_table(&args.test, &options)?;
    match net {
        AnyNetwork::F32(net) => eval_as(&net, &pre, &table, args, out),
        AnyNetwork::F64(net) => eval_as(&net, &pre, &table, args, out),
    }
}

fn eval_as<T: Float>(
    net: &Network<T>,
    pre: &Preprocessor,
    table: &Table,
    args: &EvalArgs,
    out: &mut Out,
) -> Result<()> {
    let data = encode::<T>(pre, table, &args.test)?;
    let scores = score(net, pre, &data)?;
    out.line(format!(
        "{} on {} rows of {}",
        pre.task(),
        data.dataset.n_samples(),
        args.test.display()
    ))?;
    for line in scores.details(pre) {
        out.line(line)?;
    }
    if let (Some(path), Scores::Classification { confusion, .. }) = (&args.plot, &scores) {
        charts::plot_confusion(path, confusion, &pre.output_names())?;
        out.line(format!("saved the confusion matrix to {}", path.display()))?;
    }
    out.line(scores.final_line())
}
