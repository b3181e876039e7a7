//! Checked reads of the files users name: only regular files are opened (a device, a FIFO or a
//! folder is refused before anything is read from it), sizes are checked against what the format
//! allows before the content is read, and buffers are reserved fallibly, so that no path a user
//! can type makes a read run forever, exhaust memory or abort the process.

use std::fs::{self, File, Metadata};
use std::io::{self, Read};
use std::path::Path;

use crate::Error;

/// The largest class-names file [`read_class_names`] reads (1 MiB: thousands of names).
pub const MAX_CLASS_NAMES_BYTES: u64 = 1 << 20;

/// A size for messages: `"812 bytes"`, `"3.7 GB"` (decimal units, as `df -H` and disk makers).
/// The errors of this crate show sizes so; programs built on it can use it for theirs.
#[must_use]
pub fn show_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["kB", "MB", "GB", "TB", "PB", "EB"];
    if bytes < 1000 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 999.95 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// What a directory entry is, for messages: `"a folder"`, `"a character device"`, ...
pub(crate) fn describe_entry(metadata: &Metadata) -> &'static str {
    let file_type = metadata.file_type();
    if file_type.is_file() {
        return "a regular file";
    }
    if file_type.is_dir() {
        return "a folder";
    }
    if file_type.is_symlink() {
        return "a symbolic link";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_char_device() {
            return "a character device";
        }
        if file_type.is_block_device() {
            return "a block device";
        }
        if file_type.is_fifo() {
            return "a named pipe (FIFO)";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    "a special file"
}

/// Describes what `path` names, following symbolic links, as the `found` of
/// [`Error::WrongFileType`]: `"a character device"`, `"a symbolic link to a folder"`,
/// `"a broken symbolic link"`, ...
fn describe_path(path: &Path, metadata: &Metadata) -> String {
    let via_link = is_symlink(path);
    let what = describe_entry(metadata);
    if via_link { format!("a symbolic link to {what}") } else { what.into() }
}

/// The metadata of `path` (following links), as an [`Error`] naming it if it cannot be read.
/// A dangling symbolic link is a [`Error::WrongFileType`], not a missing file.
pub(crate) fn metadata(path: &Path, expected: &'static str) -> Result<Metadata, Error> {
    fs::metadata(path).map_err(|io| {
        let dangling = io.kind() == io::ErrorKind::NotFound && is_symlink(path);
        if dangling {
            Error::WrongFileType {
                path: path.to_owned(),
                expected,
                found: "a broken symbolic link".to_owned(),
            }
        } else {
            Error::Io { path: path.to_owned(), io }
        }
    })
}

/// Checks that `path` names a regular file (directly or through symbolic links) and returns its
/// metadata; nothing is opened, so a FIFO cannot block and a device is never read.
pub(crate) fn check_regular(path: &Path) -> Result<Metadata, Error> {
    let metadata = metadata(path, "a regular file")?;
    if metadata.is_file() {
        Ok(metadata)
    } else {
        Err(Error::WrongFileType {
            path: path.to_owned(),
            expected: "a regular file",
            found: describe_path(path, &metadata),
        })
    }
}

/// Checks that `path` names a folder (directly or through symbolic links).
pub(crate) fn check_folder(path: &Path) -> Result<(), Error> {
    let metadata = match fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(io) if io.kind() == io::ErrorKind::NotFound && !is_symlink(path) => {
            return Err(Error::MissingFolder { dir: path.to_owned() });
        }
        // A broken link, or an error other than a missing path (permissions, ...).
        Err(_) => metadata(path, "a folder")?,
    };
    if metadata.is_dir() {
        Ok(())
    } else {
        Err(Error::WrongFileType {
            path: path.to_owned(),
            expected: "a folder",
            found: describe_path(path, &metadata),
        })
    }
}

