//! Crash-safe writes: the bytes go to a temporary file in the target's directory, which is
//! flushed to disk and renamed over the target; then the directory is flushed, so that the
//! rename itself survives a power cut. A reader (or a crash) sees the old file or the new one,
//! never a mix; a failed write leaves the old file as it was and no temporary file behind.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::Error;

/// The points of a write where a test can make it fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// The temporary file is written and flushed.
    Written,
    /// Rotation is done; the rename comes next.
    BeforeRename,
}

/// Writes `bytes` to `path` atomically. With `keep_last ≥ 2`, the file that `path` held becomes
/// `path.1`, `path.1` becomes `path.2`, and so on, keeping `keep_last` files in all.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], keep_last: usize) -> Result<(), Error> {
    write_atomic_with(path, bytes, keep_last, &mut |_| Ok(()))
}

/// [`write_atomic`], calling `hook` at each [`Step`]: an error from it fails the write there.
pub(crate) fn write_atomic_with(
    path: &Path,
    bytes: &[u8],
    keep_last: usize,
    hook: &mut dyn FnMut(Step) -> io::Result<()>,
) -> Result<(), Error> {
    let fail = |io| Error::Write { path: path.to_owned(), io };
    let Some(name) = path.file_name() else {
        return Err(fail(io::Error::new(io::ErrorKind::InvalidInput, "the path names no file")));
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let tmp = dir.join(temp_name(name));
    // `create_new`: never open a file that is not ours (and so never delete one either).
    let mut file = OpenOptions::new().write(true).create_new(true).open(&tmp).map_err(fail)?;
    let result = (|| {
        file.write_all(bytes)?;
        file.sync_all()?;
        hook(Step::Written)?;
        if keep_last >= 2 {
            rotate(path, keep_last)?;
        }
        hook(Step::BeforeRename)?;
        fs::rename(&tmp, path)
    })();
    drop(file);
    if let Err(io) = result {
        let _ = fs::remove_file(&tmp);
        return Err(fail(io));
    }
    // Best effort: some platforms (Windows) cannot open a directory to flush it.
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// `.{name}.tmp.{pid}.{counter}`: hidden, and unique among the threads and processes that write
/// to the same directory.
fn temp_name(name: &std::ffi::OsStr) -> OsString {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut tmp = OsString::from(".");
    tmp.push(name);
    tmp.push(format!(".tmp.{}.{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)));
    tmp
}

/// `path` with `.{i}` appended.
pub(crate) fn numbered(path: &Path, i: usize) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{i}"));
    PathBuf::from(name)
}

fn exists(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

/// Shifts the chain `path.1`, `path.2`, ... up by one (dropping the oldest beyond
/// `keep_last − 1`), then puts a copy of `path` at `path.1`: a hard link where the file system
/// allows it. `path` itself stays in place until the rename replaces it, so a failure from here
/// on never loses it.
fn rotate(path: &Path, keep_last: usize) -> io::Result<()> {
    if !exists(path) {
        return Ok(());
    }
    let max_old = keep_last - 1;
    let mut top = 0;
    while top < max_old && exists(&numbered(path, top + 1)) {
        top += 1;
    }
    if top == max_old {
        fs::remove_file(numbered(path, top))?;
        top -= 1;
    }
    for i in (1..=top).rev() {
        fs::rename(numbered(path, i), numbered(path, i + 1))?;
    }
    let first = numbered(path, 1);
    if fs::hard_link(path, &first).is_err() {
        fs::copy(path, &first)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh folder under the system's temporary directory, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "nn-io-atomic-{}-{}",
                std::process::id(),
                temp_name(name.as_ref()).to_string_lossy()
            ));
            fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        /// The names of the files in the folder, sorted.
        fn names(&self) -> Vec<String> {
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

    fn injected() -> io::Error {
        io::Error::other("injected failure")
    }

    #[test]
    fn a_write_replaces_the_file_and_leaves_no_temporary_file() {
        let dir = TempDir::new("replace");
        let path = dir.0.join("model.nnm");
        write_atomic(&path, b"old", 1).unwrap();
        write_atomic(&path, b"new", 1).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert_eq!(dir.names(), ["model.nnm"]);
    }

    #[test]
    fn a_failure_before_the_rename_keeps_the_old_file_and_removes_the_temporary_one() {
        for step in [Step::Written, Step::BeforeRename] {
            for keep_last in [1, 3] {
                let dir = TempDir::new("fail");
                let path = dir.0.join("ckpt.nnc");
                write_atomic(&path, b"old", 1).unwrap();
                let err = write_atomic_with(&path, b"new", keep_last, &mut |s| {
                    if s == step { Err(injected()) } else { Ok(()) }
                })
                .unwrap_err();
                assert!(matches!(&err, Error::Write { path: p, .. } if *p == path), "{err}");
                assert!(err.to_string().contains("injected failure"), "{err}");
                assert_eq!(fs::read(&path).unwrap(), b"old", "{step:?}, keep {keep_last}");
                let leftovers: Vec<String> =
                    dir.names().into_iter().filter(|n| n.contains(".tmp.")).collect();
                assert!(leftovers.is_empty(), "{leftovers:?}");
            }
        }
    }

    #[test]
    fn rotation_keeps_the_last_n_files() {
        let dir = TempDir::new("rotate");
        let path = dir.0.join("ckpt");
        for k in 0..6 {
            write_atomic(&path, format!("v{k}").as_bytes(), 3).unwrap();
        }
        assert_eq!(dir.names(), ["ckpt", "ckpt.1", "ckpt.2"]);
        assert_eq!(fs::read(&path).unwrap(), b"v5");
        assert_eq!(fs::read(numbered(&path, 1)).unwrap(), b"v4");
        assert_eq!(fs::read(numbered(&path, 2)).unwrap(), b"v3");
        // Keeping fewer later drops only what would be pushed beyond the new count.
        write_atomic(&path, b"v6", 2).unwrap();
        assert_eq!(fs::read(numbered(&path, 1)).unwrap(), b"v5");
        assert_eq!(fs::read(numbered(&path, 2)).unwrap(), b"v3");
    }

    #[test]
    fn a_path_without_a_file_name_is_an_error() {
        assert!(matches!(write_atomic(Path::new("/"), b"x", 1), Err(Error::Write { .. })));
    }
}
