//! Regression and multi-label metrics over predictions and targets stored outputs × samples,
//! column-major (sample after sample).

/// R², RMSE and MAE of one target, or of all of them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct RegressionScores {
    /// The coefficient of determination `1 − SS_res / SS_tot`; for several targets, the mean of
    /// their R² (scikit-learn's `uniform_average`). A constant target scores 1 if predicted
    /// exactly, 0 otherwise (scikit-learn's `force_finite`).
    pub(crate) r2: f64,
    /// The root of the mean squared error over all values.
    pub(crate) rmse: f64,
    /// The mean absolute error over all values.
    pub(crate) mae: f64,
}

/// The scores of each target (`n_targets` per sample), then of all targets together.
pub(crate) fn regression(
    predicted: &[f64],
    truth: &[f64],
    n_targets: usize,
) -> (Vec<RegressionScores>, RegressionScores) {
    let n_samples = truth.len() / n_targets.max(1);
    let per_target: Vec<RegressionScores> = (0..n_targets)
        .map(|k| {
            let column =
                |v: &[f64]| v.iter().skip(k).step_by(n_targets).copied().collect::<Vec<_>>();
            let (p, t) = (column(predicted), column(truth));
            let mean = t.iter().sum::<f64>() / n_samples as f64;
            let ss_res: f64 = p.iter().zip(&t).map(|(p, t)| (t - p) * (t - p)).sum();
            let ss_tot: f64 = t.iter().map(|t| (t - mean) * (t - mean)).sum();
            let r2 = if ss_tot > 0.0 {
                1.0 - ss_res / ss_tot
            } else if ss_res == 0.0 {
                1.0
            } else {
                0.0
            };
            let mae = p.iter().zip(&t).map(|(p, t)| (t - p).abs()).sum::<f64>() / n_samples as f64;
            RegressionScores { r2, rmse: (ss_res / n_samples as f64).sqrt(), mae }
        })
        .collect();
    let n_values = truth.len() as f64;
    let se: f64 = predicted.iter().zip(truth).map(|(p, t)| (t - p) * (t - p)).sum();
    let ae: f64 = predicted.iter().zip(truth).map(|(p, t)| (t - p).abs()).sum();
    let overall = RegressionScores {
        r2: per_target.iter().map(|s| s.r2).sum::<f64>() / n_targets.max(1) as f64,
        rmse: (se / n_values).sqrt(),
        mae: ae / n_values,
    };
    (per_target, overall)
}

/// Precision, recall and F1 of one label, or micro-averaged over all (0 where undefined).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct LabelScores {
    pub(crate) precision: f64,
    pub(crate) recall: f64,
    pub(crate) f1: f64,
    /// Samples whose label is 1.
    pub(crate) support: usize,
}

fn label_scores(tp: usize, fp: usize, fn_: usize) -> LabelScores {
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    LabelScores {
        precision: ratio(tp, tp + fp),
        recall: ratio(tp, tp + fn_),
        f1: ratio(2 * tp, 2 * tp + fp + fn_),
        support: tp + fn_,
    }
}

/// Multi-label scores: probabilities are predicted 1 from 0.5 up.
pub(crate) struct MultilabelScores {
    /// The fraction of samples whose labels are all right.
    pub(crate) subset_accuracy: f64,
    /// Each label's scores.
    pub(crate) per_label: Vec<LabelScores>,
    /// True and false positives and false negatives summed over the labels.
    pub(crate) micro: LabelScores,
}

pub(crate) fn multilabel(
    probabilities: &[f64],
    truth: &[f64],
    n_labels: usize,
) -> MultilabelScores {
    let n_samples = truth.len() / n_labels.max(1);
    let mut counts = vec![(0usize, 0usize, 0usize); n_labels];
    let mut exact = 0usize;
    for (p, t) in probabilities.chunks(n_labels).zip(truth.chunks(n_labels)) {
        let mut all_right = true;
        for (k, (&p, &t)) in p.iter().zip(t).enumerate() {
            let (predicted, actual) = (p >= 0.5, t >= 0.5);
            all_right &= predicted == actual;
            let c = &mut counts[k];
            match (predicted, actual) {
                (true, true) => c.0 += 1,
                (true, false) => c.1 += 1,
                (false, true) => c.2 += 1,
                (false, false) => {}
            }
        }
        exact += usize::from(all_right);
    }
    let sum = counts.iter().fold((0, 0, 0), |a, c| (a.0 + c.0, a.1 + c.1, a.2 + c.2));
    MultilabelScores {
        subset_accuracy: if n_samples == 0 { 0.0 } else { exact as f64 / n_samples as f64 },
        per_label: counts.iter().map(|&(tp, fp, fn_)| label_scores(tp, fp, fn_)).collect(),
        micro: label_scores(sum.0, sum.1, sum.2),
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp, reason = "exact ratios of small numbers")]
mod tests {
    use super::*;

    #[test]
    fn regression_scores_by_hand() {
        // Target 0: truth 1 2 3, predicted 1 2 5: SS_res 4, SS_tot 2. Target 1 constant 7.
        let truth = [1.0, 7.0, 2.0, 7.0, 3.0, 7.0];
        let predicted = [1.0, 7.0, 2.0, 7.0, 5.0, 7.0];
        let (per, all) = regression(&predicted, &truth, 2);
        assert_eq!(
            per[0],
            RegressionScores { r2: -1.0, rmse: (4.0f64 / 3.0).sqrt(), mae: 2.0 / 3.0 }
        );
        assert_eq!(per[1], RegressionScores { r2: 1.0, rmse: 0.0, mae: 0.0 });
        assert_eq!(all, RegressionScores { r2: 0.0, rmse: (4.0f64 / 6.0).sqrt(), mae: 2.0 / 6.0 });
        let (per, _) = regression(&[7.0, 8.0], &[7.0, 7.0], 1);
        assert_eq!(per[0].r2, 0.0);
    }

    #[test]
    fn multilabel_scores_by_hand() {
        // Two labels, three samples: (1,0) right; (1,1) predicted (1,0); (0,0) predicted (1,0).
        let truth = [1.0, 0.0, 1.0, 1.0, 0.0, 0.0];
        let probs = [0.9, 0.1, 0.5, 0.49, 0.7, 0.0];
        let s = multilabel(&probs, &truth, 2);
        assert_eq!(s.subset_accuracy, 1.0 / 3.0);
        // Label 0: TP 2, FP 1. Label 1: FN 1. Micro: TP 2, FP 1, FN 1.
        assert_eq!((s.per_label[0].precision, s.per_label[0].recall), (2.0 / 3.0, 1.0));
        assert_eq!((s.per_label[1].f1, s.per_label[1].support), (0.0, 1));
        assert_eq!(s.micro.f1, 4.0 / 6.0);
    }
}
