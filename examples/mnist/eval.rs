//! `mnist eval`: a saved model on the test set: accuracy, loss, the confusion matrix (a table
//! whose rows and columns are numbered alike, and a picture), per-class precision, recall and F1.

use anyhow::{Context, Result, anyhow};
use nn::io::{AnyNetwork, LoadedModel, ModelMetadata};
use nn::net::{Float, Network};
use nn::train::evaluate;
use nn::train::metrics::ConfusionMatrix;

use crate::args::EvalArgs;
use crate::data;
use crate::memory;
use crate::outputs::{self, Named};
use crate::plot;
use crate::report::{Out, outln};

/// Loads a model file or a training checkpoint for `eval` and `predict`.
pub(crate) fn load_model(path: &std::path::Path) -> Result<LoadedModel> {
    memory::check_file(path, "--model")?;
    nn::io::load_model(path).context("--model")
}

pub(crate) fn run(args: &EvalArgs) -> Result<()> {
    let mut out = Out::stdout();
    if let Some(path) = &args.plot {
        plot::check_extension(path).context("--plot")?;
        let mut inputs = outputs::data_files(&args.data.data);
        inputs.push(Named::new("--model", &args.model));
        inputs.extend(args.data.classes.iter().map(|p| Named::new("--classes", p)));
        outputs::check(&[Named::new("--plot", path)], None, &inputs, &[])?;
    }
    let loaded = load_model(&args.model)?;
    match &loaded.network {
        AnyNetwork::F32(net) => eval_as(net, &loaded.metadata, args, &mut out),
        AnyNetwork::F64(net) => eval_as(net, &loaded.metadata, args, &mut out),
    }
}

fn eval_as<T: Float>(
    net: &Network<T>,
    metadata: &ModelMetadata,
    args: &EvalArgs,
    out: &mut Out,
) -> Result<()> {
    let raw = data::load(&args.data)?;
    data::check_fits(net.n_inputs(), net.n_outputs(), &raw.test)?;
    let names = data::names_for_model(&args.data, metadata, net.n_outputs())?;
    let test = data::to_dataset::<T>(&raw.test, raw.test.n_samples(), net.n_outputs())?;
    drop(raw);
    let eval = evaluate(net, &test, 1000)?;
    let confusion =
        eval.confusion.as_ref().ok_or_else(|| anyhow!("the model is not a classifier"))?;
    for line in confusion_table(confusion, &names) {
        outln!(out, "{line}")?;
    }
    outln!(
        out,
        "macro F1 {:.4}, top-5 accuracy {:.4}",
        confusion.macro_f1(),
        eval.top5_accuracy.unwrap_or(f64::NAN)
    )?;
    if let Some(path) = &args.plot {
        let n = confusion.n_classes();
        let counts: Vec<u64> = (0..n)
            .flat_map(|t| (0..n).map(move |p| (t, p)))
            .map(|(t, p)| confusion.count(t, p))
            .collect();
        plot::save_confusion_matrix(path, &counts, n, &names, "confusion matrix (test set)")
            .context("--plot")?;
        outln!(out, "saved the confusion matrix to {}", path.display())?;
    }
    outln!(
        out,
        "test_accuracy={:.4} test_loss={:.4}",
        eval.accuracy.unwrap_or(f64::NAN),
        eval.loss
    )?;
    out.flush()?;
    Ok(())
}

/// The confusion matrix and the per-class metrics as text. Rows are numbered and named, and the
/// columns carry the same numbers, which a legend line says.
fn confusion_table(confusion: &ConfusionMatrix, names: &[String]) -> Vec<String> {
    let n = confusion.n_classes();
    let number = (n.saturating_sub(1)).to_string().len();
    let label = |c: usize| {
        let name: String = names.get(c).map_or_else(String::new, |s| s.chars().take(14).collect());
        format!("{c:>number$} {name}")
    };
    let width = (0..n).map(|c| label(c).chars().count()).max().unwrap_or(5).max(5);
    let most = (0..n).flat_map(|t| (0..n).map(move |p| (t, p))).map(|(t, p)| confusion.count(t, p));
    let cell = most.max().unwrap_or(0).to_string().len().max(number) + 2;
    let mut lines = vec![
        "confusion matrix of the test set: one row per true class, one column per predicted class, numbered as the rows".to_owned(),
    ];
    let mut header = format!("{:<width$}", "");
    for c in 0..n {
        header.push_str(&format!("{c:>cell$}"));
    }
    lines.push(header);
    for t in 0..n {
        let mut row = format!("{:<width$}", label(t));
        for p in 0..n {
            row.push_str(&format!("{:>cell$}", confusion.count(t, p)));
        }
        lines.push(row);
    }
    lines.push(String::new());
    lines.push(format!("{:<width$}  precision  recall      f1  support", "class"));
    for (c, m) in confusion.per_class().iter().enumerate() {
        lines.push(format!(
            "{:<width$}  {:>9.4}  {:>6.4}  {:>6.4}  {:>7}",
            label(c),
            m.precision,
            m.recall,
            m.f1,
            m.support
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_columns_are_numbered_alike() {
        let mut confusion = ConfusionMatrix::new(3).unwrap();
        for (t, p) in [(0, 0), (0, 0), (1, 2), (2, 2), (2, 1)] {
            confusion.add(t, p).unwrap();
        }
        let names: Vec<String> = ["cat", "dog", "a very long class name"].map(String::from).into();
        let lines = confusion_table(&confusion, &names);
        assert!(lines[0].contains("numbered as the rows"));
        assert_eq!(lines[1].split_whitespace().collect::<Vec<_>>(), ["0", "1", "2"]);
        assert_eq!(lines[2].split_whitespace().collect::<Vec<_>>(), ["0", "cat", "2", "0", "0"]);
        assert!(lines[4].starts_with("2 a very long cl "), "{}", lines[4]);
        // The columns line up under their numbers.
        assert_eq!(lines[1].len(), lines[2].len());
        assert!(lines.iter().any(|l| l.starts_with("1 dog") && l.contains("0.0000")));
    }
}
