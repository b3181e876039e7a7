//! The data set: the IDX folder read through nn-io (with one clear message for each way it can
//! be wrong), the classes (how many, their names, and labels that do not fit), and the
//! conversion of the bytes to a `Dataset` of f32 or f64, allocated fallibly.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use nn::io::{ImageSet, MnistLike, ModelMetadata};
use nn::linalg::Mat;
use nn::net::Float;
use nn::train::Dataset;

use crate::args::DataArgs;
use crate::report::{Out, show_size};

const FASHION_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// Reads the four IDX files of `--data`. A missing folder gets the installation advice; any
/// other problem is nn-io's message, which names the file and what is wrong with it.
pub(crate) fn load(args: &DataArgs) -> Result<MnistLike> {
    nn::io::load_folder(&args.data, None).map_err(|e| match e {
        nn::io::Error::MissingFolder { dir } => anyhow!(
            "the data folder {} does not exist: pass --data with a folder of the four MNIST-style IDX files, or install Fashion-MNIST into {} with `apt-get install dataset-fashion-mnist` (as root, or with sudo)",
            dir.display(),
            nn::io::FASHION_MNIST_DIR
        ),
        other => anyhow!(other).context("cannot load the data set (--data)"),
    })
}

/// The classes of a run: how many outputs the network has, and their names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Classes {
    pub(crate) names: Vec<String>,
}

impl Classes {
    pub(crate) fn n(&self) -> usize {
        self.names.len()
    }
}

/// Which label values occur in `sets`.
fn values_in(sets: &[&[u8]]) -> [bool; 256] {
    let mut seen = [false; 256];
    for set in sets {
        for &l in *set {
            seen[usize::from(l)] = true;
        }
    }
    seen
}

/// `0–9, 255`: the values, consecutive ones as ranges.
pub(crate) fn show_values(values: impl IntoIterator<Item = usize>) -> String {
    let mut text = String::new();
    let mut run: Option<(usize, usize)> = None;
    let flush = |text: &mut String, (a, b): (usize, usize)| {
        let sep = if text.is_empty() { "" } else { ", " };
        let _ = match b - a {
            0 => write!(text, "{sep}{a}"),
            1 => write!(text, "{sep}{a}, {b}"),
            _ => write!(text, "{sep}{a}–{b}"),
        };
    };
    for v in values {
        run = match run {
            Some((a, b)) if v == b + 1 => Some((a, v)),
            Some(r) => {
                flush(&mut text, r);
                Some((v, v))
            }
            None => Some((v, v)),
        };
    }
    if let Some(r) = run {
        flush(&mut text, r);
    }
    text
}

/// The default names of `n` classes: Fashion-MNIST's for a Fashion-MNIST folder of 10 classes,
/// digits otherwise.
fn default_names(data_dir: &Path, n: usize) -> Vec<String> {
    let fashion = data_dir.to_string_lossy().to_ascii_lowercase().contains("fashion");
    if fashion && n == 10 {
        FASHION_CLASSES.iter().map(|s| (*s).to_owned()).collect()
    } else {
        (0..n).map(|c| c.to_string()).collect()
    }
}

fn read_names(path: &Path) -> Result<Vec<String>> {
    let names = nn::io::read_class_names(path).context("--classes")?;
    if names.is_empty() {
        bail!("--classes {}: the file names no class (one name per line)", path.display());
    }
    Ok(names)
}

