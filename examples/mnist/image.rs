//! Grayscale images for the mnist example: read a PNG or a PGM (P5 binary or P2 ASCII) into
//! 8-bit row-major pixels, and write a binary PGM.
//!
//! The format is decided by the file's first bytes, not by its extension. Every malformed,
//! truncated or unsupported file is an error that names the file; nothing here panics on input.
//! Dimensions are checked against the expected ones as soon as the header is read, before any
//! pixel buffer is allocated.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek};
#[cfg(test)]
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail, ensure};

/// The largest number of pixels accepted (4096 × 4096), whatever the caller expects.
const MAX_PIXELS: usize = 4096 * 4096;

/// Reads the grayscale image at `path`, which must be `width` × `height` pixels, as row-major
/// 8-bit values (0 black, 255 white).
///
/// Accepted formats, recognised by their magic bytes:
/// - PNG (`\x89PNG`) of any color type and bit depth: palettes are expanded, 16-bit samples are
///   reduced to their high byte, color is converted to gray by luminance
///   (0.299 R + 0.587 G + 0.114 B), and an alpha channel is composited over black (the data
///   set's background), so fully transparent pixels read as 0;
/// - PGM, binary (`P5`) or ASCII (`P2`), with `#` comments in the header and any maxval up to
///   65535 (values are rescaled to 0..=255).
///
/// # Errors
///
/// If the file cannot be read, is not a PNG or PGM, is corrupt or truncated, or is not
/// `width` × `height`; the message starts with the path.
pub fn load_grayscale(path: &Path, width: usize, height: usize) -> Result<Vec<u8>> {
    let file = File::open(path).map_err(|e| anyhow!("{}: cannot open: {e}", path.display()))?;
    decode(BufReader::new(file), width, height).map_err(|e| anyhow!("{}: {e:#}", path.display()))
}

/// Writes `pixels` (row-major, `width` × `height`, 8-bit) to `path` as a binary PGM (P5).
///
/// # Errors
///
/// If `pixels` does not hold `width` × `height` values, or the file cannot be written.
#[cfg(test)]
pub fn save_pgm(path: &Path, pixels: &[u8], width: usize, height: usize) -> Result<()> {
    ensure!(
        width.checked_mul(height) == Some(pixels.len()),
        "{}: {} pixels cannot form a {width}×{height} image",
        path.display(),
        pixels.len()
    );
    let write = || -> io::Result<()> {
        let mut w = BufWriter::new(File::create(path)?);
        write!(w, "P5\n{width} {height}\n255\n")?;
        w.write_all(pixels)?;
        w.flush()
    };
    write().with_context(|| format!("{}: cannot write the PGM image", path.display()))
}

/// Decodes a PNG or PGM from `r` (messages without the path: the caller adds it).
fn decode<R: BufRead + Seek>(mut r: R, width: usize, height: usize) -> Result<Vec<u8>> {
    let n = width.checked_mul(height).filter(|&n| n <= MAX_PIXELS);
    ensure!(
        n.is_some(),
        "{width}×{height} is larger than the supported maximum of {MAX_PIXELS} pixels"
    );
    let mut magic = Vec::with_capacity(4);
    r.by_ref().take(4).read_to_end(&mut magic).context("cannot read the file")?;
    r.rewind().context("cannot read the file")?;
    match magic.as_slice() {
        [0x89, b'P', b'N', b'G'] => decode_png(r, width, height),
        [b'P', b'5', ..] | [b'P', b'2', ..] => decode_pgm(r, width, height),
        [b'P', c @ (b'1' | b'3' | b'4' | b'6' | b'7'), ..] => bail!(
            "unsupported Netpbm format P{} (only grayscale PGM, P2 or P5, and PNG are read)",
            char::from(*c)
        ),
        [] => bail!("the file is empty"),
        _ => bail!("not a PNG or PGM image (unrecognised first bytes)"),
    }
}

/// The error for an image of the wrong size.
fn size_error(
    w: impl std::fmt::Display,
    h: impl std::fmt::Display,
    width: usize,
    height: usize,
) -> anyhow::Error {
    anyhow!("image is {w}×{h}, expected {width}×{height} (28×28 grayscale, as in the data set)")
}

