//! Users' images for `predict`: read through nn-io (a regular file of plausible size), decoded by
//! the `image` crate (PNG, JPEG, PGM/PPM/PBM, BMP, GIF, WebP, recognised by their content),
//! converted to gray, resized to the model's square input, and checked for polarity.
//!
//! The data sets have light objects on a black background. A picture with a light background
//! (ink on paper, a product on white) is detected from its border and reported; `--invert` turns
//! it around.

use std::io::Cursor;
use std::path::Path;

use anyhow::{Result, anyhow, bail};
use image::imageops::FilterType;
use image::{DynamicImage, GrayImage, ImageError, ImageReader, Limits};

/// The largest image file read (256 MB: far beyond any photo).
const MAX_FILE_BYTES: u64 = 256 << 20;
/// The largest image decoded, in pixels per side.
const MAX_SIDE: u32 = 16_384;
/// The most the decoder may allocate.
const MAX_ALLOC: u64 = 1 << 30;

/// A decoded image, ready for the network.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Prepared {
    /// `side × side` gray values, row-major, 0 black to 255 white, after any inversion.
    pub(crate) pixels: Vec<u8>,
    /// The mean of the border pixels (the background), after any inversion.
    pub(crate) background: u8,
    /// The size of the image in the file.
    pub(crate) original: (u32, u32),
}

impl Prepared {
    /// Whether the background is light: the opposite of the data sets' polarity.
    pub(crate) fn looks_inverted(&self) -> bool {
        self.background > 127
    }
}

/// Reads the image at `path` and prepares it for a model of `side × side` inputs: gray (an
/// alpha channel composited over black, the data sets' background), inverted if `invert`, and
/// resized with its aspect ratio kept, centred on a square of its own background colour.
///
/// # Errors
/// If the file cannot be read (nn-io's refusal of devices, folders and huge files), is not an
/// image in a format read here, is corrupted or truncated, or is larger than 16384 pixels a
/// side. Each message is one line that names the file; the decoder's own text is kept only
/// when it is plain words.
pub(crate) fn load(path: &Path, side: u32, invert: bool) -> Result<Prepared> {
    let bytes = nn::io::read_regular_file(path, "image file", MAX_FILE_BYTES)?;
    let image = decode(&bytes).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    Ok(prepare(&image, side, invert))
}

/// Decodes an image from its bytes; the error says what is wrong without naming a file.
fn decode(bytes: &[u8]) -> Result<DynamicImage> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| anyhow!("cannot read the image: {e}"))?;
    let Some(format) = reader.format() else {
        bail!(
            "not an image in a format this program reads (PNG, JPEG, PGM/PPM/PBM, BMP, GIF or WebP)"
        );
    };
    let name = format.extensions_str().first().map_or("image", |e| e).to_ascii_uppercase();
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    reader.decode().map_err(|e| match e {
        ImageError::Limits(_) => {
            anyhow!("the image is too large (at most {MAX_SIDE} × {MAX_SIDE} pixels are read)")
        }
        ImageError::Unsupported(u) => match plain(&u.to_string()) {
            Some(detail) => anyhow!("this {name} image is not supported: {detail}"),
            None => anyhow!("this {name} image is not supported"),
        },
        ImageError::Decoding(d) => match plain(&d.to_string()) {
            Some(detail) => anyhow!("the {name} data is corrupted or truncated ({detail})"),
            None => anyhow!("the {name} data is corrupted or truncated"),
        },
        other => match plain(&other.to_string()) {
            Some(detail) => anyhow!("cannot decode the {name} image: {detail}"),
            None => anyhow!("cannot decode the {name} image"),
        },
    })
}

/// A decoder's message if it is plain words on one line (no Rust debug output such as
/// `ChunkType { type: IDAT, .. }`), lower-cased at its start.
fn plain(message: &str) -> Option<String> {
    let clean = !message.is_empty()
        && message.len() <= 160
        && message.chars().all(|c| !c.is_control() && !"{}[]`\"\\".contains(c))
        && !message.contains("::");
    clean.then(|| {
        let mut chars = message.trim_end_matches('.').chars();
        chars.next().map_or_else(String::new, |c| c.to_lowercase().chain(chars).collect())
    })
}

