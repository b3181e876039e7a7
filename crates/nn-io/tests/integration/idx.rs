//! The IDX reader and the folder loader, on fixtures written by the tests themselves: every type
//! code, raw and gzip, every error case, and mutated files that must never make us panic.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers: a fixture that cannot be built is a failed test"
)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use flate2::Compression;
use flate2::write::GzEncoder;
use nn_io::{Error, IdxData, IdxError, IdxType, decode_idx, load_folder, parse_idx, read_idx};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Fixtures.

/// An IDX file: the header for `type_code` and `dims`, then `payload` as is.
fn idx_bytes(type_code: u8, dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let n_dims = u8::try_from(dims.len()).unwrap();
    let mut bytes = vec![0, 0, type_code, n_dims];
    for d in dims {
        bytes.extend_from_slice(&d.to_be_bytes());
    }
    bytes.extend_from_slice(payload);
    bytes
}

/// The big-endian payload of `data`, as an IDX file stores it.
fn payload(data: &IdxData) -> Vec<u8> {
    match data {
        IdxData::U8(v) => v.clone(),
        IdxData::I8(v) => v.iter().flat_map(|x| x.to_be_bytes()).collect(),
        IdxData::I16(v) => v.iter().flat_map(|x| x.to_be_bytes()).collect(),
        IdxData::I32(v) => v.iter().flat_map(|x| x.to_be_bytes()).collect(),
        IdxData::F32(v) => v.iter().flat_map(|x| x.to_be_bytes()).collect(),
        IdxData::F64(v) => v.iter().flat_map(|x| x.to_be_bytes()).collect(),
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A folder under the system's temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("nn-io-test-{}-{unique}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------------------------
// The single checks every case goes through.

/// Parses `bytes` raw, gzip-compressed, and from files (named with and without `.gz`, the
/// content deciding), and checks that each way gives `expected`.
fn check(bytes: &[u8], expected: &Result<(Vec<usize>, IdxData), IdxError>) {
    let got = |res: Result<nn_io::IdxArray, IdxError>| res.map(nn_io::IdxArray::into_parts);
    let compressed = gzip(bytes);
    assert_same(&got(parse_idx(bytes)), expected, "parse_idx");
    assert_same(&got(decode_idx(bytes)), expected, "decode_idx raw");
    assert_same(&got(decode_idx(&compressed)), expected, "decode_idx gzip");

    let dir = TempDir::new("check");
    let files = [
        dir.write("raw-idx3-ubyte", bytes),
        dir.write("gz-idx3-ubyte.gz", &compressed),
        // The name never decides: gzip content without `.gz`, raw content with it.
        dir.write("gz-without-suffix", &compressed),
        dir.write("raw-with-suffix.gz", bytes),
    ];
    for path in files {
        let res = match read_idx(&path) {
            Ok(array) => Ok(array.into_parts()),
            Err(Error::Idx { path: err_path, kind }) => {
                assert_eq!(err_path, path);
                Err(kind)
            }
            Err(other) => panic!("{}: unexpected error {other}", path.display()),
        };
        assert_same(&res, expected, &path.display().to_string());
    }
}

/// Compares results, data bitwise (so NaN payloads count too).
fn assert_same(
    found: &Result<(Vec<usize>, IdxData), IdxError>,
    expected: &Result<(Vec<usize>, IdxData), IdxError>,
    how: &str,
) {
    match (found, expected) {
        (Ok((found_dims, found_data)), Ok((dims, data))) => {
            assert_eq!(found_dims, dims, "{how}");
            assert_eq!(found_data.idx_type(), data.idx_type(), "{how}");
            assert_eq!(payload(found_data), payload(data), "{how}");
        }
        (Err(found), Err(expected)) => assert_eq!(found, expected, "{how}"),
        _ => panic!("{how}: found {found:?}, expected {expected:?}"),
    }
}

fn check_err(bytes: &[u8], expected: IdxError) {
    check(bytes, &Err(expected));
}

// ---------------------------------------------------------------------------------------------
// Valid files.

#[test]
fn every_type_code_round_trips_raw_and_gzip() {
    let cases: Vec<(u8, IdxData)> = vec![
        (0x08, IdxData::U8(vec![0, 1, 127, 128, 254, 255])),
        (0x09, IdxData::I8(vec![i8::MIN, -1, 0, 1, 42, i8::MAX])),
        (0x0B, IdxData::I16(vec![i16::MIN, -2, 0, 3, 0x1234, i16::MAX])),
        (0x0C, IdxData::I32(vec![i32::MIN, -5, 0, 7, 0x1234_5678, i32::MAX])),
        (
            0x0D,
            IdxData::F32(vec![-0.0, 1.5, f32::MIN_POSITIVE / 2.0, f32::INFINITY, f32::NAN, -1e30]),
        ),
        (
            0x0E,
            IdxData::F64(vec![
                -0.0,
                -2.25,
                f64::MIN_POSITIVE / 4.0,
                f64::NEG_INFINITY,
                f64::NAN,
                1e300,
            ]),
        ),
    ];
    for (code, data) in cases {
        assert_eq!(data.idx_type(), IdxType::from_code(code).unwrap());
        for dims in [vec![6], vec![2, 3], vec![3, 1, 2]] {
            let dims_u32: Vec<u32> = dims.iter().map(|&d| u32::try_from(d).unwrap()).collect();
            let bytes = idx_bytes(code, &dims_u32, &payload(&data));
            check(&bytes, &Ok((dims, data.clone())));
        }
    }
}

#[test]
fn big_endian_order_is_decoded() {
    let bytes = idx_bytes(0x0B, &[2], &[0x01, 0x02, 0xFF, 0xFE]);
    let array = parse_idx(&bytes).unwrap();
    assert_eq!(array.data(), &IdxData::I16(vec![0x0102, -2]));
    let bytes = idx_bytes(0x0D, &[1], &[0x3F, 0x80, 0, 0]);
    assert_eq!(parse_idx(&bytes).unwrap().data(), &IdxData::F32(vec![1.0]));
}

#[test]
fn a_zero_size_gives_an_empty_array() {
    check(&idx_bytes(0x0C, &[3, 0, 5], &[]), &Ok((vec![3, 0, 5], IdxData::I32(vec![]))));
}

#[test]
fn concatenated_gzip_members_are_one_stream() {
    let bytes = idx_bytes(0x08, &[2, 2], &[1, 2, 3, 4]);
    let (head, tail) = bytes.split_at(7);
    let mut compressed = gzip(head);
    compressed.extend_from_slice(&gzip(tail));
    let array = decode_idx(&compressed).unwrap();
    assert_eq!((array.dims(), array.data()), (&[2, 2][..], &IdxData::U8(vec![1, 2, 3, 4])));
}

#[test]
fn type_codes_names_and_sizes_agree() {
    let table = [
        (IdxType::U8, 0x08, "u8", 1),
        (IdxType::I8, 0x09, "i8", 1),
        (IdxType::I16, 0x0B, "i16", 2),
        (IdxType::I32, 0x0C, "i32", 4),
        (IdxType::F32, 0x0D, "f32", 4),
        (IdxType::F64, 0x0E, "f64", 8),
    ];
    for (t, code, name, size) in table {
        assert_eq!((t.code(), t.name(), t.size_bytes()), (code, name, size));
        assert_eq!(IdxType::from_code(code), Some(t));
        assert_eq!(t.to_string(), format!("{name} (0x{code:02x})"));
    }
    assert_eq!(IdxType::ALL.map(IdxType::code), [0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E]);
}

// ---------------------------------------------------------------------------------------------
// Invalid files: each case raw and gzip, in memory and from files.

#[test]
fn wrong_magic_is_rejected() {
    let mut bytes = idx_bytes(0x08, &[1], &[9]);
    bytes[1] = 0x01;
    check_err(&bytes, IdxError::BadMagic { found: [0x00, 0x01] });
    check_err(b"P5\n28 28\n255\n", IdxError::BadMagic { found: *b"P5" });
}

#[test]
fn unknown_type_codes_are_rejected() {
    for code in [0x00, 0x07, 0x0A, 0x0F, 0xFF] {
        check_err(&idx_bytes(code, &[1], &[0]), IdxError::UnknownType { code });
    }
}

#[test]
fn zero_dimensions_are_rejected() {
    check_err(&[0, 0, 0x08, 0, 42], IdxError::NoDimensions);
}

#[test]
fn truncated_headers_are_rejected() {
    check_err(&[], IdxError::Truncated { part: "header", expected: 4, found: 0 });
    check_err(&[0, 0, 0x08], IdxError::Truncated { part: "header", expected: 4, found: 3 });
    let bytes = idx_bytes(0x08, &[2, 3, 4], &[]);
    check_err(&bytes[..9], IdxError::Truncated { part: "header", expected: 16, found: 9 });
}

#[test]
fn truncated_data_is_rejected() {
    for (code, size) in [(0x08, 1), (0x0B, 2), (0x0C, 4), (0x0E, 8)] {
        let full = idx_bytes(code, &[2, 3], &vec![7; 6 * size]);
        let expected = 12 + 6 * size;
        for cut in [12, 13, expected - 1] {
            check_err(&full[..cut], IdxError::Truncated { part: "data", expected, found: cut });
        }
    }
}

#[test]
fn trailing_bytes_are_rejected_and_counted() {
    let mut bytes = idx_bytes(0x0C, &[2], &[0; 8]);
    bytes.extend_from_slice(&[1, 2, 3]);
    check_err(&bytes, IdxError::TrailingBytes { expected: 16, found: 19 });
    // A second IDX file glued to the first is trailing data too.
    let mut twice = idx_bytes(0x08, &[1], &[5]);
    twice.extend_from_slice(&idx_bytes(0x08, &[1], &[6]));
    check_err(&twice, IdxError::TrailingBytes { expected: 9, found: 18 });
}

#[test]
fn gzip_bomb_after_a_small_header_is_counted_without_storing_it() {
    // The header declares 4 bytes; the stream expands to 8 MiB more. The decoder stops storing
    // after one extra byte and only counts the rest.
    let mut bytes = idx_bytes(0x08, &[4], &[1, 2, 3, 4]);
    bytes.resize(bytes.len() + (8 << 20), 0);
    let compressed = gzip(&bytes);
    assert!(compressed.len() < 64 << 10, "the fixture is a bomb: {} bytes", compressed.len());
    assert_eq!(
        decode_idx(&compressed),
        Err(IdxError::TrailingBytes { expected: 12, found: 12 + (8 << 20) })
    );
}

#[test]
fn sizes_whose_product_overflows_are_rejected() {
    let dims = [u32::MAX, u32::MAX, u32::MAX];
    check_err(
        &idx_bytes(0x0E, &dims, &[1, 2, 3]),
        IdxError::SizeOverflow { idx_type: IdxType::F64, dims: dims.to_vec() },
    );
    // u32::MAX² fits in 64 bits, but not times 8 bytes.
    let dims = [u32::MAX, u32::MAX];
    check_err(
        &idx_bytes(0x0E, &dims, &[]),
        IdxError::SizeOverflow { idx_type: IdxType::F64, dims: dims.to_vec() },
    );
    // A zero size does not hide an overflow among the others.
    let dims = [0, u32::MAX, u32::MAX, u32::MAX];
    check_err(
        &idx_bytes(0x08, &dims, &[]),
        IdxError::SizeOverflow { idx_type: IdxType::U8, dims: dims.to_vec() },
    );
}

#[test]
fn huge_header_on_a_tiny_file_is_rejected_before_allocating() {
    // 60000³ bytes = 216 TB: allocating it would abort the test process, so reaching the error
    // shows that nothing was allocated for the data, raw or gzip (where the reservation is
    // capped by what the compressed stream can expand to).
    let n = 60_000_usize;
    let bytes = idx_bytes(0x08, &[60_000; 3], &[1, 2, 3, 4]);
    check_err(&bytes, IdxError::Truncated { part: "data", expected: n * n * n + 16, found: 20 });
    let bytes = idx_bytes(0x0E, &[60_000; 3], &[0; 64]);
    check_err(
        &bytes,
        IdxError::Truncated { part: "data", expected: n * n * n * 8 + 16, found: 80 },
    );
}

#[test]
fn corrupt_gzip_is_rejected() {
    let bytes = idx_bytes(0x08, &[64], &[3; 64]);
    let compressed = gzip(&bytes);
    // A wrong CRC-32 in the trailer.
    let mut bad_crc = compressed.clone();
    let crc_idx = bad_crc.len() - 8;
    bad_crc[crc_idx] ^= 0xFF;
    assert!(
        matches!(decode_idx(&bad_crc), Err(IdxError::Gzip { .. })),
        "{:?}",
        decode_idx(&bad_crc)
    );
    // A bad compression method byte in the gzip header.
    let mut bad_method = compressed.clone();
    bad_method[2] = 7;
    assert!(matches!(decode_idx(&bad_method), Err(IdxError::Gzip { .. })));
    // Only the magic bytes.
    assert!(matches!(decode_idx(&[0x1f, 0x8b]), Err(IdxError::Gzip { .. })));
    // Garbage after a complete member.
    let mut garbage = compressed.clone();
    garbage.extend_from_slice(b"garbage");
    assert!(matches!(decode_idx(&garbage), Err(IdxError::Gzip { .. })));
    // Every truncation of the compressed stream is an error, never a panic nor a success.
    for cut in 0..compressed.len() {
        assert!(decode_idx(&compressed[..cut]).is_err(), "cut at {cut}");
    }
}

#[test]
fn missing_file_error_names_it() {
    let dir = TempDir::new("missing");
    let path = dir.path().join("nope-idx1-ubyte");
    let err = read_idx(&path).unwrap_err();
    assert!(
        matches!(&err, Error::Io { path: p, io } if *p == path && io.kind() == std::io::ErrorKind::NotFound)
    );
    assert!(err.to_string().contains(&*path.to_string_lossy()), "{err}");
}

#[test]
fn error_messages_are_lower_case_without_closing_period() {
    let errors = [
        IdxError::BadMagic { found: [1, 2] },
        IdxError::UnknownType { code: 3 },
        IdxError::NoDimensions,
        IdxError::Truncated { part: "data", expected: 9, found: 5 },
        IdxError::TrailingBytes { expected: 9, found: 10 },
        IdxError::SizeOverflow { idx_type: IdxType::U8, dims: vec![1] },
        IdxError::Gzip { message: "bad".into() },
    ];
    for err in errors {
        let msg = err.to_string();
        assert!(msg.starts_with(|c: char| !c.is_uppercase()), "{msg}");
        assert!(!msg.ends_with('.'), "{msg}");
        let wrapped = Error::Idx { path: "/data/x".into(), kind: err }.to_string();
        assert_eq!(wrapped, format!("/data/x: {msg}"));
    }
}

// ---------------------------------------------------------------------------------------------
// The folder loader.

/// `n_samples` images of `n_rows × n_cols` with a pixel pattern that identifies each pixel,
/// and labels `sample_idx % n_classes`.
fn image_set(n_samples: u32, n_rows: u32, n_cols: u32, n_classes: u8) -> (Vec<u8>, Vec<u8>) {
    let mut pixels = Vec::new();
    for s in 0..n_samples {
        for r in 0..n_rows {
            for c in 0..n_cols {
                pixels.push(u8::try_from((s * 31 + r * 7 + c) % 256).unwrap());
            }
        }
    }
    let labels: Vec<u8> =
        (0..n_samples).map(|s| u8::try_from(s % u32::from(n_classes)).unwrap()).collect();
    (idx_bytes(0x08, &[n_samples, n_rows, n_cols], &pixels), idx_bytes(0x08, &[n_samples], &labels))
}

const NAMES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// Writes a 5-sample training set and a 3-sample test set of 4 × 3 images, 4 classes; the
/// files whose index is in `gz` are gzip-compressed and named `.gz`.
fn write_folder(dir: &TempDir, gz: &[usize]) {
    let (train_images, train_labels) = image_set(5, 4, 3, 4);
    let (test_images, test_labels) = image_set(3, 4, 3, 4);
    for (idx, bytes) in [train_images, train_labels, test_images, test_labels].iter().enumerate() {
        if gz.contains(&idx) {
            dir.write(&format!("{}.gz", NAMES[idx]), &gzip(bytes));
        } else {
            dir.write(NAMES[idx], bytes);
        }
    }
}

#[test]
fn folder_loads_with_and_without_gz() {
    for gz in [&[][..], &[0, 1, 2, 3], &[0, 3]] {
        let dir = TempDir::new("folder");
        write_folder(&dir, gz);
        let data = load_folder(dir.path(), Some(4)).unwrap();
        let (train, test) = (&data.train, &data.test);
        assert_eq!((train.n_samples(), train.n_rows(), train.n_cols()), (5, 4, 3));
        assert_eq!((test.n_samples(), test.n_rows(), test.n_cols()), (3, 4, 3));
        assert_eq!(train.n_features(), 12);
        assert_eq!(train.labels(), &[0, 1, 2, 3, 0]);
        assert_eq!(test.labels(), &[0, 1, 2]);
        assert_eq!((train.n_classes(), test.n_classes()), (4, 3));
        // Sample after sample, each image row-major: pixel (r, c) of sample s is at
        // s * 12 + r * 3 + c, i.e. entry (r * 3 + c, s) of a 12 × 5 column-major matrix.
        assert_eq!(train.pixels().len(), 60);
        for s in 0..5 {
            for r in 0..4 {
                for c in 0..3 {
                    let expected = u8::try_from((s * 31 + r * 7 + c) % 256).unwrap();
                    assert_eq!(train.pixels()[s * 12 + r * 3 + c], expected);
                    assert_eq!(train.image(s).unwrap()[r * 3 + c], expected);
                }
            }
        }
        assert_eq!(train.image(5), None);
    }
}

#[test]
fn features_are_scaled_pixels_in_the_same_layout() {
    let dir = TempDir::new("features");
    write_folder(&dir, &[]);
    let train = load_folder(dir.path(), None).unwrap().train;
    let (f32s, f64s) = (train.features_f32(), train.features_f64());
    assert_eq!((f32s.len(), f64s.len()), (60, 60));
    for ((&p, &x32), &x64) in train.pixels().iter().zip(&f32s).zip(&f64s) {
        assert_eq!(x32.to_bits(), (f32::from(p) / 255.0).to_bits());
        assert_eq!(x64.to_bits(), (f64::from(p) / 255.0).to_bits());
        assert!((0.0..=1.0).contains(&x32));
    }
    let (pixels, labels) = train.clone().into_parts();
    assert_eq!((pixels.as_slice(), labels.as_slice()), (train.pixels(), train.labels()));
}

#[test]
fn raw_name_is_preferred_when_both_exist() {
    let dir = TempDir::new("both");
    write_folder(&dir, &[]);
    // A broken `.gz` next to a good raw file is never read.
    dir.write("train-images-idx3-ubyte.gz", b"broken");
    assert!(load_folder(dir.path(), None).is_ok());
}

#[test]
fn missing_folder_file_names_file_and_folder_and_the_layout() {
    for name in NAMES {
        let dir = TempDir::new("missing-file");
        write_folder(&dir, &[1]);
        let _ = fs::remove_file(dir.path().join(name));
        let _ = fs::remove_file(dir.path().join(format!("{name}.gz")));
        let err = load_folder(dir.path(), None).unwrap_err();
        assert!(
            matches!(&err, Error::MissingFile { dir: d, file } if d == dir.path() && file == name),
            "{err}"
        );
        let msg = err.to_string();
        assert!(msg.contains(name) && msg.contains(&*dir.path().to_string_lossy()), "{msg}");
        assert!(msg.contains("t10k-labels-idx1-ubyte, raw or gzip"), "{msg}");
        // The library gives no installation advice: the folder exists, a file is missing.
        assert!(!msg.contains("apt-get"), "{msg}");
    }
}

#[test]
fn a_missing_folder_or_a_file_in_its_place_is_named_as_such() {
    let err = load_folder("/nonexistent/nn-io/folder", None).unwrap_err();
    assert!(
        matches!(&err, Error::MissingFolder { dir } if dir == Path::new("/nonexistent/nn-io/folder"))
    );
    assert_eq!(err.to_string(), "the folder /nonexistent/nn-io/folder does not exist");
    let dir = TempDir::new("not-a-folder");
    dir.write("data", b"x");
    let err = load_folder(dir.path().join("data"), None).unwrap_err();
    assert!(
        matches!(&err, Error::WrongFileType { expected: "a folder", found, .. } if found == "a regular file"),
        "{err}"
    );
}

#[test]
fn a_folder_or_device_under_a_data_file_name_is_refused_not_missing() {
    let dir = TempDir::new("wrong-types");
    write_folder(&dir, &[]);
    let images = dir.path().join(NAMES[0]);
    fs::remove_file(&images).unwrap();
    fs::create_dir(&images).unwrap();
    let err = load_folder(dir.path(), None).unwrap_err();
    assert!(
        matches!(&err, Error::WrongFileType { path, expected: "a regular file", found } if *path == images && found == "a folder"),
        "{err}"
    );
    assert!(
        err.to_string()
            .ends_with("train-images-idx3-ubyte: expected a regular file, found a folder"),
        "{err}"
    );
    fs::remove_dir(&images).unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink("/dev/zero", &images).unwrap();
        let err = load_folder(dir.path(), None).unwrap_err();
        assert!(
            matches!(&err, Error::WrongFileType { found, .. } if found == "a symbolic link to a character device"),
            "{err}"
        );
        fs::remove_file(&images).unwrap();
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &images).unwrap();
        let err = load_folder(dir.path(), None).unwrap_err();
        assert!(
            matches!(&err, Error::WrongFileType { found, .. } if found == "a broken symbolic link"),
            "{err}"
        );
        for device in ["/dev/zero", "/dev/urandom"] {
            assert!(matches!(read_idx(device), Err(Error::WrongFileType { .. })), "{device}");
        }
    }
}

