//! The files a run writes, checked before any work: no two outputs land on the same file (also
//! through `./`, `..` or linked folders), no output replaces an input (the checkpoint resumed,
//! the data, the class names), and every output can be written (its folder exists and takes a
//! new file, the path is not a folder or a device). Default outputs go to a new numbered folder
//! `runs/train-N`, created only when training starts.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

/// A file the program is asked to read or write, with the flag that names it.
#[derive(Clone, Debug)]
pub(crate) struct Named {
    pub(crate) flag: &'static str,
    pub(crate) path: PathBuf,
}

impl Named {
    pub(crate) fn new(flag: &'static str, path: impl Into<PathBuf>) -> Named {
        Named { flag, path: path.into() }
    }
}

/// Where the files that no flag names go: `runs/train-N` under the current folder, for the
/// first N not taken.
#[derive(Debug)]
pub(crate) struct RunFolder {
    pub(crate) path: PathBuf,
    created: bool,
    /// Whether creating it also created `runs/`.
    created_base: bool,
}

/// The folder of run folders, relative to the current folder (covered by `.gitignore`).
pub(crate) const RUNS: &str = "runs";

impl RunFolder {
    /// The next free `runs/train-N` (nothing is created yet).
    pub(crate) fn next() -> RunFolder {
        RunFolder::next_in(Path::new(RUNS))
    }

    fn next_in(base: &Path) -> RunFolder {
        let path = (1..)
            .map(|n| base.join(format!("train-{n}")))
            .find(|p| fs::symlink_metadata(p).is_err())
            .unwrap_or_else(|| base.join("train"));
        RunFolder { path, created: false, created_base: false }
    }

    /// Creates the folder (and `runs/`). It must not exist: a run never writes into a folder
    /// another run owns.
    pub(crate) fn create(&mut self) -> Result<()> {
        if let Some(base) = self.path.parent() {
            self.created_base = fs::symlink_metadata(base).is_err();
            fs::create_dir_all(base)
                .map_err(|e| anyhow::anyhow!("cannot create the folder {}: {e}", base.display()))?;
        }
        fs::create_dir(&self.path).map_err(|e| {
            anyhow::anyhow!("cannot create the folder {}: {e}", self.path.display())
        })?;
        self.created = true;
        Ok(())
    }

    /// Removes the folder if this run created it and left nothing in it (a run that failed),
    /// and `runs/` too if it was created for it and is empty.
    pub(crate) fn remove_if_empty(&self) {
        if self.created
            && fs::remove_dir(&self.path).is_ok()
            && self.created_base
            && let Some(base) = self.path.parent()
        {
            let _ = fs::remove_dir(base);
        }
    }

    /// Checks that the folder can be created: `runs/` is a folder that takes new entries, or
    /// can be created in the current folder.
    fn check_creatable(&self) -> Result<()> {
        let target = match self.path.parent() {
            Some(base) if fs::symlink_metadata(base).is_ok() => self.path.clone(),
            Some(base) => base.to_owned(),
            None => self.path.clone(),
        };
        nn::io::check_writable(&target).map_err(|e| {
            anyhow::anyhow!("cannot create the output folder {}: {e}", self.path.display())
        })
    }
}

/// Where a write to `path` lands: its folder with links, `.` and `..` resolved, and its file name.
/// A link at `path` itself is not followed: an atomic write replaces the link, not its target.
/// `None` if the folder does not exist (the writability check reports it).
fn landing(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    resolve(dir).map(|d| d.join(name))
}

/// `path` with links, `.` and `..` resolved; for a path that does not exist yet, its deepest
/// existing ancestor resolved and the rest appended.
fn resolve(path: &Path) -> Option<PathBuf> {
    if let Ok(p) = fs::canonicalize(path) {
        return Some(p);
    }
    let name = path.file_name()?;
    let parent = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    resolve(parent).map(|p| p.join(name))
}

/// Checks the outputs of a run before any work. `run_folder` is where outputs without a flag
/// go (`None` if every output was named); `inputs` are the files read; `may_replace` lists the
/// (output flag, input flag) pairs where replacing is the point (`--save` of a `--resume`d run).
pub(crate) fn check(
    outputs: &[Named],
    run_folder: Option<&RunFolder>,
    inputs: &[Named],
    may_replace: &[(&str, &str)],
) -> Result<()> {
    let landings: Vec<Option<PathBuf>> = outputs.iter().map(|o| landing(&o.path)).collect();
    for (i, a) in outputs.iter().enumerate() {
        for (b, landing_b) in outputs.iter().zip(&landings).skip(i + 1) {
            if landings[i].is_some() && landings[i] == *landing_b {
                bail!(
                    "{} {} and {} {} are the same file: give each output its own path",
                    a.flag,
                    a.path.display(),
                    b.flag,
                    b.path.display()
                );
            }
        }
    }
    for input in inputs {
        let Ok(source) = fs::canonicalize(&input.path) else { continue };
        for (output, landing) in outputs.iter().zip(&landings) {
            if landing.as_ref() == Some(&source)
                && !may_replace.contains(&(output.flag, input.flag))
            {
                bail!(
                    "{} {} would replace the file read by {} ({}): give {} another path",
                    output.flag,
                    output.path.display(),
                    input.flag,
                    input.path.display(),
                    output.flag
                );
            }
        }
    }
    if let Some(folder) = run_folder {
        folder.check_creatable()?;
    }
    for output in outputs {
        if run_folder.is_some_and(|f| output.path.starts_with(&f.path)) {
            continue;
        }
        nn::io::check_writable(&output.path).map_err(|e| {
            let text = e.to_string();
            let shown = output.path.display().to_string();
            if text.contains(&shown) {
                anyhow::anyhow!("{}: {text}", output.flag)
            } else {
                anyhow::anyhow!("{} {shown}: {text}", output.flag)
            }
        })?;
    }
    Ok(())
}