/// Decodes a PNG, converting it to 8-bit gray.
fn decode_png<R: BufRead + Seek>(r: R, width: usize, height: usize) -> Result<Vec<u8>> {
    let mut decoder = png::Decoder::new(r);
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    decoder.set_ignore_text_chunk(true);
    let header = decoder.read_header_info().map_err(|e| anyhow!("invalid PNG: {e}"))?;
    let (w, h) = (header.width, header.height);
    if usize::try_from(w).ok() != Some(width) || usize::try_from(h).ok() != Some(height) {
        return Err(size_error(w, h, width, height));
    }
    let mut reader = decoder.read_info().map_err(|e| anyhow!("invalid PNG: {e}"))?;
    let size = reader.output_buffer_size().ok_or_else(|| anyhow!("PNG too large to decode"))?;
    let mut buf = vec![0; size];
    let out = reader.next_frame(&mut buf).map_err(|e| anyhow!("invalid PNG: {e}"))?;
    ensure!(
        out.bit_depth == png::BitDepth::Eight,
        "unsupported PNG bit depth {:?} after conversion",
        out.bit_depth
    );
    let samples = out.color_type.samples();
    let row_len = width * samples;
    ensure!(out.line_size >= row_len && buf.len() >= out.line_size * height, "invalid PNG frame");
    let mut pixels = Vec::with_capacity(width * height);
    for row in buf.chunks(out.line_size).take(height) {
        for px in row[..row_len].chunks_exact(samples) {
            let gray = match (out.color_type, px) {
                (png::ColorType::Grayscale, &[v]) => v,
                (png::ColorType::GrayscaleAlpha, &[v, a]) => over_black(v, a),
                (png::ColorType::Rgb, &[r, g, b]) => luminance(r, g, b),
                (png::ColorType::Rgba, &[r, g, b, a]) => over_black(luminance(r, g, b), a),
                (ct, _) => bail!("unsupported PNG color type {ct:?} after conversion"),
            };
            pixels.push(gray);
        }
    }
    Ok(pixels)
}

/// 0.299 R + 0.587 G + 0.114 B, rounded.
fn luminance(r: u8, g: u8, b: u8) -> u8 {
    let y = (299 * u32::from(r) + 587 * u32::from(g) + 114 * u32::from(b) + 500) / 1000;
    u8::try_from(y).unwrap_or(u8::MAX)
}

/// `v` with opacity `a`, composited over black, rounded.
fn over_black(v: u8, a: u8) -> u8 {
    let y = (u32::from(v) * u32::from(a) + 127) / 255;
    u8::try_from(y).unwrap_or(u8::MAX)
}

/// Decodes a PGM, P5 (binary) or P2 (ASCII).
fn decode_pgm<R: BufRead>(mut r: R, width: usize, height: usize) -> Result<Vec<u8>> {
    let mut magic = [0; 2];
    r.read_exact(&mut magic).context("truncated PGM header")?;
    let binary = magic == *b"P5";
    let w = read_number(&mut r).context("invalid PGM header (width)")?;
    let h = read_number(&mut r).context("invalid PGM header (height)")?;
    if usize::try_from(w).ok() != Some(width) || usize::try_from(h).ok() != Some(height) {
        return Err(size_error(w, h, width, height));
    }
    let maxval = read_number(&mut r).context("invalid PGM header (maxval)")?;
    ensure!((1..=65535).contains(&maxval), "invalid PGM maxval {maxval} (must be 1..=65535)");
    let maxval = u32::try_from(maxval)?;
    let n = width * height;
    let scale = |v: u32| -> Result<u8> {
        ensure!(v <= maxval, "PGM sample {v} exceeds maxval {maxval}");
        Ok(u8::try_from((v * 255 + maxval / 2) / maxval)?)
    };
    let truncated = |e: io::Error| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            anyhow!("truncated PGM data (expected {n} samples)")
        } else {
            anyhow!("cannot read the PGM data: {e}")
        }
    };
    if binary {
        let bytes_per_sample = if maxval < 256 { 1 } else { 2 };
        let mut raw = vec![0; n * bytes_per_sample];
        r.read_exact(&mut raw).map_err(truncated)?;
        if bytes_per_sample == 1 {
            raw.iter().map(|&v| scale(u32::from(v))).collect()
        } else {
            raw.chunks_exact(2)
                .map(|b| scale(u32::from(u16::from_be_bytes([b[0], b[1]]))))
                .collect()
        }
    } else {
        let mut pixels = Vec::with_capacity(n);
        for i in 0..n {
            let v = read_number(&mut r).map_err(|e| match e.kind() {
                io::ErrorKind::UnexpectedEof => {
                    anyhow!("truncated PGM data (expected {n} samples, found {i})")
                }
                _ => anyhow!("invalid PGM sample {}: {e}", i + 1),
            })?;
            pixels.push(scale(u32::try_from(v).unwrap_or(u32::MAX))?);
        }
        Ok(pixels)
    }
}