#[test]
fn a_huge_raw_file_is_refused_from_its_header_without_being_read() {
    let dir = TempDir::new("sparse");
    let path = dir.path().join("huge-idx1-ubyte");
    fs::write(&path, idx_bytes(0x08, &[3], &[1, 2, 3])).unwrap();
    // 64 GiB, sparse: reading it would take minutes and more memory than the machine has.
    let file = fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(1 << 36).unwrap();
    let err = read_idx(&path).unwrap_err();
    assert!(
        matches!(&err, Error::Idx { kind: IdxError::TrailingBytes { expected: 11, found }, .. } if *found == 1 << 36),
        "{err}"
    );
    // A header that declares more than the file holds is refused the same way.
    fs::write(&path, idx_bytes(0x08, &[1 << 30], &[1, 2, 3])).unwrap();
    let err = read_idx(&path).unwrap_err();
    assert!(
        matches!(&err, Error::Idx { kind: IdxError::Truncated { part: "data", .. }, .. }),
        "{err}"
    );
}

#[test]
fn images_must_be_three_dimensional_u8() {
    let dir = TempDir::new("images-rank");
    write_folder(&dir, &[]);
    let images = dir.path().join(NAMES[0]);
    // 2-D.
    fs::write(&images, idx_bytes(0x08, &[5, 12], &[0; 60])).unwrap();
    let err = load_folder(dir.path(), None).unwrap_err();
    assert!(
        matches!(&err, Error::WrongRank { path, what: "images", expected: 3, found } if *path == images && found == &[5, 12]),
        "{err}"
    );
    // 4-D.
    fs::write(&images, idx_bytes(0x08, &[5, 4, 3, 1], &[0; 60])).unwrap();
    assert!(matches!(load_folder(dir.path(), None), Err(Error::WrongRank { expected: 3, .. })));
    // 0-D is not an IDX array at all.
    fs::write(&images, [0, 0, 0x08, 0]).unwrap();
    let err = load_folder(dir.path(), None).unwrap_err();
    assert!(matches!(&err, Error::Idx { path, kind: IdxError::NoDimensions } if *path == images));
    // Not u8.
    fs::write(&images, idx_bytes(0x0D, &[5, 4, 3], &[0; 240])).unwrap();
    let err = load_folder(dir.path(), None).unwrap_err();
    assert!(
        matches!(&err, Error::WrongType { path, what: "images", expected: IdxType::U8, found: IdxType::F32 } if *path == images),
        "{err}"
    );
}

