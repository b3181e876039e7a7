//! The IDX format: element types, arrays, and parsing of raw and gzip-compressed bytes.
//!
//! ```text
//! offset        size   content
//! 0             2      magic: 00 00
//! 2             1      type code: 08 u8, 09 i8, 0b i16, 0c i32, 0d f32, 0e f64
//! 3             1      number of dimensions d (at least 1)
//! 4             4·d    sizes, each a big-endian u32
//! 4 + 4·d       ...    the data, big-endian, row-major (the last index varies fastest)
//! ```

use std::fmt;
use std::io::{self, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::files::{open_regular, read_rest, reserve};
use crate::{Error, IdxError};

/// The two bytes that start every gzip stream (RFC 1952).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// Magic number, type code and number of dimensions.
const PREFIX_LEN: usize = 4;
/// Deflate expands at most 1032-fold (a 258-byte match coded in 2 bits), so a gzip stream of
/// `n` bytes never holds more than `n * MAX_DEFLATE_RATIO` bytes: the cap on what is reserved
/// before decompressing.
const MAX_DEFLATE_RATIO: usize = 1032;

/// The element type of an IDX array, given by the third byte of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdxType {
    /// Unsigned byte, type code `0x08`.
    U8,
    /// Signed byte, type code `0x09`.
    I8,
    /// Big-endian 16-bit signed integer, type code `0x0B`.
    I16,
    /// Big-endian 32-bit signed integer, type code `0x0C`.
    I32,
    /// Big-endian IEEE 754 single precision, type code `0x0D`.
    F32,
    /// Big-endian IEEE 754 double precision, type code `0x0E`.
    F64,
}

impl IdxType {
    /// All six types, in the order of their type codes.
    pub const ALL: [IdxType; 6] =
        [IdxType::U8, IdxType::I8, IdxType::I16, IdxType::I32, IdxType::F32, IdxType::F64];

    /// The type with this type code, or `None` for a code that IDX does not define.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0x08 => Some(IdxType::U8),
            0x09 => Some(IdxType::I8),
            0x0B => Some(IdxType::I16),
            0x0C => Some(IdxType::I32),
            0x0D => Some(IdxType::F32),
            0x0E => Some(IdxType::F64),
            _ => None,
        }
    }

    /// The type code, the third byte of an IDX file.
    pub fn code(self) -> u8 {
        match self {
            IdxType::U8 => 0x08,
            IdxType::I8 => 0x09,
            IdxType::I16 => 0x0B,
            IdxType::I32 => 0x0C,
            IdxType::F32 => 0x0D,
            IdxType::F64 => 0x0E,
        }
    }

    /// The size of one element in bytes.
    pub fn size_bytes(self) -> usize {
        match self {
            IdxType::U8 | IdxType::I8 => 1,
            IdxType::I16 => 2,
            IdxType::I32 | IdxType::F32 => 4,
            IdxType::F64 => 8,
        }
    }

    /// The Rust name of the element type: `"u8"`, `"i8"`, `"i16"`, `"i32"`, `"f32"` or `"f64"`.
    pub fn name(self) -> &'static str {
        match self {
            IdxType::U8 => "u8",
            IdxType::I8 => "i8",
            IdxType::I16 => "i16",
            IdxType::I32 => "i32",
            IdxType::F32 => "f32",
            IdxType::F64 => "f64",
        }
    }
}

/// Shows the Rust name and the type code, e.g. `u8 (0x08)`.
impl fmt::Display for IdxType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (0x{:02x})", self.name(), self.code())
    }
}

/// The elements of an IDX array, in the file's row-major order, converted to native endianness.
#[derive(Debug, Clone, PartialEq)]
pub enum IdxData {
    /// Type code `0x08`.
    U8(Vec<u8>),
    /// Type code `0x09`.
    I8(Vec<i8>),
    /// Type code `0x0B`.
    I16(Vec<i16>),
    /// Type code `0x0C`.
    I32(Vec<i32>),
    /// Type code `0x0D`.
    F32(Vec<f32>),
    /// Type code `0x0E`.
    F64(Vec<f64>),
}

