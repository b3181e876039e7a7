//! Encoding a table for a network, the test metrics of each task and their last line, and the
//! `eval` command.

use std::path::Path;

use anyhow::{Context, Result, bail};
use nn::io::AnyNetwork;
use nn::io::tabular::{EncodedTargets, Preprocessor, Table, Task};
use nn::linalg::{Mat, MatRef};
use nn::net::metrics::{
    ClassMetrics, ConfusionMatrix, MultilabelMetrics, MultilabelStats, OutputMetrics,
    RegressionMetrics, RegressionStats,
};
use nn::net::{Float, Network};
use nn::train::{Dataset, evaluate};

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

/// The test metrics of a network, as `nn_core::metrics` computes them (scikit-learn's
/// definitions; several targets are averaged with equal weights).
pub(crate) enum Scores {
    Classification {
        accuracy: f64,
        loss: f64,
        confusion: ConfusionMatrix,
    },
    /// In the targets' units.
    Regression {
        per_target: Vec<OutputMetrics>,
        overall: RegressionMetrics,
    },
    /// A label is predicted where its probability is ≥ 0.5.
    Multilabel {
        per_label: Vec<ClassMetrics>,
        overall: MultilabelMetrics,
    },
}

/// `values` (`rows` per sample, sample after sample) as a rows × samples matrix.
fn columns<T: Float>(values: &[T], rows: usize) -> Result<MatRef<'_, T>> {
    if rows == 0 || !values.len().is_multiple_of(rows) {
        bail!("{} values are not samples of {rows} targets", values.len());
    }
    Ok(MatRef::from_column_major_slice(values, rows, values.len() / rows))
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
            let proba = net.predict_proba(data.dataset.inputs())?;
            let outputs: Vec<T> =
                (0..proba.ncols()).flat_map(|j| proba.col_as_slice(j).to_vec()).collect();
            let predicted = pre.outputs_to_original(&outputs)?;
            let mut stats = RegressionStats::new(*n_targets);
            stats.add(columns(&predicted, *n_targets)?, columns(original, *n_targets)?)?;
            Scores::Regression { per_target: stats.per_output()?, overall: stats.finish()? }
        }
        EncodedTargets::Multilabel { values, n_labels } => {
            let proba = net.predict_proba(data.dataset.inputs())?;
            let mut stats = MultilabelStats::new(*n_labels);
            stats.add(proba.as_ref(), columns(values, *n_labels)?)?;
            Scores::Multilabel { per_label: stats.per_label(), overall: stats.finish()? }
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
            Scores::Multilabel { overall: s, .. } => format!(
                "test_subset_accuracy={:.4} test_micro_f1={:.4}",
                s.subset_accuracy, s.micro_f1
            ),
        }
    }

    /// A table of the metrics per class, target or label.
    pub(crate) fn details(&self, pre: &Preprocessor) -> Vec<String> {
        let names = pre.output_names();
        let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(5).clamp(5, 24);
        let name =
            |k: usize| names.get(k).map_or(String::new(), |n| n.chars().take(width).collect());
        let label_rows = |scores: &[ClassMetrics]| -> Vec<String> {
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
                let mut lines = label_rows(&confusion.per_class());
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
            Scores::Multilabel { per_label, .. } => label_rows(per_label),
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