#[test]
fn labels_must_be_one_dimensional_u8() {
    let dir = TempDir::new("labels-rank");
    write_folder(&dir, &[]);
    let labels = dir.path().join(NAMES[1]);
    fs::write(&labels, idx_bytes(0x08, &[5, 1], &[0; 5])).unwrap();
    let err = load_folder(dir.path(), None).unwrap_err();
    assert!(
        matches!(&err, Error::WrongRank { path, what: "labels", expected: 1, .. } if *path == labels),
        "{err}"
    );
    fs::write(&labels, idx_bytes(0x09, &[5], &[0; 5])).unwrap();
    let err = load_folder(dir.path(), None).unwrap_err();
    assert!(matches!(&err, Error::WrongType { found: IdxType::I8, .. }), "{err}");
}

#[test]
fn image_and_label_counts_must_match() {
    let dir = TempDir::new("counts");
    write_folder(&dir, &[3]);
    let labels = dir.write(&format!("{}.gz", NAMES[3]), &gzip(&idx_bytes(0x08, &[2], &[0, 1])));
    let err = load_folder(dir.path(), None).unwrap_err();
    assert!(
        matches!(&err, Error::CountMismatch { images_path, labels_path, n_images: 3, n_labels: 2 }
            if *images_path == dir.path().join(NAMES[2]) && *labels_path == labels),
        "{err}"
    );
    assert!(err.to_string().contains("3 images") && err.to_string().contains("2 labels"));
}