/// Gray, composited over black, optionally inverted, fitted into `side × side`.
fn prepare(image: &DynamicImage, side: u32, invert: bool) -> Prepared {
    let original = (image.width(), image.height());
    let luma_alpha = image.to_luma_alpha8();
    let mut gray = GrayImage::from_fn(original.0, original.1, |x, y| {
        let [v, a] = luma_alpha.get_pixel(x, y).0;
        // Over black: the data sets' background.
        let v = u8::try_from((u32::from(v) * u32::from(a) + 127) / 255).unwrap_or(u8::MAX);
        image::Luma([if invert { 255 - v } else { v }])
    });
    let background = border_mean(&gray);
    if original != (side, side) {
        gray = fit(&gray, side, background);
    }
    Prepared { pixels: gray.into_raw(), background, original }
}

/// The mean of the pixels within a tenth of the width or height of the edges (at least one).
fn border_mean(image: &GrayImage) -> u8 {
    let (w, h) = image.dimensions();
    let band_x = (w / 10).max(1);
    let band_y = (h / 10).max(1);
    let (mut sum, mut n) = (0u64, 0u64);
    for (x, y, p) in image.enumerate_pixels() {
        if x < band_x
            || y < band_y
            || x >= w.saturating_sub(band_x)
            || y >= h.saturating_sub(band_y)
        {
            sum += u64::from(p.0[0]);
            n += 1;
        }
    }
    u8::try_from(sum.checked_div(n).unwrap_or(0)).unwrap_or(u8::MAX)
}

/// `image` scaled so that its longer side is `side` (a triangle filter, widened when
/// shrinking, so that each output pixel averages the pixels it covers), centred on a square of
/// colour `fill`.
fn fit(image: &GrayImage, side: u32, fill: u8) -> GrayImage {
    let (w, h) = image.dimensions();
    let scale = f64::from(side) / f64::from(w.max(h));
    let to_side = |v: u32| ((f64::from(v) * scale).round() as u32).clamp(1, side);
    let (nw, nh) = (to_side(w), to_side(h));
    let resized = image::imageops::resize(image, nw, nh, FilterType::Triangle);
    let mut square = GrayImage::from_pixel(side, side, image::Luma([fill]));
    image::imageops::replace(
        &mut square,
        &resized,
        i64::from((side - nw) / 2),
        i64::from((side - nh) / 2),
    );
    square
}

#[cfg(test)]
mod tests {
    use image::{ImageFormat, Rgba, RgbaImage};

    use super::*;

    fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut bytes = Cursor::new(Vec::new());
        image.write_to(&mut bytes, format).unwrap();
        bytes.into_inner()
    }

    /// A 28×28 gray pattern: a light square on black.
    fn digit() -> GrayImage {
        GrayImage::from_fn(28, 28, |x, y| {
            image::Luma([if (8..20).contains(&x) && (6..22).contains(&y) { 200 } else { 0 }])
        })
    }

    #[test]
    fn every_format_decodes_to_the_same_gray_pixels() {
        let gray = DynamicImage::ImageLuma8(digit());
        for format in [ImageFormat::Png, ImageFormat::Pnm, ImageFormat::Bmp, ImageFormat::Gif] {
            let image = if format == ImageFormat::Pnm || format == ImageFormat::Png {
                gray.clone()
            } else {
                DynamicImage::ImageRgb8(gray.to_rgb8())
            };
            let decoded = decode(&encode(&image, format)).unwrap();
            let prepared = prepare(&decoded, 28, false);
            assert_eq!(prepared.pixels, digit().into_raw(), "{format:?}");
            assert_eq!(prepared.background, 0);
            assert!(!prepared.looks_inverted());
        }
        // JPEG is lossy: close, not equal.
        let jpeg =
            decode(&encode(&DynamicImage::ImageRgb8(gray.to_rgb8()), ImageFormat::Jpeg)).unwrap();
        let prepared = prepare(&jpeg, 28, false);
        let worst = prepared
            .pixels
            .iter()
            .zip(digit().as_raw())
            .map(|(&a, &b)| a.abs_diff(b))
            .max()
            .unwrap();
        assert!(worst < 60, "{worst}");
        let webp = decode(&encode(&gray, ImageFormat::WebP)).unwrap();
        assert_eq!(prepare(&webp, 28, false).pixels, digit().into_raw());
    }

    #[test]
    fn any_size_is_fitted_to_the_input_keeping_the_aspect_ratio() {
        // A 280×140 light bar on black, scaled by 1/10 into the middle of a 28×28 square.
        let wide = GrayImage::from_fn(280, 140, |_, _| image::Luma([255]));
        let prepared = prepare(&DynamicImage::ImageLuma8(wide), 28, false);
        assert_eq!(prepared.pixels.len(), 28 * 28);
        assert_eq!(prepared.original, (280, 140));
        // Rows 7..21 hold the image, the rest is its border colour (white here).
        assert!(prepared.pixels.iter().all(|&p| p == 255));
        let dark =
            GrayImage::from_fn(300, 100, |x, _| image::Luma([if x < 150 { 0 } else { 250 }]));
        let p = prepare(&DynamicImage::ImageLuma8(dark), 28, false);
        assert_eq!(p.pixels[14 * 28], 0);
        assert!(p.pixels[14 * 28 + 27] > 200);
    }

    #[test]
    fn a_light_background_is_detected_and_inversion_fixes_it() {
        let ink = GrayImage::from_fn(64, 64, |x, y| {
            image::Luma([if (20..44).contains(&x) && (10..54).contains(&y) { 10 } else { 240 }])
        });
        let image = DynamicImage::ImageLuma8(ink);
        let prepared = prepare(&image, 28, false);
        assert!(prepared.looks_inverted(), "{}", prepared.background);
        let inverted = prepare(&image, 28, true);
        assert!(!inverted.looks_inverted());
        assert_eq!(inverted.background, 255 - 240);
        // Transparent pixels are the black background.
        let mut rgba = RgbaImage::from_pixel(4, 4, Rgba([255, 255, 255, 0]));
        rgba.put_pixel(1, 1, Rgba([255, 255, 255, 255]));
        let p = prepare(&DynamicImage::ImageRgba8(rgba), 4, false);
        assert_eq!(p.pixels[5], 255);
        assert_eq!(p.pixels.iter().filter(|&&v| v == 0).count(), 15);
    }

    #[test]
    fn corrupted_or_foreign_files_give_one_plain_line() {
        let png = encode(&DynamicImage::ImageLuma8(digit()), ImageFormat::Png);
        let mut corrupted = png.clone();
        let n = corrupted.len();
        for b in &mut corrupted[n / 2..n - 12] {
            *b ^= 0x5a;
        }
        for bytes in [&corrupted[..], &png[..png.len() / 2], &png[..40], b"GIF89a", b"hello", b""] {
            let msg = decode(bytes).unwrap_err().to_string();
            assert!(!msg.contains('\n') && !msg.contains('{') && !msg.contains("::"), "{msg}");
            assert!(
                msg.contains("corrupted or truncated")
                    || msg.contains("not an image")
                    || msg.contains("not supported")
                    || msg.contains("cannot decode"),
                "{msg}"
            );
        }
        assert_eq!(plain("Invalid PNG signature."), Some("invalid PNG signature".to_owned()));
        assert_eq!(plain("CRC error in ChunkType { type: IDAT }"), None);
    }

    #[test]
    fn files_are_read_through_nn_io_checks() {
        let msg = format!("{:#}", load(Path::new("/dev/zero"), 28, false).unwrap_err());
        assert!(msg.contains("expected a regular file, found a character device"), "{msg}");
        let path = std::env::temp_dir().join(format!("mnist-image-{}.pgm", std::process::id()));
        std::fs::write(&path, encode(&DynamicImage::ImageLuma8(digit()), ImageFormat::Pnm))
            .unwrap();
        assert_eq!(load(&path, 28, false).unwrap().pixels, digit().into_raw());
        std::fs::write(&path, b"P5\n28 28\n255\n\x01\x02").unwrap();
        let msg = load(&path, 28, false).unwrap_err().to_string();
        assert!(msg.starts_with(&path.display().to_string()), "{msg}");
        assert!(!msg.contains('\n'));
        std::fs::remove_file(&path).unwrap();
    }
}
