//! The container of model files and training checkpoints: magic bytes, format version, payload
//! length and CRC-32, then the payload (bincode 2, private to this crate).
//!
//! ```text
//! offset  size  content
//! 0       8     magic: "NNMODEL\0" (model file) or "NNCKPT\0\0" (training checkpoint)
//! 8       4     format version, u32 little-endian (model files: 1 or 2, this build writes 2;
//!               checkpoints: 1 to 3, this build writes 3)
//! 12      8     payload length in bytes, u64 little-endian
//! 20      4     CRC-32 (IEEE 802.3, as zlib and gzip) of the payload, u32 little-endian
//! 24      ...   the payload, exactly as long as the header says
//! ```
//!
//! Every check runs before anything is decoded: the magic bytes, the version, the length against
//! the bytes really present (so a lying header costs nothing), then the checksum.
//!
//! Each kind of file has its own current version, raised only when its own content changes:
//! version 3 changed the training section alone, so model files stay at version 2 (and older
//! builds keep reading them), and a version-3 checkpoint's model section is version 2's.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{CheckpointError, FileKind};

/// The magic bytes of a model file.
pub(crate) const MODEL_MAGIC: [u8; 8] = *b"NNMODEL\0";
/// The magic bytes of a training checkpoint.
pub(crate) const CHECKPOINT_MAGIC: [u8; 8] = *b"NNCKPT\0\0";
/// The format version of the model files this build writes; it reads every version from 1 to
/// this one.
pub(crate) const MODEL_VERSION: u32 = 2;
/// The format version of the training checkpoints this build writes; it reads every version
/// from 1 to this one.
pub(crate) const CHECKPOINT_VERSION: u32 = 3;
/// Magic bytes, version, payload length and checksum.
pub(crate) const HEADER_LEN: usize = 24;

/// The validated content of a container.
#[derive(Debug)]
pub(crate) struct Container<'a> {
    pub(crate) kind: FileKind,
    /// The format version, between 1 and the kind's [`current_version`]: it selects the
    /// payload's decoder.
    pub(crate) version: u32,
    pub(crate) payload: &'a [u8],
}

fn magic(kind: FileKind) -> [u8; 8] {
    match kind {
        FileKind::Model => MODEL_MAGIC,
        FileKind::Checkpoint => CHECKPOINT_MAGIC,
    }
}

/// The format version that this build writes for files of `kind`, and the newest it reads.
pub(crate) fn current_version(kind: FileKind) -> u32 {
    match kind {
        FileKind::Model => MODEL_VERSION,
        FileKind::Checkpoint => CHECKPOINT_VERSION,
    }
}

/// The bytes of a file of `kind` holding `payload`, at the kind's current format version.
pub(crate) fn seal(kind: FileKind, payload: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER_LEN + payload.len());
    bytes.extend_from_slice(&magic(kind));
    bytes.extend_from_slice(&current_version(kind).to_le_bytes());
    bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

/// Checks the header and the checksum of `bytes`, and returns the payload.
pub(crate) fn open(bytes: &[u8]) -> Result<Container<'_>, CheckpointError> {
    let (kind, version, crc) = check_header(bytes, bytes.len() as u64)?;
    let payload = bytes.get(HEADER_LEN..).unwrap_or_default();
    let actual = crc32fast::hash(payload);
    if actual != crc {
        return Err(CheckpointError::ChecksumMismatch { expected: crc, found: actual });
    }
    Ok(Container { kind, version, payload })
}