#[test]
fn labels_beyond_the_class_count_are_rejected() {
    let dir = TempDir::new("classes");
    write_folder(&dir, &[]);
    // Labels are 0, 1, 2, 3, 0: fine for 4 classes, not for 3.
    assert!(load_folder(dir.path(), Some(4)).is_ok());
    let err = load_folder(dir.path(), Some(3)).unwrap_err();
    assert!(
        matches!(&err, Error::LabelOutOfRange { path, sample_idx: 3, label: 3, n_classes: 3 }
            if *path == dir.path().join(NAMES[1])),
        "{err}"
    );
    assert!(matches!(
        load_folder(dir.path(), Some(0)),
        Err(Error::LabelOutOfRange { sample_idx: 0, .. })
    ));
}

#[test]
fn train_and_test_images_must_have_the_same_size() {
    let dir = TempDir::new("shapes");
    write_folder(&dir, &[]);
    let (images, _) = image_set(3, 3, 4, 4);
    dir.write(NAMES[2], &images);
    let err = load_folder(dir.path(), None).unwrap_err();
    assert!(matches!(&err, Error::ImageShapeMismatch { train: [4, 3], test: [3, 4], .. }), "{err}");
}

#[test]
fn load_image_set_reads_any_pair_of_files() {
    let dir = TempDir::new("pair");
    let (images, labels) = image_set(2, 1, 1, 2);
    let images = dir.write("my-images", &gzip(&images));
    let labels = dir.write("my-labels", &labels);
    let set = nn_io::load_image_set(&images, &labels, Some(2)).unwrap();
    assert_eq!((set.n_samples(), set.n_features(), set.labels()), (2, 1, &[0, 1][..]));
}

