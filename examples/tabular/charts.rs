//! Charts: learning curves and confusion matrices, drawn by the mnist example's plot module
//! and written atomically.

use std::path::{Path, PathBuf};

use anyhow::Result;
use nn::train::{ConfusionMatrix, EpochReport};

use crate::plot;

/// Loss (and accuracy, for classification) per epoch, written atomically: drawn into a
/// temporary file next to `path`, then renamed over it.
pub(crate) fn plot_history(
    path: &Path,
    history: &[EpochReport],
    has_validation: bool,
) -> Result<()> {
    let eval_name = if has_validation { "validation" } else { "test" };
    let series = |name: &str, f: &dyn Fn(&EpochReport) -> Option<f64>| plot::Series {
        name: name.to_owned(),
        points: history.iter().filter_map(|h| f(h).map(|v| ((h.epoch + 1) as f64, v))).collect(),
    };
    let mut charts = vec![plot::LineChart {
        title: "loss".to_owned(),
        x_label: "epoch".to_owned(),
        y_label: "loss".to_owned(),
        series: vec![
            series("train", &|h| Some(h.train_loss)),
            series(eval_name, &|h| h.validation.as_ref().map(|v| v.loss)),
        ],
    }];
    if history.iter().any(|h| h.train_accuracy.is_some()) {
        charts.push(plot::LineChart {
            title: "accuracy".to_owned(),
            x_label: "epoch".to_owned(),
            y_label: "accuracy".to_owned(),
            series: vec![
                series("train", &|h| h.train_accuracy),
                series(eval_name, &|h| h.validation.as_ref().and_then(|v| v.accuracy)),
            ],
        });
    }
    atomically(path, |tmp| plot::save_line_charts(tmp, &charts))
}

/// The confusion matrix of a classification as a heatmap (`.png` or `.svg`), written
/// atomically.
pub(crate) fn plot_confusion(
    path: &Path,
    confusion: &ConfusionMatrix,
    names: &[String],
) -> Result<()> {
    let n = confusion.n_classes();
    let counts: Vec<u64> = (0..n)
        .flat_map(|t| (0..n).map(move |p| (t, p)))
        .map(|(t, p)| confusion.count(t, p))
        .collect();
    atomically(path, |tmp| plot::save_confusion_matrix(tmp, &counts, n, names, "confusion matrix"))
}

/// Draws into a temporary file next to `path` (same extension, so the format is the same),
/// then renames it over `path`: a reader or a crash sees the old file or the new one.
fn atomically(path: &Path, draw: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let ext = path.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp: PathBuf = path.with_file_name(format!(".{name}.tmp.{}.{ext}", std::process::id()));
    let written =
        draw(&tmp).and_then(|()| std::fs::rename(&tmp, path).map_err(anyhow::Error::from));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e.context(format!("cannot write the plot {}", path.display())));
    }
    Ok(())
}
