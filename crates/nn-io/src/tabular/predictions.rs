//! Predictions as CSV: a header row and one row per sample, in the targets' terms (class names,
//! original units, 0/1 labels).

use std::path::Path;

use nn_core::{Float, argmax};

use super::error::TabularError;
use super::preprocess::{Preprocessor, TargetEncoding};
use crate::Error;
use crate::atomic::write_atomic;

/// Appends `field` to a CSV line, quoted (RFC 4180) when it holds a comma, a quote, a line
/// break or surrounding spaces.
fn push_field(line: &mut String, field: &str) {
    let needs_quotes = field.contains([',', '"', '\n', '\r'])
        || field.starts_with([' ', '\t'])
        || field.ends_with([' ', '\t']);
    if needs_quotes {
        line.push('"');
        line.push_str(&field.replace('"', "\"\""));
        line.push('"');
    } else {
        line.push_str(field);
    }
}

fn push_row<'a>(out: &mut String, fields: impl IntoIterator<Item = &'a str>) {
    for (k, field) in fields.into_iter().enumerate() {
        if k > 0 {
            out.push(',');
        }
        push_field(out, field);
    }
    out.push('\n');
}

/// `v` with the precision of `T`: 7 significant digits for f32 outputs, the shortest exact
/// form for f64, so that an f32 network's predictions do not print digits it does not have.
/// Very small or large values are written with an exponent (`2.5e-8`) when that is shorter.
fn number<T: Float>(v: f64) -> String {
    let v = if T::NAME == "f32" {
        // Round to 7 significant digits, then print the shortest form of the rounded value.
        format!("{v:.6e}").parse().unwrap_or(v)
    } else {
        v
    };
    let (plain, exponent) = (v.to_string(), format!("{v:e}"));
    if exponent.len() < plain.len() { exponent } else { plain }
}

impl Preprocessor {
    /// The predictions for network outputs (as `Network::predict_proba` gives them: outputs ×
    /// samples, column-major) as CSV text, one row per sample:
    /// - classification: the target column's name, holding the predicted class (the most
    ///   probable, the first on ties), then `prob_<class>` for each class;
    /// - regression: each target column's name, holding the prediction in the original units;
    /// - multi-label: each label's name, holding 1 where its probability is at least 0.5, 0
    ///   otherwise, then `prob_<label>` for each label.
    ///
    /// # Errors
    /// [`TabularError::OutputShape`] if the outputs are not a whole number of samples.
    pub fn predictions_csv<T: Float>(&self, outputs: &[T]) -> Result<String, TabularError> {
        let values = self.outputs_to_original(outputs)?;
        let n_outputs = self.n_outputs();
        let names = self.output_names();
        let mut out = String::new();
        let prob = |name: &String| format!("prob_{name}");
        match &self.target {
            TargetEncoding::Classes { column, classes } => {
                let header = std::iter::once(column.clone()).chain(classes.iter().map(prob));
                push_row(&mut out, header.collect::<Vec<_>>().iter().map(String::as_str));
                for (sample, p) in values.chunks(n_outputs).zip(outputs.chunks(n_outputs)) {
                    let mut row = vec![classes[argmax(p)].clone()];
                    row.extend(sample.iter().map(|&v| number::<T>(v)));
                    push_row(&mut out, row.iter().map(String::as_str));
                }
            }
            TargetEncoding::Regression { .. } => {
                push_row(&mut out, names.iter().map(String::as_str));
                for sample in values.chunks(n_outputs) {
                    let row: Vec<String> = sample.iter().map(|&v| number::<T>(v)).collect();
                    push_row(&mut out, row.iter().map(String::as_str));
                }
            }
            TargetEncoding::Multilabel { columns } => {
                let header: Vec<String> =
                    columns.iter().cloned().chain(columns.iter().map(prob)).collect();
                push_row(&mut out, header.iter().map(String::as_str));
                for sample in values.chunks(n_outputs) {
                    let mut row: Vec<String> =
                        sample.iter().map(|&p| u8::from(p >= 0.5).to_string()).collect();
                    row.extend(sample.iter().map(|&v| number::<T>(v)));
                    push_row(&mut out, row.iter().map(String::as_str));
                }
            }
        }
        Ok(out)
    }
}

/// Writes predictions (or any text) to `path` atomically: the file is replaced by the complete
/// new one, or left as it was if anything fails.
///
/// # Errors
/// [`Error::Write`].
pub fn save_predictions(path: impl AsRef<Path>, csv: &str) -> Result<(), Error> {
    write_atomic(path.as_ref(), csv.as_bytes(), 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_only_when_needed() {
        let mut line = String::new();
        push_row(&mut line, ["a", "b,c", "say \"hi\"", " x", "multi\nline", ""]);
        assert_eq!(line, "a,\"b,c\",\"say \"\"hi\"\"\",\" x\",\"multi\nline\",\n");
    }

    #[test]
    fn numbers_keep_the_precision_of_the_float_type() {
        assert_eq!(number::<f32>(152.300_003_051_757_8), "152.3");
        assert_eq!(number::<f32>(1.234_567_89e-9), "1.234568e-9");
        assert_eq!(number::<f64>(0.25), "0.25");
        assert_eq!(number::<f64>(-3e20), "-3e20");
        assert_eq!(number::<f32>(1234.0), "1234");
        assert_eq!(number::<f64>(152.300_003_051_757_8), "152.3000030517578");
    }
}