/// The classes to train on. Without `--classes`, the labels must be 0 to k − 1 without gaps (a
/// label of 255 in a 10-class set would silently make 256 outputs); with it, its lines set k and
/// every label must be below k. Classes without a training sample get a warning that names
/// them.
pub(crate) fn classes_for_training(
    args: &DataArgs,
    data: &MnistLike,
    out: &Out,
) -> Result<Classes> {
    let seen = values_in(&[data.train.labels(), data.test.labels()]);
    let in_train = values_in(&[data.train.labels()]);
    let values: Vec<usize> = (0..256).filter(|&v| seen[v]).collect();
    let Some(&max) = values.last() else {
        bail!("the data set has no labels");
    };
    let names = match &args.classes {
        Some(path) => {
            let names = read_names(path)?;
            let k = names.len();
            let beyond: Vec<usize> = values.iter().copied().filter(|&v| v >= k).collect();
            if !beyond.is_empty() {
                bail!(
                    "--classes {} names {k} classes (labels 0 to {}), but the labels include {}: give one line per class, {} lines for labels up to {max}",
                    path.display(),
                    k - 1,
                    show_values(beyond),
                    max + 1
                );
            }
            names
        }
        None => {
            if values.len() != max + 1 {
                bail!(
                    "the labels are {} ({} values), not 0 to {} without gaps: pass --classes FILE with one name per class ({} lines for labels up to {max}) to train on them as they are",
                    show_values(values.iter().copied()),
                    values.len(),
                    values.len() - 1,
                    max + 1
                );
            }
            default_names(&args.data, max + 1)
        }
    };
    let untrained: Vec<usize> = (0..names.len()).filter(|&c| !in_train[c]).collect();
    if !untrained.is_empty() {
        out.warn(format_args!(
            "class{} {} of {} ha{} no training sample (the labels found are {})",
            if untrained.len() == 1 { "" } else { "es" },
            show_values(untrained.iter().copied()),
            names.len(),
            if untrained.len() == 1 { "s" } else { "ve" },
            show_values(values.iter().copied()),
        ));
    }
    Ok(Classes { names })
}

/// The class names for a saved model of `n_outputs` classes: `--classes`, else the names saved
/// in the model, else the defaults.
pub(crate) fn names_for_model(
    args: &DataArgs,
    metadata: &ModelMetadata,
    n_outputs: usize,
) -> Result<Vec<String>> {
    if let Some(path) = &args.classes {
        let names = read_names(path)?;
        if names.len() != n_outputs {
            bail!(
                "--classes {} names {} classes, but the model has {n_outputs} outputs: give one line per output",
                path.display(),
                names.len()
            );
        }
        return Ok(names);
    }
    if metadata.class_names.len() == n_outputs {
        return Ok(metadata.class_names.clone());
    }
    Ok(default_names(&args.data, n_outputs))
}

/// Checks that a model of `n_inputs` inputs and `n_outputs` classes fits the test set.
pub(crate) fn check_fits(n_inputs: usize, n_outputs: usize, test: &ImageSet) -> Result<()> {
    if n_inputs != test.n_features() {
        bail!(
            "the model takes {n_inputs} inputs, but the images of the data set have {} pixels ({}×{}): pass the --data it was trained on",
            test.n_features(),
            test.n_rows(),
            test.n_cols()
        );
    }
    let seen = values_in(&[test.labels()]);
    let beyond: Vec<usize> = (n_outputs..256).filter(|&v| seen[v]).collect();
    if !beyond.is_empty() {
        bail!(
            "the model has {n_outputs} classes (0 to {}), but the test labels include {}: pass the --data it was trained on",
            n_outputs.saturating_sub(1),
            show_values(beyond)
        );
    }
    Ok(())
}

