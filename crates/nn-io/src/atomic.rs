//! Crash-safe writes: the bytes go to a temporary file in the target's directory, which is
//! flushed to disk and renamed over the target; then the directory is flushed, so that the
//! rename itself survives a power cut. A reader (or a crash) sees the old file or the new one,
//! never a mix; a failed write leaves the old file as it was and no temporary file behind.
//!
//! A process killed during a write leaves its temporary file (`.{name}.tmp.{pid}.{counter}`);
//! the next write to the same target removes those whose process no longer exists.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::Error;
use crate::files::{check_folder, describe_entry};

/// Writes `bytes` to the file at `path` atomically: a reader, or a crash at any moment, sees the
/// old file or the complete new one, never a mix. The bytes go to a temporary file in the same
/// folder, which is flushed to disk and renamed over `path`; then the folder is flushed. A
/// failed write leaves the old file as it was and no temporary file. A symbolic link at `path`
/// is replaced by the file (its target is left alone); anything else than a regular file or a
/// link there (a folder, a device) is refused, never replaced. Temporary files left by earlier
/// writes to `path` from processes that no longer exist are removed.
///
/// ```
/// let path = std::env::temp_dir().join(format!("nn-io-doc-atomic-{}", std::process::id()));
/// nn_io::write_file_atomic(&path, b"old")?;
/// nn_io::write_file_atomic(&path, b"new")?;
/// assert_eq!(std::fs::read(&path)?, b"new");
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::Write`] if the file cannot be written (nothing was replaced), and
/// [`Error::WrongFileType`] if `path` names something that is not a regular file or a link.
pub fn write_file_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> Result<(), Error> {
    write_atomic(path.as_ref(), bytes, 1)
}

/// Checks, without changing anything, that [`write_file_atomic`] (and so `save_model`,
/// `save_checkpoint`, `export_safetensors`) could write `path`: its folder exists, a file can be
/// created there (one is created and removed at once, under a temporary file's name), and `path`
/// is not something a write would refuse to replace (a folder, a device). For programs that
/// check their outputs before hours of work.
///
/// # Errors
/// [`Error::MissingFolder`] or [`Error::WrongFileType`] for the folder, [`Error::WrongFileType`]
/// for `path` itself, and [`Error::Write`] if no file can be created in the folder (read-only,
/// permissions, no space for a new entry).
pub fn check_writable(path: impl AsRef<Path>) -> Result<(), Error> {
    let path = path.as_ref();
    let (dir, name) = split(path)?;
    check_folder(dir)?;
    check_target(path)?;
    let tmp = dir.join(temp_name(name));
    let fail = |io| Error::Write { path: path.to_owned(), io };
    OpenOptions::new().write(true).create_new(true).open(&tmp).map_err(fail)?;
    fs::remove_file(&tmp).map_err(fail)
}

/// The folder and the file name of a path to write.
fn split(path: &Path) -> Result<(&Path, &OsStr), Error> {
    let Some(name) = path.file_name() else {
        return Err(Error::Write {
            path: path.to_owned(),
            io: io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"),
        });
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    Ok((dir, name))
}

/// Refuses to replace what is not a regular file or a symbolic link: renaming over a device
/// node (as root, `/dev/null`) or a folder would destroy it.
fn check_target(path: &Path) -> Result<(), Error> {
    match fs::symlink_metadata(path) {
        Ok(m) if !(m.is_file() || m.file_type().is_symlink()) => Err(Error::WrongFileType {
            path: path.to_owned(),
            expected: "a regular file (or a path to create one)",
            found: describe_entry(&m).to_owned(),
        }),
        _ => Ok(()),
    }
}

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
    let (dir, name) = split(path)?;
    check_target(path)?;
    remove_stale_temps(dir, name);
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

/// Removes the temporary files that writes of `name` in `dir` left behind when their process
/// died (killed, or a power cut): regular files named exactly `.{name}.tmp.{pid}.{counter}` (as
/// [`temp_name`] writes them) whose process no longer exists. A file of this process or of a
/// live one, a link, a folder or a name that does not match exactly is never touched. Only
/// where liveness can be known, from `/proc` (Linux); elsewhere nothing is removed. A process in
/// another PID namespace (another container) writing to the same folder looks dead: such setups
/// should not share output folders. Best effort: errors are ignored, the write goes on.
fn remove_stale_temps(dir: &Path, name: &OsStr) {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return;
    }
    let Some(name) = name.to_str() else { return };
    let prefix = format!(".{name}.tmp.");
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(rest) = file_name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        let Some((pid, counter)) = rest.split_once('.') else { continue };
        let canonical = |s: &str| s.parse::<u64>().is_ok_and(|v| v.to_string() == s);
        let Ok(pid_value) = pid.parse::<u32>() else { continue };
        if !canonical(pid) || !canonical(counter) || pid_value == 0 {
            continue;
        }
        let alive = pid_value == std::process::id() || proc.join(pid).exists();
        // `DirEntry::file_type` does not follow links: a link is not a regular file here.
        if !alive && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = fs::remove_file(entry.path());
        }
    }
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

    /// The id of a process that has exited.
    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn stale_temporary_files_of_dead_processes_go_at_the_next_write() {
        let dir = TempDir::new("stale");
        let path = dir.0.join("ckpt");
        let dead = dead_pid();
        let own = std::process::id();
        let stale = [format!(".ckpt.tmp.{dead}.0"), format!(".ckpt.tmp.{dead}.17")];
        let kept = [
            // A live process (init), and this one.
            ".ckpt.tmp.1.0".to_owned(),
            format!(".ckpt.tmp.{own}.999"),
            // Not exactly our pattern.
            format!(".ckpt.tmp.{dead}"),
            format!(".ckpt.tmp.{dead}.x"),
            format!(".ckpt.tmp.0{dead}.1"),
            format!(".ckpt.tmp.{dead}.01"),
            format!(".ckpt.tmp.{dead}.1.2"),
            format!("ckpt.tmp.{dead}.1"),
            format!(".ckpt2.tmp.{dead}.1"),
            format!(".other.tmp.{dead}.1"),
            ".ckpt.tmp.0.1".to_owned(),
        ];
        for name in stale.iter().chain(&kept) {
            fs::write(dir.0.join(name), b"partial").unwrap();
        }
        // A folder and a link with a stale name are not ours to remove either.
        let folder = format!(".ckpt.tmp.{dead}.5");
        fs::create_dir(dir.0.join(&folder)).unwrap();
        let link = format!(".ckpt.tmp.{dead}.6");
        std::os::unix::fs::symlink(dir.0.join(&kept[0]), dir.0.join(&link)).unwrap();
        write_atomic(&path, b"new", 1).unwrap();
        let mut expected: Vec<String> =
            kept.iter().cloned().chain([folder, link, "ckpt".to_owned()]).collect();
        expected.sort();
        assert_eq!(dir.names(), expected);
    }

    #[test]
    fn a_folder_or_a_device_is_never_replaced() {
        let dir = TempDir::new("target-type");
        let sub = dir.0.join("sub");
        fs::create_dir(&sub).unwrap();
        for result in [write_file_atomic(&sub, b"x"), check_writable(&sub)] {
            let err = result.unwrap_err();
            assert!(
                matches!(&err, Error::WrongFileType { found, .. } if found == "a folder"),
                "{err}"
            );
        }
        assert!(sub.is_dir());
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt;
            // As root (CI), a rename over /dev/null would succeed: it must not be attempted.
            for result in
                [write_file_atomic("/dev/null", b"x"), check_writable(Path::new("/dev/null"))]
            {
                assert!(matches!(result, Err(Error::WrongFileType { .. })), "{result:?}");
            }
            assert!(fs::metadata("/dev/null").unwrap().file_type().is_char_device());
        }
        assert_eq!(dir.names(), ["sub"]);
    }

    #[test]
    fn check_writable_changes_nothing_and_names_what_is_wrong() {
        let dir = TempDir::new("writable");
        let path = dir.0.join("model.nnm");
        check_writable(&path).unwrap();
        assert!(dir.names().is_empty());
        write_atomic(&path, b"old", 1).unwrap();
        check_writable(&path).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(dir.names(), ["model.nnm"]);
        let err = check_writable(dir.0.join("nowhere/model.nnm")).unwrap_err();
        assert!(matches!(err, Error::MissingFolder { .. }), "{err}");
        let err = check_writable(path.join("x")).unwrap_err();
        assert!(
            matches!(&err, Error::WrongFileType { expected: "a folder", found, .. } if found == "a regular file"),
            "{err}"
        );
    }

    #[test]
    fn a_path_without_a_file_name_is_an_error() {
        assert!(matches!(write_atomic(Path::new("/"), b"x", 1), Err(Error::Write { .. })));
    }
}
