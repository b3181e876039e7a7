//! The `predict` command: a CSV table in, its predictions out as CSV.

use anyhow::{Context, Result};
use nn::io::AnyNetwork;
use nn::io::tabular::{Preprocessor, Table};
use nn::linalg::Mat;
use nn::net::{Float, Network};

use crate::output::{Out, warning};
use crate::{PredictArgs, check_output, load_model, read_table};

pub(crate) fn run(args: &PredictArgs, out: &mut Out) -> Result<()> {
    let options = args.csv_options.options()?;
    if let Some(path) = &args.output {
        check_output(path, "--output")?;
    }
    let (net, _, pre) = load_model(&args.model)?;
    let table = read_table(&args.csv, &options)?;
    let csv = match net {
        AnyNetwork::F32(net) => predictions(&net, &pre, &table, args)?,
        AnyNetwork::F64(net) => predictions(&net, &pre, &table, args)?,
    };
    match &args.output {
        Some(path) => nn::io::tabular::save_predictions(path, &csv)
            .with_context(|| format!("cannot write the predictions to {}", path.display())),
        None => out.write(&csv),
    }
}

/// The predictions for the rows of `table`, as CSV text.
fn predictions<T: Float>(
    net: &Network<T>,
    pre: &Preprocessor,
    table: &Table,
    args: &PredictArgs,
) -> Result<String> {
    let inputs =
        pre.transform_inputs::<T>(table).with_context(|| args.csv.display().to_string())?;
    for w in &inputs.warnings {
        warning(format!("{}: {w}", args.csv.display()));
    }
    let x = Mat::from_fn(inputs.n_inputs, inputs.n_samples, |i, j| {
        inputs.values[j * inputs.n_inputs + i]
    });
    let proba = net.predict_proba(x.as_ref())?;
    let outputs: Vec<T> = (0..proba.ncols()).flat_map(|j| proba.col_as_slice(j).to_vec()).collect();
    Ok(pre.predictions_csv(&outputs)?)
}