/// The samples `range` of `set` as a data set of `n_classes` classes, pixels scaled to [0, 1].
/// The matrix is reserved fallibly: a set too large for the memory is an error, not an abort.
pub(crate) fn to_dataset<T: Float>(
    set: &ImageSet,
    n_samples: usize,
    n_classes: usize,
) -> Result<Dataset<T>> {
    let n = n_samples.min(set.n_samples());
    let n_features = set.n_features();
    let pixels = set.pixels();
    let mut x = Mat::<T>::new();
    x.try_reserve(n_features, n).map_err(|_| {
        let bytes = (n_features as u64)
            .saturating_mul(n as u64)
            .saturating_mul(std::mem::size_of::<T>() as u64);
        anyhow!("not enough memory for {n} images of the data set ({})", show_size(bytes))
    })?;
    x.resize_with(n_features, n, |i, j| T::from_f64(f64::from(pixels[j * n_features + i]) / 255.0));
    let mut labels = Vec::new();
    labels.try_reserve_exact(n).map_err(|_| anyhow!("not enough memory for {n} labels"))?;
    labels.extend(set.labels()[..n].iter().map(|&l| usize::from(l)));
    Ok(Dataset::classification(x, labels, n_classes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_shown_as_ranges() {
        assert_eq!(show_values([0, 1, 2, 3, 9, 255]), "0–3, 9, 255");
        assert_eq!(show_values([4, 5]), "4, 5");
        assert_eq!(show_values([]), "");
    }

    /// A folder-free data set: `train` and `test` labels, 2×2 images.
    fn data(train: &[u8], test: &[u8]) -> MnistLike {
        let set = |labels: &[u8]| {
            // One folder per call: tests run in parallel in one process.
            static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "mnist-data-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&dir).unwrap();
            let n = u32::try_from(labels.len()).unwrap();
            let mut images = vec![0, 0, 8, 3];
            for d in [n, 2, 2] {
                images.extend_from_slice(&d.to_be_bytes());
            }
            images.extend(std::iter::repeat_n(7u8, labels.len() * 4));
            let mut label_bytes = vec![0, 0, 8, 1];
            label_bytes.extend_from_slice(&n.to_be_bytes());
            label_bytes.extend_from_slice(labels);
            let (i, l) = (dir.join("i"), dir.join("l"));
            std::fs::write(&i, images).unwrap();
            std::fs::write(&l, label_bytes).unwrap();
            let set = nn::io::load_image_set(&i, &l, None).unwrap();
            std::fs::remove_dir_all(&dir).unwrap();
            set
        };
        MnistLike { train: set(train), test: set(test) }
    }

    fn args(classes: Option<&Path>) -> DataArgs {
        DataArgs { data: "/somewhere/mnist".into(), classes: classes.map(Path::to_owned) }
    }

    #[test]
    fn labels_with_gaps_are_an_error_naming_them() {
        let msg =
            classes_for_training(&args(None), &data(&[0, 1, 2, 255], &[0, 1]), &Out::silent())
                .unwrap_err()
                .to_string();
        assert!(
            msg.starts_with("the labels are 0–2, 255 (4 values), not 0 to 3 without gaps"),
            "{msg}"
        );
        assert!(msg.contains("pass --classes FILE") && msg.contains("256 lines"), "{msg}");
        let classes =
            classes_for_training(&args(None), &data(&[0, 1, 2], &[2, 1]), &Out::silent()).unwrap();
        assert_eq!(classes.names, ["0", "1", "2"]);
    }

    #[test]
    fn a_classes_file_sets_the_count_and_must_cover_every_label() {
        let path = std::env::temp_dir().join(format!("mnist-classes-{}", std::process::id()));
        std::fs::write(&path, "a\nb\nc\nd\n").unwrap();
        let classes =
            classes_for_training(&args(Some(&path)), &data(&[0, 1, 2], &[0]), &Out::silent())
                .unwrap();
        assert_eq!(classes.n(), 4, "class 3 has no sample: a warning, not an error");
        let msg =
            classes_for_training(&args(Some(&path)), &data(&[0, 1, 9, 200], &[0]), &Out::silent())
                .unwrap_err()
                .to_string();
        assert!(
            msg.contains("names 4 classes (labels 0 to 3), but the labels include 9, 200"),
            "{msg}"
        );
        std::fs::write(&path, "\n\n").unwrap();
        let msg = classes_for_training(&args(Some(&path)), &data(&[0], &[0]), &Out::silent())
            .unwrap_err();
        assert!(msg.to_string().contains("names no class"), "{msg}");
        std::fs::remove_file(&path).unwrap();
        let msg = classes_for_training(
            &args(Some(Path::new("/dev/zero"))),
            &data(&[0], &[0]),
            &Out::silent(),
        )
        .unwrap_err();
        assert!(format!("{msg:#}").contains("expected a regular file, found a character device"));
    }

    #[test]
    fn the_model_must_fit_the_test_set() {
        let d = data(&[0, 1], &[0, 12]);
        let msg = check_fits(4, 10, &d.test).unwrap_err().to_string();
        assert!(msg.contains("the test labels include 12"), "{msg}");
        let msg = check_fits(9, 13, &d.test).unwrap_err().to_string();
        assert!(
            msg.contains(
                "the model takes 9 inputs, but the images of the data set have 4 pixels (2×2)"
            ),
            "{msg}"
        );
        check_fits(4, 13, &d.test).unwrap();
    }

    #[test]
    fn conversion_scales_pixels_and_keeps_labels() {
        let d = data(&[0, 1, 1], &[0]);
        let set = to_dataset::<f32>(&d.train, 2, 2).unwrap();
        assert_eq!((set.n_features(), set.n_samples()), (4, 2));
        assert_eq!(set.labels().unwrap(), [0, 1]);
        assert_eq!(set.inputs()[(3, 1)], (7.0_f64 / 255.0) as f32);
    }
}
