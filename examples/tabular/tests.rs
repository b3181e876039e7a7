//! End-to-end tests of the commands, run in-process on generated tables: each task learns a
//! target with a known optimum, `eval` of the saved model repeats `train`'s last line exactly,
//! `predict` agrees with `eval`, and bad input writes nothing.

#![allow(clippy::unwrap_used, clippy::float_cmp, reason = "tests")]

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use clap::Parser;
use nn::io::tabular::{Feature, Preprocessor, TargetEncoding};
use nn::io::{AnyNetwork, load_model};
use nn::net::rng::{ChaCha8Rng, SeedableRng, index, normal_f64, uniform_f64};

use crate::output::Out;
use crate::{Cli, Command};

/// A folder under the system's temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir()
            .join(format!("nn-tabular-test-{}-{unique}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.path(name);
        fs::write(&path, text).unwrap();
        path
    }

    fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Runs the command line `line` (split on whitespace: the paths of these tests have no spaces)
/// in-process: its result and what it printed.
fn run(line: &str) -> (anyhow::Result<()>, String) {
    let cli = Cli::try_parse_from(std::iter::once("tabular").chain(line.split_whitespace()))
        .unwrap_or_else(|e| panic!("{line}: {e}"));
    let mut out = Out::buffer();
    let result = match cli.command {
        Command::Train(a) => crate::train::run(&a, &mut out),
        Command::Eval(a) => crate::eval::run(&a, &mut out),
        Command::Predict(a) => crate::predict::run(&a, &mut out),
    };
    (result, out.text())
}

/// Runs `line`, which must succeed: what it printed.
fn ok(line: &str) -> String {
    let (result, text) = run(line);
    if let Err(e) = result {
        panic!("{line} failed: {e:#}\n{text}");
    }
    text
}

/// Runs `line`, which must fail: the error, as the program prints it.
fn fails(line: &str) -> String {
    let (result, _) = run(line);
    let e = result.expect_err("the command should fail");
    format!("{e:#}")
}

fn last_line(text: &str) -> &str {
    text.lines().last().unwrap_or_default()
}

/// The number after `key=` in `line`.
fn value(line: &str, key: &str) -> f64 {
    let field = line.split(' ').find_map(|f| f.strip_prefix(&format!("{key}="))).unwrap();
    field.parse().unwrap()
}

/// A linear target without noise: y = 3·x1 − 2·x2 + 0.5·x3 + 1.
fn linear_table(rng: &mut ChaCha8Rng, n: usize) -> String {
    let mut csv = String::from("x1,x2,x3,y\n");
    for _ in 0..n {
        let x: [f64; 3] = [normal_f64(rng), 5.0 + 2.0 * normal_f64(rng), 100.0 * uniform_f64(rng)];
        let y = 3.0 * x[0] - 2.0 * x[1] + 0.5 * x[2] + 1.0;
        let _ = writeln!(csv, "{:.6},{:.6},{:.6},{y:.9}", x[0], x[1], x[2]);
    }
    csv
}

#[test]
fn a_linear_model_recovers_the_coefficients_of_a_linear_target() {
    let dir = TempDir::new("linear");
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let train = dir.write("train.csv", &linear_table(&mut rng, 400));
    let test = dir.write("test.csv", &linear_table(&mut rng, 200));
    let model = dir.path("linear.model");
    let text = ok(&format!(
        "train --train {train} --test {test} --target y --task regression --hidden none --lr 0.01 --epochs 150 --save-model {model}"
    ));
    let line = last_line(&text);
    assert!(line.starts_with("test_r2="), "{text}");
    assert!(value(line, "test_r2") > 0.9999, "{line}");
    // The network is y_std = w · x_std + b: in the file's units, coefficient i is
    // scale_y · w_i / scale_i.
    let loaded = load_model(&model).unwrap();
    let pre = Preprocessor::from_metadata(&loaded.metadata).unwrap().unwrap();
    let AnyNetwork::F32(net) = loaded.network else { panic!() };
    let theta = net.layers()[0].theta_col_major();
    let TargetEncoding::Regression { columns } = pre.target() else { panic!() };
    let scale_y = columns[0].scale;
    for (i, expected) in [3.0, -2.0, 0.5].into_iter().enumerate() {
        let Feature::Numeric(x) = &pre.features()[i] else { panic!() };
        let coefficient = scale_y * f64::from(theta[1 + i]) / x.scale;
        assert!(
            (coefficient - expected).abs() < 2e-3 * expected.abs().max(1.0),
            "x{}: {coefficient}",
            i + 1
        );
    }
}

/// Two targets of numeric and categorical features, one nonlinear.
fn houses(rng: &mut ChaCha8Rng, n: usize) -> String {
    let mut csv = String::from("area,city,floor,price,rent\n");
    let cities = [("Lyon", 80.0), ("Paris", 200.0), ("Nice", 120.0)];
    for _ in 0..n {
        let area = 30.0 + 120.0 * uniform_f64(rng);
        let (city, premium) = cities[index(rng, 3)];
        let floor = index(rng, 6);
        let price = 2.5 * area + premium + 10.0 * floor as f64;
        let rent = 0.004 * area * area + premium / 20.0;
        let _ = writeln!(csv, "{area:.2},{city},{floor},{price:.3},{rent:.4}");
    }
    csv
}

#[test]
fn regression_learns_several_targets_and_eval_repeats_the_last_line() {
    let dir = TempDir::new("regression");
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let train = dir.write("houses.csv", &houses(&mut rng, 600));
    let test = dir.write("houses-test.csv", &houses(&mut rng, 200));
    let model = dir.path("houses.model");
    let onnx = dir.path("houses.onnx");
    let text = ok(&format!(
        "train --train {train} --test {test} --target price,rent --task regression \
         --hidden 32,32 --lr 0.005 --epochs 60 --save-model {model} --export-onnx {onnx}"
    ));
    let line = last_line(&text);
    assert!(value(line, "test_r2") > 0.99, "{text}");
    assert!(text.contains("city (categorical, 3 categories)"), "{text}");
    let evaluated = ok(&format!("eval --model {model} --test {test}"));
    assert_eq!(last_line(&evaluated), line, "{evaluated}");
    // The ONNX model carries the preprocessing of the model file in its metadata (protobuf
    // strings are stored as they are; .ci/run feeds it with onnxruntime from that alone).
    let json = load_model(&model).unwrap().metadata.extra["tabular.preprocessing"].clone();
    let bytes = fs::read(&onnx).unwrap();
    for needle in ["tabular.preprocessing", json.as_str(), "tabular.inputs", "tabular.outputs"] {
        assert!(bytes.windows(needle.len()).any(|w| w == needle.as_bytes()), "{needle}");
    }
    // Predictions in the targets' units: each target's RMSE and MAE are the ones eval reports,
    // and the last line's are their means (scikit-learn's uniform average), to rounding.
    let predictions = dir.path("predictions.csv");
    assert_eq!(ok(&format!("predict --model {model} --csv {test} --output {predictions}")), "");
    let predicted = fs::read_to_string(&predictions).unwrap();
    let truth = fs::read_to_string(&test).unwrap();
    assert_eq!(predicted.lines().next(), Some("price,rent"));
    let (mut se, mut ae) = ([0.0; 2], [0.0; 2]);
    for (p, t) in predicted.lines().skip(1).zip(truth.lines().skip(1)) {
        let p: Vec<f64> = p.split(',').map(|v| v.parse().unwrap()).collect();
        let t: Vec<f64> = t.split(',').skip(3).map(|v| v.parse().unwrap()).collect();
        for k in 0..2 {
            se[k] += (p[k] - t[k]).powi(2);
            ae[k] += (p[k] - t[k]).abs();
        }
    }
    assert_eq!(predicted.lines().count(), 201);
    let rmse = se.map(|s| (s / 200.0).sqrt());
    let mae = ae.map(|a| a / 200.0);
    for (k, name) in ["price", "rent"].into_iter().enumerate() {
        let row = evaluated.lines().find(|l| l.trim_start().starts_with(name)).unwrap();
        let cells: Vec<f64> = row.split_whitespace().skip(1).map(|v| v.parse().unwrap()).collect();
        assert!((cells[1] - rmse[k]).abs() < 1e-3, "{name}: {} vs {row}", rmse[k]);
        assert!((cells[2] - mae[k]).abs() < 1e-3, "{name}: {} vs {row}", mae[k]);
    }
    let mean = |v: [f64; 2]| (v[0] + v[1]) / 2.0;
    // The targets' scales differ enough for the RMSE over all values to be another number.
    let pooled = ((se[0] + se[1]) / 400.0).sqrt();
    assert!((pooled - mean(rmse)).abs() > 1e-2, "{pooled} vs {rmse:?}");
    assert!((mean(rmse) - value(line, "test_rmse")).abs() < 1e-3, "{rmse:?} vs {line}");
    assert!((mean(mae) - value(line, "test_mae")).abs() < 1e-3, "{mae:?} vs {line}");
}

/// Three labels from a rule: `a` = x1 > 0, `b` = x2 + x3 > 0, `c` = color is red or blue.
fn labels(rng: &mut ChaCha8Rng, n: usize) -> String {
    let mut csv = String::from("x1,color,x2,x3,a,b,c\n");
    for _ in 0..n {
        let (x1, x2, x3) = (normal_f64(rng), normal_f64(rng), normal_f64(rng));
        let color = ["red", "green", "blue", "black"][index(rng, 4)];
        let a = u8::from(x1 > 0.0);
        let b = u8::from(x2 + x3 > 0.0);
        let c = u8::from(color == "red" || color == "blue");
        let _ = writeln!(csv, "{x1:.4},{color},{x2:.4},{x3:.4},{a},{b},{c}");
    }
    csv
}

#[test]
fn multilabel_learns_a_rule_and_eval_repeats_the_last_line() {
    let dir = TempDir::new("multilabel");
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let train = dir.write("tags.csv", &labels(&mut rng, 1000));
    let test = dir.write("tags-test.csv", &labels(&mut rng, 300));
    let model = dir.path("tags.model");
    let text = ok(&format!(
        "train --train {train} --test {test} --target a,b,c --task multilabel \
         --hidden 32,32 --lr 0.005 --epochs 40 --save-model {model}"
    ));
    let line = last_line(&text);
    assert!(line.starts_with("test_subset_accuracy="), "{text}");
    assert!(value(line, "test_subset_accuracy") >= 0.95, "{text}");
    assert!(value(line, "test_micro_f1") >= 0.95, "{text}");
    let evaluated = ok(&format!("eval --model {model} --test {test}"));
    assert_eq!(last_line(&evaluated), line);
    // The predicted labels give the subset accuracy eval reports.
    let predicted = ok(&format!("predict --model {model} --csv {test}"));
    assert_eq!(predicted.lines().next(), Some("a,b,c,prob_a,prob_b,prob_c"));
    let truth = fs::read_to_string(&test).unwrap();
    let exact = predicted
        .lines()
        .skip(1)
        .zip(truth.lines().skip(1))
        .filter(|(p, t)| p.split(',').take(3).eq(t.split(',').skip(4)))
        .count();
    assert_eq!(
        format!("{:.4}", exact as f64 / 300.0),
        format!("{:.4}", value(line, "test_subset_accuracy"))
    );
}

/// String labels from a numeric and a categorical feature, plus a column to ignore.
fn shop(rng: &mut ChaCha8Rng, n: usize) -> String {
    let mut csv = String::from("id,basket,channel,segment\n");
    for i in 0..n {
        let basket = 200.0 * uniform_f64(rng);
        let channel = ["web", "store", "phone"][index(rng, 3)];
        let segment = match (basket > 100.0, channel) {
            (true, "web") => "online big spender",
            (true, _) => "big spender",
            (false, "phone") => "caller",
            (false, _) => "regular",
        };
        let _ = writeln!(csv, "c{i},{basket:.2},{channel},{segment}");
    }
    csv
}

#[test]
fn classification_with_string_labels_and_categorical_features() {
    let dir = TempDir::new("classification");
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let data = dir.write("shop.csv", &shop(&mut rng, 1200));
    let model = dir.path("shop.model");
    let plot = dir.path("curves.svg");
    let text = ok(&format!(
        "train --train {data} --target segment --task classification --ignore id \
         --hidden 32,32 --lr 0.005 --epochs 50 --val-split 0.1 --early-stop-patience 10 \
         --save-model {model} --plot {plot}"
    ));
    let line = last_line(&text);
    assert!(value(line, "test_accuracy") >= 0.95, "{text}");
    assert!(text.contains(" test rows (20 % of "), "{text}");
    assert!(fs::read_to_string(&plot).unwrap().starts_with("<svg"));
    let loaded = load_model(&model).unwrap();
    assert_eq!(
        loaded.metadata.class_names,
        ["big spender", "caller", "online big spender", "regular"]
    );
    // Predicted classes by name; the share that matches is eval's accuracy.
    let predicted = ok(&format!("predict --model {model} --csv {data}"));
    assert!(predicted.starts_with(
        "segment,prob_big spender,prob_caller,prob_online big spender,prob_regular\n"
    ));
    let truth = fs::read_to_string(&data).unwrap();
    let right = predicted
        .lines()
        .skip(1)
        .zip(truth.lines().skip(1))
        .filter(|(p, t)| p.split(',').next() == t.split(',').nth(3))
        .count();
    let confusion = dir.path("confusion.png");
    let evaluated = ok(&format!("eval --model {model} --test {data} --plot {confusion}"));
    assert!(fs::read(&confusion).unwrap().starts_with(b"\x89PNG"));
    let accuracy = format!("test_accuracy={:.4}", right as f64 / 1200.0);
    assert_eq!(last_line(&evaluated).split(' ').next(), Some(accuracy.as_str()));
    assert!(evaluated.contains("online big spender"), "{evaluated}");
}

#[test]
fn f64_training_is_deterministic_and_round_trips() {
    let dir = TempDir::new("f64");
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let data = dir.write("shop.csv", &shop(&mut rng, 300));
    let (one, two) = (dir.path("one.model"), dir.path("two.model"));
    let args = |model: &str| {
        ok(&format!(
            "train --train {data} --target segment --task classification --epochs 5 \
             --precision f64 --threads 2 --shards 2 --seed 9 --save-model {model}"
        ))
    };
    let line = last_line(&args(&one)).to_owned();
    args(&two);
    assert_eq!(fs::read(&one).unwrap(), fs::read(&two).unwrap());
    let loaded = load_model(&one).unwrap();
    assert!(matches!(loaded.network, AnyNetwork::F64(_)));
    let (train_part, test_part) = nn::io::tabular::read_csv(&data, &Default::default())
        .unwrap()
        .split(0.2, 9, Some("segment"))
        .unwrap();
    assert_eq!(train_part.n_rows() + test_part.n_rows(), 300);
    let test = dir.write("test.csv", &to_csv(&test_part));
    assert_eq!(last_line(&ok(&format!("eval --model {one} --test {test}"))), line);
}

fn to_csv(table: &nn::io::tabular::Table) -> String {
    let mut csv = table.columns().join(",");
    csv.push('\n');
    for r in 0..table.n_rows() {
        let row: Vec<&str> = (0..table.n_columns()).map(|c| table.cell(r, c).unwrap()).collect();
        csv.push_str(&row.join(","));
        csv.push('\n');
    }
    csv
}

#[test]
fn missing_values_fail_without_impute_and_train_with_it() {
    let dir = TempDir::new("impute");
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let csv = shop(&mut rng, 400);
    let test = dir.write("clean.csv", &shop(&mut rng, 100));
    // Empty the basket of row 7 (line 8) and the channel of row 12.
    let mut lines: Vec<Vec<String>> =
        csv.lines().map(|l| l.split(',').map(str::to_owned).collect()).collect();
    lines[7][1].clear();
    lines[12][2].clear();
    let csv: String = lines.iter().map(|l| l.join(",") + "\n").collect();
    let data = dir.write("holes.csv", &csv);
    let model = dir.path("m.model");
    let common = format!(
        "train --train {data} --target segment --task classification --ignore id --epochs 3 \
         --test {test} --save-model {model}"
    );
    let err = fails(&common);
    assert!(
        err.ends_with(
            "holes.csv: row 7 (line 8), column 2 \"basket\": missing value, and imputation is \
             off: pass --impute mean to replace missing values by the training mean"
        ),
        "{err}"
    );
    assert!(!Path::new(&model).exists());
    ok(&format!("{common} --impute mean"));
    assert!(Path::new(&model).exists());
}

#[test]
fn unseen_categories_are_encoded_as_zeros_not_errors() {
    let dir = TempDir::new("unseen");
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let data = dir.write("shop.csv", &shop(&mut rng, 300));
    let model = dir.path("m.model");
    ok(&format!(
        "train --train {data} --target segment --task classification --ignore id --epochs 2 --save-model {model}"
    ));
    let new = dir.write("new.csv", "basket,channel\n150,fax\n20,web\n");
    let predicted = ok(&format!("predict --model {model} --csv {new}"));
    assert_eq!(predicted.lines().count(), 3);
}

#[test]
fn bad_input_is_one_clear_error_and_writes_nothing() {
    let dir = TempDir::new("bad");
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let good = dir.write("good.csv", &houses(&mut rng, 50));
    let cases: Vec<(&str, String, &str, &str)> = vec![
        (
            "ragged.csv",
            "a,b\n1,2\n3\n".into(),
            "--target b",
            "row 2 (line 3): 1 field, but the header has 2 columns",
        ),
        ("empty.csv", String::new(), "--target b", "empty file"),
        ("header.csv", "a,b\n".into(), "--target b", "no data rows"),
        (
            "nan.csv",
            "a,b\n1,2\n2,3\n3,4\n4,5\n5,nan\n".into(),
            "--target a --test-split 0.2",
            "\"nan\" is not a finite number",
        ),
        ("no-column.csv", "a,b\n1,2\n2,3\n3,4\n4,5\n5,6\n".into(), "--target c", "no column \"c\""),
        (
            "target.csv",
            "a,b\n1,2\n2,3\n3,x\n4,5\n5,6\n".into(),
            "--target b",
            "\"x\" is not a number (regression targets must be numbers)",
        ),
    ];
    let model = dir.path("never.model");
    for (name, text, extra, message) in &cases {
        let path = dir.write(name, text);
        let err =
            fails(&format!("train --train {path} --task regression --save-model {model} {extra}"));
        assert!(err.contains(message), "{name}: {err}");
        assert!(err.starts_with(&path), "{name}: the error names the file: {err}");
        assert!(!err.contains('\n'), "{name}: {err}");
        assert!(!Path::new(&model).exists(), "{name}");
    }
    // Latin-1 bytes, written as such.
    let latin1 = dir.path("real-latin1.csv");
    fs::write(&latin1, b"a,b\n1,caf\xe9\n").unwrap();
    let err = fails(&format!("train --train {latin1} --task regression --target a"));
    assert!(err.contains("row 1 (line 2), column 2 \"b\": not valid UTF-8"), "{err}");
    // Bad flags fail before any file is read or written.
    for bad in [
        "--lr nan",
        "--lr -1",
        "--epochs 0",
        "--batch 0",
        "--hidden 8,0",
        "--activation relu6",
        "--optimizer lbfgs",
        "--val-split 1",
        "--test-split 1",
        "--plot curves.jpg",
        "--delimiter ab",
        "--threads 0",
        "--early-stop-patience 3",
        "--save-model /nonexistent/dir/m",
    ] {
        let err = fails(&format!("train --train {good} --task regression --target price {bad}"));
        assert!(!err.contains('\n'), "{bad}: {err}");
    }
    // The files left are the inputs.
    assert!(dir.files().iter().all(|f| f.ends_with(".csv")), "{:?}", dir.files());
    // A model that is not one, and a table without the columns the model needs.
    let err = fails(&format!("eval --model {good} --test {good}"));
    assert!(err.contains("not an nn model"), "{err}");
    let model = dir.path("m.model");
    ok(&format!(
        "train --train {good} --task regression --target price --ignore rent --epochs 1 --save-model {model}"
    ));
    let other = dir.write("other.csv", "x,y\n1,2\n");
    let err = fails(&format!("eval --model {model} --test {good} --plot {}", dir.path("c.svg")));
    assert!(err.contains("needs a classification model"), "{err}");
    let err = fails(&format!("eval --model {model} --test {other}"));
    assert!(err.contains("other.csv: no column \"area\""), "{err}");
    let err =
        fails(&format!("predict --model {model} --csv {other} --output {}", dir.path("p.csv")));
    assert!(err.contains("no column \"area\""), "{err}");
    assert!(!Path::new(&dir.path("p.csv")).exists());
    let no_target = dir.write("no-target.csv", "area,city,floor\n50,Lyon,1\n");
    let err = fails(&format!("eval --model {model} --test {no_target}"));
    assert!(err.contains("no column \"price\""), "{err}");
    // But predict needs no target.
    assert_eq!(ok(&format!("predict --model {model} --csv {no_target}")).lines().count(), 2);
}