impl IdxData {
    /// The element type.
    pub fn idx_type(&self) -> IdxType {
        match self {
            IdxData::U8(_) => IdxType::U8,
            IdxData::I8(_) => IdxType::I8,
            IdxData::I16(_) => IdxType::I16,
            IdxData::I32(_) => IdxType::I32,
            IdxData::F32(_) => IdxType::F32,
            IdxData::F64(_) => IdxType::F64,
        }
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        match self {
            IdxData::U8(v) => v.len(),
            IdxData::I8(v) => v.len(),
            IdxData::I16(v) => v.len(),
            IdxData::I32(v) => v.len(),
            IdxData::F32(v) => v.len(),
            IdxData::F64(v) => v.len(),
        }
    }

    /// Whether there are no elements (some size is zero).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An IDX array: its sizes and its elements in row-major order.
///
/// Invariant: `data.len()` is the product of `dims`, and the product of the non-zero sizes,
/// times the element size in bytes, fits in `usize`, so any product of sizes can be computed
/// without overflow.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    dims: Vec<usize>,
    data: IdxData,
}

impl IdxArray {
    /// The sizes, outermost first (for MNIST images: samples, rows, columns). Never empty.
    pub fn dims(&self) -> &[usize] {
        &self.dims
    }

    /// The element type.
    pub fn idx_type(&self) -> IdxType {
        self.data.idx_type()
    }

    /// The elements, row-major: the last index varies fastest.
    pub fn data(&self) -> &IdxData {
        &self.data
    }

    /// The number of elements, the product of [`dims`](Self::dims).
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether there are no elements (some size is zero).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The sizes and the elements, without copying.
    pub fn into_parts(self) -> (Vec<usize>, IdxData) {
        (self.dims, self.data)
    }
}

/// Parses an IDX array from bytes that are already decompressed.
///
/// The data is allocated only after the header's sizes have been checked against
/// `bytes.len()`, so a header that claims more than the bytes hold costs nothing.
///
/// # Errors
/// [`IdxError::BadMagic`], [`IdxError::UnknownType`], [`IdxError::NoDimensions`],
/// [`IdxError::Truncated`] (header or data), [`IdxError::TrailingBytes`] and
/// [`IdxError::SizeOverflow`]. Gzip bytes are not recognised here (they fail with
/// [`IdxError::BadMagic`]): use [`decode_idx`] for input that may be compressed.
pub fn parse_idx(bytes: &[u8]) -> Result<IdxArray, IdxError> {
    let header = Header::parse(bytes)?;
    header.check_len(bytes.len())?;
    let data = decode_data(header.idx_type, bytes.get(header.len()..).unwrap_or_default());
    Ok(IdxArray { dims: header.dims, data })
}

/// Parses an IDX array from bytes that may be gzip-compressed.
///
/// Gzip is recognised by its magic bytes `1f 8b` (anything else goes to [`parse_idx`]).
/// Decompression stops one byte after the size that the header declares, and the buffer is
/// reserved for at most what the compressed input can expand to, so memory stays bounded by
/// the content that is really there, whatever the header claims. Concatenated gzip members
/// are read as one stream, as `gzip -d` does.
///
/// # Errors
/// Those of [`parse_idx`], and [`IdxError::Gzip`] for a stream that does not decompress
/// (corrupt, truncated, or with a wrong checksum). For gzip input, [`IdxError::TrailingBytes`]
/// counts the decompressed bytes.
pub fn decode_idx(bytes: &[u8]) -> Result<IdxArray, IdxError> {
    if is_gzip(bytes) { decode_gzip(bytes, bytes.len()) } else { parse_idx(bytes) }
}

/// Reads an IDX file, raw or gzip-compressed, as [`decode_idx`] does.
///
/// Nothing is read from a path that is not a regular file (a device such as `/dev/zero`, a FIFO,
/// a folder). A raw file's length must be exactly what its header declares, which is checked
/// before the data is read; a gzip file is decompressed as a stream, through the same limits as
/// [`decode_idx`]. Buffers are reserved fallibly.
///
/// # Errors
/// [`Error::WrongFileType`] for a path that is not a regular file, [`Error::Io`] if the file
/// cannot be read, [`Error::OutOfMemory`], and [`Error::Idx`] (with the [`IdxError`] of
/// [`decode_idx`]) if its content is not a valid IDX array; each names the file.
pub fn read_idx(path: impl AsRef<Path>) -> Result<IdxArray, Error> {
    let path = path.as_ref();
    let (mut file, len) = open_regular(path)?;
    let idx_error = |kind| Error::Idx { path: path.to_owned(), kind };
    let io_error = |io| Error::Io { path: path.to_owned(), io };
    let mut head = Vec::new();
    file.by_ref().take(PREFIX_LEN as u64).read_to_end(&mut head).map_err(io_error)?;
    if is_gzip(&head) {
        // Memory is bounded by what the header declares, whatever the file's length.
        let compressed_len = usize::try_from(len).unwrap_or(usize::MAX);
        let stream = io::Cursor::new(head).chain(io::BufReader::new(file));
        return decode_gzip(stream, compressed_len).map_err(idx_error);
    }
    let n_dims = parse_prefix(&head).map_err(idx_error)?.1;
    file.by_ref().take(4 * n_dims as u64).read_to_end(&mut head).map_err(io_error)?;
    let header = Header::parse(&head).map_err(idx_error)?;
    // The plausible size of the file is what its header declares: check it before reading.
    header.check_len(usize::try_from(len).unwrap_or(usize::MAX)).map_err(idx_error)?;
    let mut bytes = reserve(path, len)?;
    bytes.extend_from_slice(&head);
    read_rest(path, &mut file, len.saturating_sub(head.len() as u64), &mut bytes)?;
    parse_owned(bytes).map_err(idx_error)
}

fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&GZIP_MAGIC)
}

/// [`parse_idx`] on a buffer we own: u8 data reuses the buffer instead of copying it.
fn parse_owned(mut bytes: Vec<u8>) -> Result<IdxArray, IdxError> {
    let header = Header::parse(&bytes)?;
    header.check_len(bytes.len())?;
    let data = if header.idx_type == IdxType::U8 {
        bytes.drain(..header.len());
        IdxData::U8(bytes)
    } else {
        decode_data(header.idx_type, bytes.get(header.len()..).unwrap_or_default())
    };
    Ok(IdxArray { dims: header.dims, data })
}

/// Decompresses the gzip stream `compressed` (of `compressed_len` bytes) through limits derived
/// from the header, then parses it.
fn decode_gzip(compressed: impl Read, compressed_len: usize) -> Result<IdxArray, IdxError> {
    let mut decoder = MultiGzDecoder::new(compressed);
    let mut buf = Vec::new();
    read_at_most(&mut decoder, PREFIX_LEN, &mut buf)?;
    let n_dims = parse_prefix(&buf)?.1;
    read_at_most(&mut decoder, 4 * n_dims, &mut buf)?;
    let header = Header::parse(&buf)?;
    // Reserve what the header declares, but never more than the stream can expand to.
    let data_len = header.total_len - header.len();
    buf.try_reserve_exact(data_len.min(compressed_len.saturating_mul(MAX_DEFLATE_RATIO))).map_err(
        |_| IdxError::Gzip { message: format!("{data_len} bytes do not fit in memory") },
    )?;
    read_at_most(&mut decoder, data_len.saturating_add(1), &mut buf)?;
    if buf.len() > header.total_len {
        // Count the rest without storing it.
        let rest = io::copy(&mut decoder, &mut io::sink()).map_err(gzip_error)?;
        let rest = usize::try_from(rest).unwrap_or(usize::MAX);
        return Err(IdxError::TrailingBytes {
            expected: header.total_len,
            found: buf.len().saturating_add(rest),
        });
    }
    parse_owned(buf)
}

/// Appends at most `n` bytes from `reader` to `buf`, fewer if the stream ends first.
fn read_at_most(reader: &mut impl Read, n: usize, buf: &mut Vec<u8>) -> Result<(), IdxError> {
    let limit = u64::try_from(n).unwrap_or(u64::MAX);
    reader.take(limit).read_to_end(buf).map_err(gzip_error)?;
    Ok(())
}

#[expect(clippy::needless_pass_by_value, reason = "used as `map_err(gzip_error)`")]
fn gzip_error(err: io::Error) -> IdxError {
    IdxError::Gzip { message: err.to_string() }
}

/// The validated header of an IDX array.
#[derive(Debug)]
struct Header {
    idx_type: IdxType,
    dims: Vec<usize>,
    /// Header plus data, in bytes.
    total_len: usize,
}