/// The files of an MNIST-like folder that exist, as inputs no output may replace.
pub(crate) fn data_files(dir: &Path) -> Vec<Named> {
    let names = [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ];
    names
        .iter()
        .flat_map(|n| [dir.join(n), dir.join(format!("{n}.gz"))])
        .filter(|p| fs::symlink_metadata(p).is_ok())
        .map(|p| Named::new("--data", p))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh folder, removed on drop.
    struct Dir(PathBuf);

    impl Dir {
        fn new(name: &str) -> Dir {
            let dir =
                std::env::temp_dir().join(format!("mnist-outputs-{}-{name}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            Dir(dir)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn err(outputs: &[Named], inputs: &[Named]) -> String {
        check(outputs, None, inputs, &[("--save", "--resume")]).unwrap_err().to_string()
    }

    #[test]
    fn two_outputs_on_one_file_are_refused_whatever_the_spelling() {
        let dir = Dir::new("same");
        let d = &dir.0;
        fs::create_dir(d.join("sub")).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(d.join("sub"), d.join("link")).unwrap();
        let mut pairs = vec![
            (d.join("x"), d.join("x")),
            (d.join("m.model"), d.join("./m.model")),
            (d.join("m.png"), d.join("sub/../m.png")),
        ];
        if cfg!(unix) {
            pairs.push((d.join("sub/m"), d.join("link/m")));
        }
        for (a, b) in pairs {
            let outputs = [Named::new("--save", &a), Named::new("--save-model", &b)];
            let msg = err(&outputs, &[]);
            assert!(msg.contains("are the same file: give each output its own path"), "{msg}");
            assert!(msg.starts_with("--save "), "{msg}");
        }
        let outputs = [Named::new("--save", d.join("a")), Named::new("--plot", d.join("b.png"))];
        check(&outputs, None, &[], &[]).unwrap();
        // The check created nothing.
        let mut names: Vec<String> = fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let expected: &[&str] = if cfg!(unix) { &["link", "sub"] } else { &["sub"] };
        assert_eq!(names, expected);
    }

    #[test]
    fn an_output_never_replaces_an_input_unless_that_is_the_point() {
        let dir = Dir::new("inputs");
        let ckpt = dir.0.join("run.ckpt");
        fs::write(&ckpt, b"checkpoint").unwrap();
        let inputs = [Named::new("--resume", &ckpt)];
        let msg = err(&[Named::new("--save-model", dir.0.join("./run.ckpt"))], &inputs);
        assert!(msg.contains("would replace the file read by --resume"), "{msg}");
        check(&[Named::new("--save", &ckpt)], None, &inputs, &[("--save", "--resume")]).unwrap();
        assert_eq!(fs::read(&ckpt).unwrap(), b"checkpoint");
    }

    #[test]
    fn unwritable_outputs_are_named_before_any_work() {
        let dir = Dir::new("writable");
        let msg = err(&[Named::new("--save-model", dir.0.join("nowhere/m.model"))], &[]);
        assert!(msg.starts_with("--save-model "), "{msg}");
        assert!(msg.ends_with("nowhere does not exist"), "{msg}");
        fs::create_dir(dir.0.join("folder")).unwrap();
        let msg = err(&[Named::new("--plot", dir.0.join("folder"))], &[]);
        assert!(msg.contains("found a folder"), "{msg}");
        #[cfg(unix)]
        {
            let msg = err(&[Named::new("--save-model", "/dev/null")], &[]);
            assert!(msg.contains("found a character device"), "{msg}");
        }
    }

    #[test]
    fn run_folders_are_numbered_and_created_only_on_demand() {
        let dir = Dir::new("runs");
        let base = dir.0.join("runs");
        let mut first = RunFolder::next_in(&base);
        assert_eq!(first.path, base.join("train-1"));
        first.check_creatable().unwrap();
        assert!(
            fs::symlink_metadata(&base).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
        );
        first.create().unwrap();
        let mut second = RunFolder::next_in(&base);
        assert_eq!(second.path, base.join("train-2"));
        second.create().unwrap();
        second.remove_if_empty();
        assert!(!second.path.exists() && first.path.is_dir());
        // A failed first run removes `runs/` too, which it created.
        first.remove_if_empty();
        assert!(fs::symlink_metadata(&base).is_err());
        let mut first = RunFolder::next_in(&base);
        first.create().unwrap();
        // An existing folder is never taken over.
        let mut taken = RunFolder { path: first.path.clone(), created: false, created_base: false };
        assert!(taken.create().is_err());
        taken.remove_if_empty();
        assert!(first.path.is_dir());
    }
}
