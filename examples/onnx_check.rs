//! Writes the ONNX exports that `scripts/check_onnx.py` checks with onnx and onnxruntime: one
//! model per activation × loss, each with 100 inputs and our `predict_proba` for them.
//!
//! ```sh
//! cargo run --example onnx_check -- DIR
//! python scripts/check_onnx.py DIR      # in a virtualenv with onnx and onnxruntime
//! ```
//!
//! For every activation (each parametric one twice, with two parameters) and every loss, a
//! seeded 7-16-12-4 network: the activation on the hidden layers, and for mean squared error on
//! the output layer too (it is then the output function); plus f64 networks and a one-output
//! sigmoid network. For each model `NAME`, `DIR` receives:
//! - `NAME.onnx`, exported with the metadata entry `check` = `NAME`;
//! - `NAME.inputs.npy`: 100 × 7 float32 inputs, one sample per row, uniform in [−3, 3] with
//!   every fifth sample scaled by 20 (the tails of the activations);
//! - `NAME.expected.npy`: 100 × n_outputs float64, our `predict_proba` of those inputs.
//!
//! and `DIR/manifest.tsv` lists the models (name, loss, precision, inputs, outputs). Expect the
//! last line `wrote N models to DIR`.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use nn::io::{OnnxOptions, StoredFloat, export_onnx};
use nn::linalg::Mat;
use nn::net::rng::{ChaCha8Rng, RngCore, SeedableRng};
use nn::net::{Activation, Loss, Network};

const N_SAMPLES: usize = 100;
const SIZES: [usize; 4] = [7, 16, 12, 4];

/// A `.npy` file (format 1.0) of a row-major 2-D array: `descr` is `<f4` or `<f8`.
fn write_npy(path: &Path, descr: &str, rows: usize, cols: usize, data: &[u8]) -> Result<()> {
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    // Magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&u16::try_from(header.len())?.to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// `N_SAMPLES` inputs of `n_inputs` values, row-major (one sample per row).
fn inputs(n_inputs: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    (0..N_SAMPLES * n_inputs)
        .map(|k| {
            let u = (f64::from(rng.next_u32()) / f64::from(u32::MAX)) * 6.0 - 3.0;
            let v = if (k / n_inputs) % 5 == 4 { u * 20.0 } else { u };
            v as f32
        })
        .collect()
}

/// Exports `net` as `dir/name.onnx` with its inputs and our outputs; returns its manifest line.
fn write_case<T: StoredFloat>(
    dir: &Path,
    name: &str,
    net: &Network<T>,
    rng: &mut ChaCha8Rng,
) -> Result<String> {
    let options = OnnxOptions::new().with_metadata("check", name);
    export_onnx(dir.join(format!("{name}.onnx")), net, &options)?;
    let m = net.n_inputs();
    let x = inputs(m, rng);
    let bytes: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
    write_npy(&dir.join(format!("{name}.inputs.npy")), "<f4", N_SAMPLES, m, &bytes)?;
    // Our matrices hold samples as columns: column k is row k of the file.
    let x = Mat::<T>::from_fn(m, N_SAMPLES, |i, k| T::from_f64(f64::from(x[k * m + i])));
    let out = net.predict_proba(x.as_ref())?;
    let n = net.n_outputs();
    let bytes: Vec<u8> = (0..N_SAMPLES)
        .flat_map(|k| (0..n).map(move |i| (k, i)))
        .flat_map(|(k, i)| out[(i, k)].to_f64().to_le_bytes())
        .collect();
    write_npy(&dir.join(format!("{name}.expected.npy")), "<f8", N_SAMPLES, n, &bytes)?;
    Ok(format!("{name}\t{}\t{}\t{m}\t{n}", net.loss_kind(), T::NAME))
}

fn build<T: StoredFloat>(
    sizes: &[usize],
    hidden: Activation,
    loss: Loss,
    seed: u64,
) -> Result<Network<T>> {
    // For MSE the last layer's activation is the output function: use the same one.
    let last = if loss == Loss::MeanSquaredError { hidden } else { Activation::Identity };
    let mut builder = Network::builder(sizes[0], loss);
    for (i, &n) in sizes[1..].iter().enumerate() {
        builder = builder.layer(n, if i + 2 == sizes.len() { last } else { hidden });
    }
    Ok(builder.build(&mut ChaCha8Rng::seed_from_u64(seed))?)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir] = args.as_slice() else { bail!("usage: onnx_check DIR") };
    let dir = PathBuf::from(dir);
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut activations = Activation::ALL.to_vec();
    activations.extend([Activation::LeakyRelu { alpha: -0.3 }, Activation::Elu { alpha: 0.7 }]);
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let mut manifest = vec!["name\tloss\tprecision\tn_inputs\tn_outputs".to_owned()];
    let mut seed = 0;
    for (act_idx, &act) in activations.iter().enumerate() {
        for loss in Loss::ALL {
            seed += 1;
            let name = format!("{act_idx:02}-{}-{loss}", act.name());
            let net = build::<f32>(&SIZES, act, loss, seed)?;
            manifest.push(write_case(&dir, &name, &net, &mut rng)?);
        }
    }
    for loss in Loss::ALL {
        seed += 1;
        let net = build::<f64>(&SIZES, Activation::Gelu, loss, seed)?;
        manifest.push(write_case(&dir, &format!("f64-gelu-{loss}"), &net, &mut rng)?);
    }
    let net = build::<f32>(&[7, 8, 1], Activation::Relu, Loss::SigmoidBinaryCrossEntropy, 99)?;
    manifest.push(write_case(&dir, "one-output-sigmoid", &net, &mut rng)?);
    fs::write(dir.join("manifest.tsv"), manifest.join("\n") + "\n")?;
    println!("wrote {} models to {}", manifest.len() - 1, dir.display());
    Ok(())
}