impl Header {
    /// Parses and validates the header at the start of `bytes` (which may go on with data).
    fn parse(bytes: &[u8]) -> Result<Self, IdxError> {
        let (idx_type, n_dims) = parse_prefix(bytes)?;
        let header_len = PREFIX_LEN + 4 * n_dims;
        let size_bytes = bytes.get(PREFIX_LEN..header_len).ok_or(IdxError::Truncated {
            part: "header",
            expected: header_len,
            found: bytes.len(),
        })?;
        let raw_dims: Vec<u32> =
            size_bytes.as_chunks::<4>().0.iter().map(|c| u32::from_be_bytes(*c)).collect();
        let overflow = || IdxError::SizeOverflow { idx_type, dims: raw_dims.clone() };
        let dims = raw_dims
            .iter()
            .map(|&d| usize::try_from(d).map_err(|_| overflow()))
            .collect::<Result<Vec<usize>, _>>()?;
        // The non-zero sizes must multiply without overflow even when another size is zero, so
        // that every product of sizes that users compute later fits as well.
        let mut max_len = idx_type.size_bytes();
        for &d in dims.iter().filter(|&&d| d != 0) {
            max_len = max_len.checked_mul(d).ok_or_else(overflow)?;
        }
        let data_len = if dims.contains(&0) { 0 } else { max_len };
        let total_len = header_len.checked_add(data_len).ok_or_else(overflow)?;
        Ok(Header { idx_type, dims, total_len })
    }

    /// The length of the header in bytes.
    fn len(&self) -> usize {
        PREFIX_LEN + 4 * self.dims.len()
    }

    /// Checks that an input of `found` bytes holds exactly the header and its data.
    fn check_len(&self, found: usize) -> Result<(), IdxError> {
        let expected = self.total_len;
        match found.cmp(&expected) {
            std::cmp::Ordering::Less => Err(IdxError::Truncated { part: "data", expected, found }),
            std::cmp::Ordering::Equal => Ok(()),
            std::cmp::Ordering::Greater => Err(IdxError::TrailingBytes { expected, found }),
        }
    }
}

/// Checks the magic number, type code and number of dimensions.
fn parse_prefix(bytes: &[u8]) -> Result<(IdxType, usize), IdxError> {
    let truncated =
        || IdxError::Truncated { part: "header", expected: PREFIX_LEN, found: bytes.len() };
    // Check the magic number on whatever is there, so that a short non-IDX input is reported
    // as such rather than as truncated.
    if let [a, b, ..] = *bytes
        && [a, b] != [0, 0]
    {
        return Err(IdxError::BadMagic { found: [a, b] });
    }
    let &[_, _, code, n_dims, ..] = bytes else { return Err(truncated()) };
    let idx_type = IdxType::from_code(code).ok_or(IdxError::UnknownType { code })?;
    if n_dims == 0 {
        return Err(IdxError::NoDimensions);
    }
    Ok((idx_type, usize::from(n_dims)))
}

/// Converts big-endian data of a validated length (a multiple of the element size).
fn decode_data(idx_type: IdxType, bytes: &[u8]) -> IdxData {
    match idx_type {
        IdxType::U8 => IdxData::U8(bytes.to_vec()),
        IdxType::I8 => IdxData::I8(bytes.iter().map(|&b| i8::from_be_bytes([b])).collect()),
        IdxType::I16 => IdxData::I16(decode_be(bytes, i16::from_be_bytes)),
        IdxType::I32 => IdxData::I32(decode_be(bytes, i32::from_be_bytes)),
        IdxType::F32 => IdxData::F32(decode_be(bytes, f32::from_be_bytes)),
        IdxType::F64 => IdxData::F64(decode_be(bytes, f64::from_be_bytes)),
    }
}

fn decode_be<const N: usize, T>(bytes: &[u8], from_be: fn([u8; N]) -> T) -> Vec<T> {
    bytes.as_chunks::<N>().0.iter().map(|&c| from_be(c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_codes_round_trip() {
        for t in IdxType::ALL {
            assert_eq!(IdxType::from_code(t.code()), Some(t));
        }
        assert_eq!(IdxType::from_code(0x0A), None);
    }

    #[test]
    fn short_prefix_is_bad_magic_or_truncated() {
        assert_eq!(parse_prefix(&[7, 0]), Err(IdxError::BadMagic { found: [7, 0] }));
        assert!(matches!(parse_prefix(&[7]), Err(IdxError::Truncated { found: 1, .. })));
        assert!(matches!(parse_prefix(&[]), Err(IdxError::Truncated { found: 0, .. })));
    }

    #[test]
    fn overflow_is_checked_even_beside_a_zero_size() {
        let mut bytes = vec![0, 0, 0x0E, 4];
        for d in [0u32, u32::MAX, u32::MAX, u32::MAX] {
            bytes.extend_from_slice(&d.to_be_bytes());
        }
        assert!(matches!(Header::parse(&bytes), Err(IdxError::SizeOverflow { .. })));
    }
}