/// Reads one byte, `None` at the end of the input.
fn next_byte<R: BufRead>(r: &mut R) -> io::Result<Option<u8>> {
    let b = r.fill_buf()?.first().copied();
    if b.is_some() {
        r.consume(1);
    }
    Ok(b)
}

/// Reads a decimal number of a PGM header or ASCII raster: skips whitespace and `#` comments
/// (to the end of the line) before it, and consumes exactly one byte after it (whitespace, or
/// a comment to the end of its line).
fn read_number<R: BufRead>(r: &mut R) -> io::Result<u64> {
    let eof = || io::Error::new(io::ErrorKind::UnexpectedEof, "unexpected end of file");
    let invalid = |msg: String| io::Error::new(io::ErrorKind::InvalidData, msg);
    let skip_comment = |r: &mut R| -> io::Result<()> {
        while let Some(b) = next_byte(r)? {
            if b == b'\n' || b == b'\r' {
                break;
            }
        }
        Ok(())
    };
    let mut first = loop {
        match next_byte(r)?.ok_or_else(eof)? {
            b'#' => skip_comment(r)?,
            b if b.is_ascii_whitespace() => {}
            b => break b,
        }
    };
    let mut value: u64 = 0;
    loop {
        if !first.is_ascii_digit() {
            return Err(invalid(format!("expected a number, found {:?}", char::from(first))));
        }
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(first - b'0')))
            .filter(|&v| v <= u64::from(u32::MAX))
            .ok_or_else(|| invalid("number too large".to_owned()))?;
        match next_byte(r)? {
            None => return Ok(value),
            Some(b'#') => {
                skip_comment(r)?;
                return Ok(value);
            }
            Some(b) if b.is_ascii_whitespace() => return Ok(value),
            Some(b) => first = b,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;
    use std::path::PathBuf;

    fn temp_path(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("nn-image-test-{}-{name}", std::process::id()))
    }

    fn png_bytes(
        w: u32,
        h: u32,
        color: png::ColorType,
        depth: png::BitDepth,
        palette: Option<&[u8]>,
        data: &[u8],
    ) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(color);
        enc.set_depth(depth);
        if let Some(p) = palette {
            enc.set_palette(p.to_vec());
        }
        let mut writer = enc.write_header().unwrap();
        writer.write_image_data(data).unwrap();
        writer.finish().unwrap();
        out
    }

    fn err(bytes: &[u8], w: usize, h: usize) -> String {
        format!("{:#}", decode(Cursor::new(bytes), w, h).unwrap_err())
    }

    #[test]
    fn pgm_round_trip() {
        let path = temp_path("round.pgm");
        let pixels: Vec<u8> = (0..28 * 28).map(|i| (i % 256) as u8).collect();
        save_pgm(&path, &pixels, 28, 28).unwrap();
        assert_eq!(load_grayscale(&path, 28, 28).unwrap(), pixels);
        let msg = format!("{:#}", load_grayscale(&path, 20, 28).unwrap_err());
        assert!(msg.starts_with(&path.display().to_string()), "{msg}");
        assert!(
            msg.ends_with(": image is 28×28, expected 20×28 (28×28 grayscale, as in the data set)"),
            "{msg}"
        );
        std::fs::remove_file(&path).unwrap();
        assert!(save_pgm(&path, &pixels, 28, 27).is_err());
    }

    #[test]
    fn pgm_ascii_comments_and_maxval() {
        let text = b"P2\n# a comment\n3 2 # trailing\n15\n0 15 7\n# inside\n8 1 15\n";
        let got = decode(Cursor::new(&text[..]), 3, 2).unwrap();
        assert_eq!(got, vec![0, 255, 119, 136, 17, 255]);
        let p5 = b"P5 2 1 65535\n\xff\xff\x80\x00";
        assert_eq!(decode(Cursor::new(&p5[..]), 2, 1).unwrap(), vec![255, 128]);
        let p5_comment = b"P5#c\n1#c\n1\n255\n\x07";
        assert_eq!(decode(Cursor::new(&p5_comment[..]), 1, 1).unwrap(), vec![7]);
    }

    #[test]
    fn pgm_errors() {
        assert!(err(b"P5\n2 2\n255\n\x01\x02\x03", 2, 2).contains("truncated"));
        assert!(err(b"P2\n2 2\n255\n1 2 3", 2, 2).contains("found 3"));
        assert!(err(b"P2\n1 1\n10\n11\n", 1, 1).contains("exceeds maxval"));
        assert!(err(b"P2\n1 1\n0\n0\n", 1, 1).contains("maxval"));
        assert!(err(b"P2\n1 1\n70000\n0\n", 1, 1).contains("maxval"));
        assert!(err(b"P2\n1 x\n", 1, 1).contains("height"));
        assert!(err(b"P5\n99999999999 1\n", 1, 1).contains("width"));
        assert!(err(b"P5\n4000000000 4000000000\n255\n", 28, 28).contains("4000000000×"));
        assert!(err(b"P6\n1 1\n255\n\0\0\0", 1, 1).contains("P6"));
        assert!(err(b"GIF89a", 1, 1).contains("not a PNG or PGM"));
        assert!(err(b"", 1, 1).contains("empty"));
        assert!(err(b"P", 1, 1).contains("not a PNG or PGM"));
        assert!(err(b"P5", 1, 1).contains("header"));
        assert!(err(b"P5\n1 1\n255\n", 1_000_000, 1_000_000).contains("maximum"));
        let missing = temp_path("missing.pgm");
        let msg = format!("{:#}", load_grayscale(&missing, 1, 1).unwrap_err());
        assert!(msg.starts_with(&missing.display().to_string()), "{msg}");
    }

    #[test]
    fn png_color_types() {
        use png::{BitDepth, ColorType};
        let gray = png_bytes(2, 1, ColorType::Grayscale, BitDepth::Eight, None, &[0, 200]);
        assert_eq!(decode(Cursor::new(gray), 2, 1).unwrap(), vec![0, 200]);
        let rgb = png_bytes(2, 1, ColorType::Rgb, BitDepth::Eight, None, &[255, 0, 0, 0, 0, 255]);
        assert_eq!(decode(Cursor::new(rgb), 2, 1).unwrap(), vec![76, 29]);
        let rgba = png_bytes(
            2,
            1,
            ColorType::Rgba,
            BitDepth::Eight,
            None,
            &[255, 255, 255, 255, 255, 255, 255, 0],
        );
        assert_eq!(decode(Cursor::new(rgba), 2, 1).unwrap(), vec![255, 0]);
        let ga = png_bytes(1, 1, ColorType::GrayscaleAlpha, BitDepth::Eight, None, &[200, 128]);
        assert_eq!(decode(Cursor::new(ga), 1, 1).unwrap(), vec![100]);
        let g16 = png_bytes(
            2,
            1,
            ColorType::Grayscale,
            BitDepth::Sixteen,
            None,
            &[0xff, 0xff, 0x12, 0x34],
        );
        assert_eq!(decode(Cursor::new(g16), 2, 1).unwrap(), vec![255, 0x12]);
        // 1-bit gray: 0b1010_0000 is white, black, white, black.
        let g1 = png_bytes(4, 1, ColorType::Grayscale, BitDepth::One, None, &[0b1010_0000]);
        assert_eq!(decode(Cursor::new(g1), 4, 1).unwrap(), vec![255, 0, 255, 0]);
        let palette = [0, 0, 0, 255, 255, 255];
        let idx = png_bytes(2, 1, ColorType::Indexed, BitDepth::Eight, Some(&palette), &[1, 0]);
        assert_eq!(decode(Cursor::new(idx), 2, 1).unwrap(), vec![255, 0]);
    }

    #[test]
    fn png_errors() {
        use png::{BitDepth, ColorType};
        let gray = png_bytes(3, 2, ColorType::Grayscale, BitDepth::Eight, None, &[0; 6]);
        assert!(err(&gray, 28, 28).contains("image is 3×2, expected 28×28"));
        assert!(err(&gray[..gray.len() - 20], 3, 2).contains("PNG"));
        assert!(err(&gray[..10], 3, 2).contains("PNG"));
        let mut corrupt = gray.clone();
        let n = corrupt.len();
        corrupt[n - 16] ^= 0xff;
        assert!(decode(Cursor::new(corrupt), 3, 2).is_err());
        let path = temp_path("img.png");
        std::fs::write(&path, &gray).unwrap();
        assert_eq!(load_grayscale(&path, 3, 2).unwrap(), vec![0; 6]);
        std::fs::remove_file(&path).unwrap();
    }
}