// ---------------------------------------------------------------------------------------------
// Properties: valid files round trip; mutated files give `Ok` or `Err`, never a panic.

/// The number of cases: 64 by default (CI has 2 cores), `PROPTEST_CASES` for a long run.
fn n_cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(64)
}

/// A valid IDX file: its type code, sizes and payload.
fn valid_file() -> impl Strategy<Value = (u8, Vec<u32>, Vec<u8>)> {
    (0..IdxType::ALL.len(), prop::collection::vec(0..5_u32, 1..4)).prop_flat_map(|(t, dims)| {
        let idx_type = IdxType::ALL[t];
        let len = dims.iter().map(|&d| d as usize).product::<usize>() * idx_type.size_bytes();
        (Just(idx_type.code()), Just(dims), prop::collection::vec(any::<u8>(), len))
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    Set(usize, u8),
    Insert(usize, u8),
    Remove(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        // Mostly in the header, where the interesting bytes are.
        (0..24_usize, any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Remove),
    ]
}

fn mutate(bytes: &mut Vec<u8>, mutations: &[Mutation]) {
    for m in mutations {
        let len = bytes.len();
        match *m {
            Mutation::Truncate(i) => bytes.truncate(i % (len + 1)),
            Mutation::Set(i, b) if len > 0 => bytes[i % len] = b,
            Mutation::Insert(i, b) => bytes.insert(i % (len + 1), b),
            Mutation::Remove(i) if len > 0 => {
                bytes.remove(i % len);
            }
            Mutation::Set(..) | Mutation::Remove(_) => {}
        }
    }
}

/// Whatever the bytes, the result is `Ok` with consistent sizes or `Err`.
fn assert_consistent(res: &Result<nn_io::IdxArray, IdxError>) {
    if let Ok(array) = res {
        assert!(!array.dims().is_empty());
        assert_eq!(array.dims().iter().product::<usize>(), array.len());
        assert_eq!(array.data().idx_type(), array.idx_type());
    }
}

/// The result in a comparable form: sizes, type and big-endian payload (bitwise, so NaN
/// payloads compare equal), or the error.
fn outcome(
    res: Result<nn_io::IdxArray, IdxError>,
) -> Result<(Vec<usize>, IdxType, Vec<u8>), IdxError> {
    let (dims, data) = res?.into_parts();
    Ok((dims, data.idx_type(), payload(&data)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(n_cases()))]

    #[test]
    fn valid_files_round_trip_raw_and_gzip((code, dims, data) in valid_file()) {
        let bytes = idx_bytes(code, &dims, &data);
        for res in [parse_idx(&bytes), decode_idx(&gzip(&bytes))] {
            let array = res.unwrap();
            let dims: Vec<usize> = dims.iter().map(|&d| d as usize).collect();
            prop_assert_eq!(array.dims(), dims.as_slice());
            prop_assert_eq!(array.idx_type().code(), code);
            prop_assert_eq!(payload(array.data()), data.clone());
        }
    }

    #[test]
    fn mutated_files_never_panic(
        (code, dims, data) in valid_file(),
        raw_mutations in prop::collection::vec(mutation(), 0..4),
        gz_mutations in prop::collection::vec(mutation(), 0..4),
    ) {
        let mut bytes = idx_bytes(code, &dims, &data);
        mutate(&mut bytes, &raw_mutations);
        let raw = parse_idx(&bytes);
        assert_consistent(&raw);
        assert_consistent(&decode_idx(&bytes));
        let mut compressed = gzip(&bytes);
        let via_gzip = decode_idx(&compressed);
        assert_consistent(&via_gzip);
        // The gzip path gives exactly what the raw parser gives, errors included.
        prop_assert_eq!(outcome(raw), outcome(via_gzip));
        mutate(&mut compressed, &gz_mutations);
        assert_consistent(&decode_idx(&compressed));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let raw = parse_idx(&bytes);
        assert_consistent(&raw);
        assert_consistent(&decode_idx(&bytes));
        prop_assert_eq!(outcome(raw), outcome(decode_idx(&gzip(&bytes))));
    }
}