fn is_symlink(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// Opens the regular file at `path` and returns it with its length. The type is checked before
/// opening (opening a FIFO would block) and again on the open file (the path may have changed in
/// between).
pub(crate) fn open_regular(path: &Path) -> Result<(File, u64), Error> {
    check_regular(path)?;
    let io_error = |io| Error::Io { path: path.to_owned(), io };
    let file = File::open(path).map_err(io_error)?;
    let metadata = file.metadata().map_err(io_error)?;
    if !metadata.is_file() {
        return Err(Error::WrongFileType {
            path: path.to_owned(),
            expected: "a regular file",
            found: describe_entry(&metadata).to_owned(),
        });
    }
    Ok((file, metadata.len()))
}

/// An empty buffer with room for `len` bytes, or [`Error::OutOfMemory`].
pub(crate) fn reserve(path: &Path, len: u64) -> Result<Vec<u8>, Error> {
    let mut buf = Vec::new();
    let reserved = usize::try_from(len).ok().map(|n| buf.try_reserve_exact(n));
    match reserved {
        Some(Ok(())) => Ok(buf),
        _ => Err(Error::OutOfMemory { path: path.to_owned(), bytes: len }),
    }
}

/// Appends the rest of `file` to `buf`, at most `limit` more bytes. A file that grew beyond its
/// length since it was checked is read one byte past `limit`, so that the caller's length check
/// sees it.
pub(crate) fn read_rest(
    path: &Path,
    file: &mut File,
    limit: u64,
    buf: &mut Vec<u8>,
) -> Result<(), Error> {
    file.take(limit.saturating_add(1))
        .read_to_end(buf)
        .map(|_| ())
        .map_err(|io| Error::Io { path: path.to_owned(), io })
}

/// Reads the whole regular file at `path`, which must hold at most `max_bytes` bytes: what a
/// `what` (e.g. `"class-names file"`) can plausibly be.
///
/// Before reading anything, refuses what is not a regular file (a folder, a device such as
/// `/dev/zero`, a FIFO, a socket, a broken link: [`Error::WrongFileType`]) and a file larger
/// than `max_bytes` ([`Error::TooLarge`]); the buffer is reserved fallibly
/// ([`Error::OutOfMemory`]).
///
/// ```
/// let path = std::env::temp_dir().join(format!("nn-io-doc-read-{}", std::process::id()));
/// std::fs::write(&path, b"0123456789")?;
/// assert_eq!(nn_io::read_regular_file(&path, "note", 10)?, b"0123456789");
/// assert!(matches!(
///     nn_io::read_regular_file(&path, "note", 9),
///     Err(nn_io::Error::TooLarge { max: 9, found: 10, .. })
/// ));
/// assert!(matches!(
///     nn_io::read_regular_file(std::env::temp_dir(), "note", 10),
///     Err(nn_io::Error::WrongFileType { .. })
/// ));
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::WrongFileType`], [`Error::TooLarge`], [`Error::OutOfMemory`], and [`Error::Io`] if
/// the file cannot be read; each names the file.
pub fn read_regular_file(
    path: impl AsRef<Path>,
    what: &'static str,
    max_bytes: u64,
) -> Result<Vec<u8>, Error> {
    let path = path.as_ref();
    let (mut file, len) = open_regular(path)?;
    let too_large = |found| Error::TooLarge { path: path.to_owned(), what, max: max_bytes, found };
    if len > max_bytes {
        return Err(too_large(len));
    }
    let mut buf = reserve(path, len)?;
    read_rest(path, &mut file, max_bytes, &mut buf)?;
    let found = buf.len() as u64;
    if found > max_bytes {
        return Err(too_large(found));
    }
    Ok(buf)
}

/// Reads a class-names file: one name per line, in class order; surrounding white space is
/// trimmed and empty lines are skipped. At most [`MAX_CLASS_NAMES_BYTES`].
///
/// ```
/// let path = std::env::temp_dir().join(format!("nn-io-doc-classes-{}", std::process::id()));
/// std::fs::write(&path, "cat\n  dog \n\nbird\n")?;
/// assert_eq!(nn_io::read_class_names(&path)?, ["cat", "dog", "bird"]);
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// Those of [`read_regular_file`], and [`Error::NotText`] if the file is not UTF-8 text.
pub fn read_class_names(path: impl AsRef<Path>) -> Result<Vec<String>, Error> {
    let path = path.as_ref();
    let bytes = read_regular_file(path, "class-names file", MAX_CLASS_NAMES_BYTES)?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        Error::NotText { path: path.to_owned(), line }
    })?;
    Ok(text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_and_folders_are_refused_before_reading() {
        #[cfg(unix)]
        for device in ["/dev/zero", "/dev/urandom", "/dev/null"] {
            let err = read_regular_file(device, "test file", 10).unwrap_err();
            assert!(
                matches!(&err, Error::WrongFileType { expected: "a regular file", found, .. }
                    if found == "a character device"),
                "{device}: {err:?}"
            );
        }
        let err = read_regular_file(std::env::temp_dir(), "test file", 10).unwrap_err();
        assert!(matches!(err, Error::WrongFileType { .. }), "{err:?}");
        assert!(err.to_string().ends_with("expected a regular file, found a folder"), "{err}");
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(show_size(0), "0 bytes");
        assert_eq!(show_size(999), "999 bytes");
        assert_eq!(show_size(1000), "1.0 kB");
        assert_eq!(show_size(3_700_480_000), "3.7 GB");
        assert_eq!(show_size(999_960_000), "1.0 GB");
        assert_eq!(show_size(u64::MAX), "18.4 EB");
    }

    #[test]
    fn invalid_utf8_names_its_line() {
        let path = std::env::temp_dir().join(format!("nn-io-classes-{}", std::process::id()));
        fs::write(&path, b"cat\ndog\nb\xffrd\n").unwrap();
        let err = read_class_names(&path).unwrap_err();
        assert!(matches!(err, Error::NotText { line: 3, .. }), "{err:?}");
        fs::remove_file(&path).unwrap();
    }
}
