//! `mnist predict`: the class of users' images (any size and common format, see
//! [`crate::image`]) or of test-set samples, with the class probabilities.

use anyhow::{Result, anyhow, bail};
use nn::io::{AnyNetwork, ModelMetadata};
use nn::linalg::Mat;
use nn::net::{Float, Network};

use crate::args::PredictArgs;
use crate::report::{Out, outln, warn};
use crate::{data, eval, image};

pub(crate) fn run(args: &PredictArgs) -> Result<()> {
    if args.image.is_empty() && args.index.is_empty() {
        bail!("nothing to predict: pass --image FILE... or --index N...");
    }
    let mut out = Out::stdout();
    let loaded = eval::load_model(&args.model)?;
    match &loaded.network {
        AnyNetwork::F32(net) => predict_as(net, &loaded.metadata, args, &mut out),
        AnyNetwork::F64(net) => predict_as(net, &loaded.metadata, args, &mut out),
    }
}

/// One sample to classify: its name, its pixels scaled to [0, 1], its label if known.
struct Sample<T> {
    name: String,
    x: Vec<T>,
    label: Option<usize>,
}

/// The side of the square images a model of `n_inputs` inputs takes.
fn square_side(n_inputs: usize) -> Result<u32> {
    let side = (n_inputs as f64).sqrt().round() as usize;
    match u32::try_from(side) {
        Ok(s) if side * side == n_inputs => Ok(s),
        _ => bail!(
            "the model takes {n_inputs} inputs, which is not a square image: --image needs a model trained on square images (use --index)"
        ),
    }
}

fn predict_as<T: Float>(
    net: &Network<T>,
    metadata: &ModelMetadata,
    args: &PredictArgs,
    out: &mut Out,
) -> Result<()> {
    let names = data::names_for_model(&args.data, metadata, net.n_outputs())?;
    let mut samples: Vec<Sample<T>> = Vec::new();
    if !args.image.is_empty() {
        let side = square_side(net.n_inputs())?;
        for path in &args.image {
            let prepared = image::load(path, side, args.invert)?;
            if prepared.looks_inverted() {
                let fix = if args.invert {
                    "drop --invert if the object is lighter than its background"
                } else {
                    "pass --invert if the object is darker than its background"
                };
                warn(format_args!(
                    "{}: the background is light ({} of 255 at the border), but the model was trained on light objects on a black background: {fix}",
                    path.display(),
                    prepared.background
                ));
            }
            let x = prepared.pixels.iter().map(|&p| T::from_f64(f64::from(p) / 255.0)).collect();
            samples.push(Sample { name: path.display().to_string(), x, label: None });
        }
    }
    if !args.index.is_empty() {
        let raw = data::load(&args.data)?;
        data::check_fits(net.n_inputs(), net.n_outputs(), &raw.test)?;
        let n = raw.test.n_samples();
        for &i in &args.index {
            let Some(image) = raw.test.image(i) else {
                bail!(
                    "--index {i} is out of range: the test set has {n} images (0 to {})",
                    n.saturating_sub(1)
                );
            };
            let x = image.iter().map(|&p| T::from_f64(f64::from(p) / 255.0)).collect();
            let label = raw.test.labels().get(i).map(|&l| usize::from(l));
            samples.push(Sample { name: format!("test image {i}"), x, label });
        }
    }
    let mut x = Mat::<T>::new();
    x.try_reserve(net.n_inputs(), samples.len())
        .map_err(|_| anyhow!("not enough memory for {} images", samples.len()))?;
    x.resize_with(net.n_inputs(), samples.len(), |r, c| samples[c].x[r]);
    let proba = net.predict_proba(x.as_ref())?;
    let class = |c: usize| names.get(c).cloned().unwrap_or_else(|| c.to_string());
    for (k, sample) in samples.iter().enumerate() {
        let col = class_probabilities(proba.col_as_slice(k).iter().map(|v| v.to_f64()).collect());
        let predicted = net.class_of(proba.col_as_slice(k));
        let label = sample.label.map_or_else(String::new, |l| format!(", label {}", class(l)));
        outln!(
            out,
            "{}: {} ({:.1} %){label}",
            sample.name,
            class(predicted),
            100.0 * col[predicted]
        )?;
        let mut order: Vec<usize> = (0..col.len()).collect();
        order.sort_by(|&a, &b| col[b].total_cmp(&col[a]));
        let probs: Vec<String> =
            order.iter().map(|&c| format!("{} {:.4}", class(c), col[c])).collect();
        outln!(out, "  {}", probs.join(", "))?;
    }
    out.flush()?;
    Ok(())
}

/// The probability of each class from a network's outputs: the outputs themselves, or for a
/// single sigmoid output (a two-class model, whose class is 1 where it is ≥ 0.5), `[1 − p, p]`.
fn class_probabilities(outputs: Vec<f64>) -> Vec<f64> {
    match outputs[..] {
        [p] => vec![1.0 - p, p],
        _ => outputs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_sigmoid_output_gives_two_class_probabilities() {
        assert_eq!(class_probabilities(vec![0.75]), [0.25, 0.75]);
        assert_eq!(class_probabilities(vec![0.1, 0.9]), [0.1, 0.9]);
    }

    #[test]
    fn only_square_inputs_take_images() {
        assert_eq!(square_side(784).unwrap(), 28);
        assert_eq!(square_side(1).unwrap(), 1);
        let msg = square_side(13).unwrap_err().to_string();
        assert!(msg.contains("13 inputs, which is not a square image"), "{msg}");
    }
}