/// Checks the header at the start of `head` (the first bytes of a file, or all of them) against
/// a file length of `found` bytes: magic bytes, version, and the payload length. Returns the kind,
/// the version and the payload's checksum. Enough to refuse a file before reading more than its
/// first [`HEADER_LEN`] bytes.
pub(crate) fn check_header(
    head: &[u8],
    found: u64,
) -> Result<(FileKind, u32, u32), CheckpointError> {
    // Check the magic bytes on whatever is there, so that a short file of another kind is
    // reported as such rather than as truncated.
    let magic_bytes = head.get(..8).unwrap_or(head);
    let kind = [FileKind::Model, FileKind::Checkpoint]
        .into_iter()
        .find(|&k| magic(k).starts_with(magic_bytes))
        .ok_or_else(|| CheckpointError::BadMagic { found: magic_bytes.to_vec() })?;
    let Some((header, _)) = head.split_first_chunk::<HEADER_LEN>() else {
        return Err(CheckpointError::Truncated {
            part: "header",
            expected: HEADER_LEN as u64,
            found,
        });
    };
    let (_, rest) = header.split_at(8);
    let (version, rest) = rest.split_at(4);
    let (len, crc) = rest.split_at(8);
    let version = u32::from_le_bytes(version.try_into().unwrap_or_default());
    if !(1..=current_version(kind)).contains(&version) {
        return Err(unsupported(kind, version));
    }
    let len = u64::from_le_bytes(len.try_into().unwrap_or_default());
    let expected = len.saturating_add(HEADER_LEN as u64);
    if found < expected {
        return Err(CheckpointError::Truncated { part: "payload", expected, found });
    }
    if found > expected {
        return Err(CheckpointError::TrailingBytes { expected, found });
    }
    Ok((kind, version, u32::from_le_bytes(crc.try_into().unwrap_or_default())))
}

/// The error for a format `version` of a file of `kind` that this build does not read.
pub(crate) fn unsupported(kind: FileKind, version: u32) -> CheckpointError {
    CheckpointError::UnsupportedVersion { found: version, supported: current_version(kind) }
}

/// The bincode configuration of the payload: little-endian, variable-length integers.
fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Appends `value` to `out` in the payload's encoding.
pub(crate) fn encode_into<S: Serialize>(
    value: &S,
    out: &mut Vec<u8>,
) -> Result<(), CheckpointError> {
    let bytes = bincode::serde::encode_to_vec(value, config())
        .map_err(|e| CheckpointError::Encode { message: e.to_string() })?;
    out.extend_from_slice(&bytes);
    Ok(())
}

/// The largest ratio of decoded to encoded bytes: bincode's limit counts each primitive at its
/// size in memory (a `u128` is 16 bytes), and a variable-length integer can take a single byte.
const MAX_EXPANSION: usize = 16;

/// Decodes one value from the start of `bytes`; returns it and the number of bytes it took.
///
/// bincode allocates a string's declared length before reading it, up to its decode limit,
/// which counts every decoded primitive at its size in memory. So the limit follows the input:
/// [`MAX_EXPANSION`] times its length (which any valid input stays within), rounded up to a
/// power of 4 because bincode's limit is a const generic. A lying length inside the payload
/// thus makes the decoder allocate at most 64 times the bytes really there, transiently; other
/// containers grow only as their elements are decoded (serde preallocates at most 1 MiB).
pub(crate) fn decode_prefix<D: DeserializeOwned>(
    bytes: &[u8],
) -> Result<(D, usize), CheckpointError> {
    let need = bytes.len().saturating_mul(MAX_EXPANSION);
    macro_rules! tiers {
        ($($shift:literal)*) => {$(
            if need <= 1 << $shift {
                return decode_limited::<D, { 1 << $shift }>(bytes);
            }
        )*};
    }
    tiers!(14 16 18 20 22 24 26 28 30);
    #[cfg(target_pointer_width = "64")]
    {
        tiers!(32 34 36 38 40 42 44);
    }
    Err(CheckpointError::Decode {
        message: format!("a payload of {} bytes is more than this build decodes", bytes.len()),
    })
}

fn decode_limited<D: DeserializeOwned, const LIMIT: usize>(
    bytes: &[u8],
) -> Result<(D, usize), CheckpointError> {
    bincode::serde::decode_from_slice(bytes, config().with_limit::<LIMIT>())
        .map_err(|e| CheckpointError::Decode { message: e.to_string() })
}

/// Decodes `bytes` as exactly one value.
#[cfg_attr(not(feature = "train"), allow(dead_code, reason = "checkpoints decode this way"))]
pub(crate) fn decode_exact<D: DeserializeOwned>(bytes: &[u8]) -> Result<D, CheckpointError> {
    let (value, used) = decode_prefix(bytes)?;
    check_consumed(bytes.len(), used)?;
    Ok(value)
}

/// Checks that a decoder used all `len` bytes of its input.
pub(crate) fn check_consumed(len: usize, used: usize) -> Result<(), CheckpointError> {
    if used == len {
        Ok(())
    } else {
        Err(CheckpointError::Decode {
            message: format!("{} unread bytes after the end of the data", len - used.min(len)),
        })
    }
}

/// Bytes for a message: printable ASCII as is, the rest escaped, in quotes.
pub(crate) fn show_bytes(bytes: &[u8]) -> String {
    format!("\"{}\"", bytes.escape_ascii())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_payload_opens() {
        let bytes = seal(FileKind::Checkpoint, b"abc");
        assert_eq!(bytes.len(), HEADER_LEN + 3);
        let c = open(&bytes).unwrap();
        assert_eq!((c.kind, c.version, c.payload), (FileKind::Checkpoint, 3, &b"abc"[..]));
        let model = seal(FileKind::Model, b"");
        let c = open(&model).unwrap();
        assert_eq!((c.kind, c.version, c.payload), (FileKind::Model, 2, &b""[..]));
    }

    #[test]
    fn each_kind_reads_the_versions_up_to_its_own() {
        let with_version = |kind, version: u32| {
            let mut bytes = seal(kind, b"abc");
            bytes[8..12].copy_from_slice(&version.to_le_bytes());
            open(&bytes).map(|c| c.version)
        };
        for version in 1..=3 {
            assert_eq!(with_version(FileKind::Checkpoint, version), Ok(version));
        }
        assert_eq!(with_version(FileKind::Model, 2), Ok(2));
        // Model files have no version 3: nothing in them changed.
        assert_eq!(
            with_version(FileKind::Model, 3),
            Err(CheckpointError::UnsupportedVersion { found: 3, supported: 2 })
        );
        assert_eq!(
            with_version(FileKind::Checkpoint, 4),
            Err(CheckpointError::UnsupportedVersion { found: 4, supported: 3 })
        );
        assert_eq!(
            with_version(FileKind::Checkpoint, 0),
            Err(CheckpointError::UnsupportedVersion { found: 0, supported: 3 })
        );
    }

    #[test]
    fn short_inputs_are_bad_magic_or_truncated() {
        assert!(matches!(open(b""), Err(CheckpointError::Truncated { part: "header", .. })));
        assert!(matches!(open(b"NNM"), Err(CheckpointError::Truncated { part: "header", .. })));
        assert!(matches!(open(b"NNX"), Err(CheckpointError::BadMagic { .. })));
        assert!(matches!(
            open(b"\x89PNG\r\n\x1a\n0000000000000000"),
            Err(CheckpointError::BadMagic { .. })
        ));
    }

    #[test]
    fn decode_limits_follow_the_input_length() {
        // A string that claims 1 MiB in a 6-byte input: the limit refuses it before allocating.
        let mut bytes = vec![];
        encode_into(&(1u64 << 20), &mut bytes).unwrap();
        bytes.push(b'x');
        assert!(matches!(
            decode_prefix::<String>(&bytes),
            Err(CheckpointError::Decode { message }) if message.contains("LimitExceeded")
        ));
        let mut ok = vec![];
        encode_into(&"hello".to_owned(), &mut ok).unwrap();
        assert_eq!(decode_exact::<String>(&ok).unwrap(), "hello");
        ok.push(0);
        assert!(matches!(decode_exact::<String>(&ok), Err(CheckpointError::Decode { .. })));
    }

    #[test]
    fn bytes_are_shown_escaped() {
        assert_eq!(show_bytes(b"NNMODEL\0"), "\"NNMODEL\\x00\"");
    }
}
