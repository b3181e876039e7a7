//! Charts for the mnist example, drawn without any font or system dependency: line charts
//! (panels side by side, e.g. loss and accuracy per epoch) and a confusion-matrix heatmap.
//!
//! A chart is first laid out as a list of shapes in pixel coordinates, then written either as
//! SVG (by hand: rects, polylines, circles, text) or as PNG (rasterized here, text from the
//! embedded 5 × 7 bitmap font below at twice its size, encoded by the `image` crate). The format
//! follows the file's extension, `.png` or `.svg`; the file is written atomically by nn-io. The
//! SVG asks for a monospace font whose advance matches the bitmap font's, so both outputs have
//! the same layout; in the PNG, a character outside ASCII is drawn as `?`, in the SVG it is kept.

use std::path::Path;

use anyhow::{Context, Result, bail, ensure};
use image::ImageEncoder;

/// One line of a [`LineChart`]: its legend name and its points `(x, y)`, drawn in order.
///
/// Points with a non-finite coordinate are skipped and break the line.
#[derive(Clone, Debug, Default)]
pub struct Series {
    /// The name shown in the legend.
    pub name: String,
    /// The points, `(x, y)`.
    pub points: Vec<(f64, f64)>,
}

/// A panel of line plots sharing a pair of axes.
#[derive(Clone, Debug, Default)]
pub struct LineChart {
    /// The title above the panel.
    pub title: String,
    /// The label under the horizontal axis.
    pub x_label: String,
    /// The label along the vertical axis.
    pub y_label: String,
    /// The lines, each in its own color (the same index gets the same color in every panel).
    pub series: Vec<Series>,
}

/// Checks that `path` names a format this module writes (`.png` or `.svg`), before any work.
pub fn check_extension(path: &Path) -> Result<()> {
    Format::of(path).map(|_| ())
}

/// Writes `charts` as panels side by side to `path` (`.png` or `.svg`).
///
/// Each panel has a title, axes with numbered ticks, axis labels and a legend. Degenerate data
/// (no series, empty series, a single point, constant values, NaN or infinite values) is drawn
/// as well as it can be, without error.
///
/// # Errors
///
/// If the extension is neither `.png` nor `.svg`, there is no chart (or more than 32), or the
/// file cannot be written.
pub fn save_line_charts(path: &Path, charts: &[LineChart]) -> Result<()> {
    let format = Format::of(path)?;
    ensure!(!charts.is_empty(), "{}: no chart to plot", path.display());
    ensure!(
        charts.len() <= 32,
        "{}: too many charts ({}, at most 32)",
        path.display(),
        charts.len()
    );
    format.write(path, &line_charts_scene(charts))
}

/// Writes a confusion matrix as a heatmap to `path` (`.png` or `.svg`).
///
/// `counts` is row-major, `n_classes` × `n_classes`: row = true class, column = predicted
/// class. Each cell shows its count; its color is the count's share of its row (so each true
/// class is normalized). `class_names` labels both axes (long names are truncated); an empty
/// slice labels the classes 0, 1, …
///
/// # Errors
///
/// If the extension is neither `.png` nor `.svg`, `n_classes` is 0 or above 100, `counts` does
/// not hold `n_classes`² values, `class_names` is neither empty nor `n_classes` long, the PNG
/// would exceed 40 million pixels (huge counts in many classes), or the file cannot be written.
pub fn save_confusion_matrix(
    path: &Path,
    counts: &[u64],
    n_classes: usize,
    class_names: &[String],
    title: &str,
) -> Result<()> {
    let format = Format::of(path)?;
    let n = n_classes;
    ensure!((1..=100).contains(&n), "{}: {n} classes (must be 1..=100)", path.display());
    ensure!(
        counts.len() == n * n,
        "{}: {} counts for {n} classes (expected {})",
        path.display(),
        counts.len(),
        n * n
    );
    ensure!(
        class_names.is_empty() || class_names.len() == n,
        "{}: {} class names for {n} classes",
        path.display(),
        class_names.len()
    );
    let names: Vec<String> = if class_names.is_empty() {
        (0..n).map(|i| i.to_string()).collect()
    } else {
        class_names.to_vec()
    };
    format.write(path, &confusion_scene(counts, n, &names, title))
}

// ------------------------------------------------------------------------------------------
// Output formats.

/// The output format, from the file's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Png,
    Svg,
}

impl Format {
    fn of(path: &Path) -> Result<Format> {
        let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase());
        match ext.as_deref() {
            Some("png") => Ok(Format::Png),
            Some("svg") => Ok(Format::Svg),
            Some(e) => {
                bail!("{}: unsupported plot format \".{e}\": use .png or .svg", path.display())
            }
            None => bail!(
                "{}: unsupported plot format (no extension): use .png or .svg",
                path.display()
            ),
        }
    }

    /// Writes `scene` to `path` atomically, through nn-io: a crash or an error leaves the old
    /// file (or none), never a partial one.
    fn write(self, path: &Path, scene: &Scene) -> Result<()> {
        let bytes = match self {
            Format::Svg => scene.to_svg().into_bytes(),
            Format::Png => encode_png(path, scene)?,
        };
        nn::io::write_file_atomic(path, &bytes)?;
        Ok(())
    }
}

/// The largest PNG drawn, in pixels (120 MB of RGB).
const MAX_RASTER: u64 = 40_000_000;

/// Rasterizes `scene` and encodes it as an 8-bit RGB PNG.
fn encode_png(path: &Path, scene: &Scene) -> Result<Vec<u8>> {
    ensure!(
        u64::from(scene.width) * u64::from(scene.height) <= MAX_RASTER,
        "{}: the image would be {}×{} pixels, too large for a PNG (use .svg)",
        path.display(),
        scene.width,
        scene.height
    );
    let pixels = scene.rasterize();
    let mut bytes = Vec::new();
    image::codecs::png::PngEncoder::new(&mut bytes)
        .write_image(&pixels, scene.width, scene.height, image::ExtendedColorType::Rgb8)
        .with_context(|| format!("{}: cannot encode the PNG image", path.display()))?;
    Ok(bytes)
}

// ------------------------------------------------------------------------------------------
// Scenes: shapes in pixel coordinates, x to the right, y down; pixel (i, j) covers
// [i, i + 1) × [j, j + 1).

/// An opaque color.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rgb(u8, u8, u8);

const WHITE: Rgb = Rgb(255, 255, 255);
const INK: Rgb = Rgb(34, 34, 34);
const AXIS: Rgb = Rgb(85, 85, 85);
const GRID: Rgb = Rgb(226, 226, 226);
const MUTED: Rgb = Rgb(150, 150, 150);

/// Series colors (Tableau 10), by series index.
const PALETTE: [Rgb; 10] = [
    Rgb(31, 119, 180),
    Rgb(255, 127, 14),
    Rgb(44, 160, 44),
    Rgb(214, 39, 40),
    Rgb(148, 103, 189),
    Rgb(140, 86, 75),
    Rgb(227, 119, 194),
    Rgb(127, 127, 127),
    Rgb(188, 189, 34),
    Rgb(23, 190, 207),
];

/// Where a text's anchor point is along the text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Anchor {
    Start,
    Middle,
    End,
}

#[derive(Clone, Debug)]
enum Shape {
    /// A filled rectangle (integer coordinates cover whole pixels).
    Rect { x: f64, y: f64, w: f64, h: f64, fill: Rgb },
    /// An open line through the points, `width` pixels thick, with round joins and caps.
    Polyline { points: Vec<(f64, f64)>, width: f64, color: Rgb },
    /// A filled disc.
    Dot { x: f64, y: f64, r: f64, color: Rgb },
    /// One line of text.
    Text(Label),
}

/// One line of text at [`SCALE`]: the anchor `(x, y)` is on the text's vertical center line
/// (the middle of its capitals); `vertical` text is turned a quarter counterclockwise (it reads
/// upwards).
#[derive(Clone, Debug)]
struct Label {
    x: f64,
    y: f64,
    text: String,
    color: Rgb,
    anchor: Anchor,
    vertical: bool,
}

/// A picture: a white background and shapes drawn in order.
struct Scene {
    width: u32,
    height: u32,
    shapes: Vec<Shape>,
}

impl Scene {
    fn new(width: f64, height: f64) -> Scene {
        // The sizes are bounded by the callers' layouts (at most a few thousand pixels).
        Scene {
            width: width.ceil().max(1.0) as u32,
            height: height.ceil().max(1.0) as u32,
            shapes: Vec::new(),
        }
    }

    fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: Rgb) {
        self.shapes.push(Shape::Rect { x, y, w, h, fill });
    }

    fn text(&mut self, x: f64, y: f64, text: &str, color: Rgb, anchor: Anchor) {
        let text = clean(text);
        self.shapes.push(Shape::Text(Label { x, y, text, color, anchor, vertical: false }));
    }

    fn vertical_text(&mut self, x: f64, y: f64, text: &str, color: Rgb, anchor: Anchor) {
        let text = clean(text);
        self.shapes.push(Shape::Text(Label { x, y, text, color, anchor, vertical: true }));
    }

    /// The SVG document.
    fn to_svg(&self) -> String {
        use std::fmt::Write as _;
        let (w, h) = (self.width, self.height);
        let mut s = String::new();
        // `write!` to a String cannot fail.
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace">"#
        );
        let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="{}"/>"#, hex(WHITE));
        for shape in &self.shapes {
            match shape {
                Shape::Rect { x, y, w, h, fill } => {
                    let _ = writeln!(
                        s,
                        r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{}" shape-rendering="crispEdges"/>"#,
                        num(*x),
                        num(*y),
                        num(*w),
                        num(*h),
                        hex(*fill)
                    );
                }
                Shape::Polyline { points, width, color } => {
                    let pts: Vec<String> =
                        points.iter().map(|&(x, y)| format!("{},{}", num(x), num(y))).collect();
                    let _ = writeln!(
                        s,
                        r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="{}" stroke-linejoin="round" stroke-linecap="round"/>"#,
                        pts.join(" "),
                        hex(*color),
                        num(*width)
                    );
                }
                Shape::Dot { x, y, r, color } => {
                    let _ = writeln!(
                        s,
                        r#"<circle cx="{}" cy="{}" r="{}" fill="{}"/>"#,
                        num(*x),
                        num(*y),
                        num(*r),
                        hex(*color)
                    );
                }
                Shape::Text(Label { x, y, text, color, anchor, vertical }) => {
                    let size = 10.0 * f64::from(SCALE);
                    let baseline = y + 3.5 * f64::from(SCALE);
                    let anchor = match anchor {
                        Anchor::Start => "start",
                        Anchor::Middle => "middle",
                        Anchor::End => "end",
                    };
                    let rotate = if *vertical {
                        format!(r#" transform="rotate(-90 {} {})""#, num(*x), num(*y))
                    } else {
                        String::new()
                    };
                    let _ = writeln!(
                        s,
                        r#"<text x="{}" y="{}" font-size="{}" fill="{}" text-anchor="{anchor}"{rotate} xml:space="preserve">{}</text>"#,
                        num(*x),
                        num(baseline),
                        num(size),
                        hex(*color),
                        escape(text)
                    );
                }
            }
        }
        s.push_str("</svg>\n");
        s
    }

    /// The RGB pixels, row-major.
    fn rasterize(&self) -> Vec<u8> {
        let mut canvas = Canvas::new(self.width as usize, self.height as usize);
        for shape in &self.shapes {
            match shape {
                Shape::Rect { x, y, w, h, fill } => canvas.fill_rect(*x, *y, *w, *h, *fill),
                Shape::Polyline { points, width, color } => {
                    canvas.polyline(points, *width, *color);
                }
                Shape::Dot { x, y, r, color } => canvas.dot(*x, *y, *r, *color),
                Shape::Text(label) => canvas.text(label),
            }
        }
        canvas.px
    }
}

/// `#rrggbb`.
fn hex(c: Rgb) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

/// A coordinate for SVG: at most two decimals, no trailing zeros.
fn num(v: f64) -> String {
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".to_owned() } else { s.to_owned() }
}

/// Escapes XML text.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// A label on one line: control characters (newlines, tabs, …) become spaces.
fn clean(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// At most `max` characters: a longer text keeps its first `max - 1` and ends with `…`.
fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

// ------------------------------------------------------------------------------------------
// Text metrics (shared by both formats).

/// The text scale: the 5 × 7 font at twice its size, 12 pixels per character.
const SCALE: u32 = 2;
/// The advance of one character at [`SCALE`].
const CHAR_W: f64 = 6.0 * SCALE as f64;
/// The height of capitals at [`SCALE`].
const CAP_H: f64 = 7.0 * SCALE as f64;
/// The distance between two lines of text.
const LINE: f64 = 24.0;
/// The outer margin.
const PAD: f64 = 14.0;

/// The width of `text` at [`SCALE`].
fn text_width(text: &str) -> f64 {
    let n = text.chars().count() as f64;
    if n == 0.0 { 0.0 } else { n * CHAR_W - f64::from(SCALE) }
}

/// How many characters fit in `width` pixels (at least 1).
fn chars_in(width: f64) -> usize {
    ((width + f64::from(SCALE)) / CHAR_W).floor().max(1.0) as usize
}

// ------------------------------------------------------------------------------------------
// Line charts.

/// The width of one panel.
const PANEL_W: f64 = 620.0;
/// The height of the plotting area of a panel.
const PLOT_H: f64 = 340.0;
/// The top of the plotting area: below the title.
const PLOT_TOP: f64 = PAD + LINE + 12.0;
/// The space under the plotting area for tick labels and the axis label.
const BELOW_PLOT: f64 = 10.0 + LINE + LINE + 4.0;
/// Values beyond this magnitude are treated like infinities (skipped), so that ranges and
/// coordinates stay finite.
const MAX_MAGNITUDE: f64 = 1e300;

/// A value to plot: finite and not absurdly large.
fn plottable(v: f64) -> bool {
    v.is_finite() && v.abs() <= MAX_MAGNITUDE
}

/// An axis: its range and its ticks.
#[derive(Clone, Debug)]
struct Axis {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
    labels: Vec<String>,
}

impl Axis {
    /// An axis covering `values` (plottable ones), with "nice" ticks (1, 2 or 5 × 10^k apart)
    /// at both ends; integer ticks only if every value is an integer.
    fn fit(values: impl Iterator<Item = f64>) -> Axis {
        let (mut lo, mut hi, mut integers, mut any) =
            (f64::INFINITY, f64::NEG_INFINITY, true, false);
        for v in values.filter(|&v| plottable(v)) {
            lo = lo.min(v);
            hi = hi.max(v);
            integers &= v.fract() == 0.0;
            any = true;
        }
        if !any {
            (lo, hi, integers) = (0.0, 1.0, false);
        }
        let magnitude = lo.abs().max(hi.abs());
        if hi - lo <= (magnitude * 1e-12).max(1e-200) {
            // Constant values (or a range too narrow for round steps): a range around them.
            let pad = if magnitude < 1e-300 { 1.0 } else { magnitude * 0.1 };
            let pad = if integers { pad.max(1.0) } else { pad };
            lo -= pad;
            hi += pad;
        }
        let (mut mantissa, mut exp) = nice_step((hi - lo) / 5.0);
        if integers && exp < 0 {
            (mantissa, exp) = (1.0, 0);
        }
        let step = mantissa * 10f64.powi(exp);
        let first = (lo / step).floor();
        let last = (hi / step).ceil();
        let count = (last - first).round().clamp(1.0, 40.0) as usize;
        let ticks: Vec<f64> = (0..=count)
            .map(|i| {
                let t = (first + i as f64) * step;
                if t.abs() < step * 1e-9 { 0.0 } else { t }
            })
            .collect();
        let lo = ticks.first().copied().unwrap_or(lo);
        let hi = ticks.last().copied().unwrap_or(hi);
        let labels = tick_labels(&ticks, exp);
        Axis { lo, hi, ticks, labels }
    }

    /// The position of `v` between `a` (for `lo`) and `b` (for `hi`).
    fn map(&self, v: f64, a: f64, b: f64) -> f64 {
        a + (v - self.lo) / (self.hi - self.lo) * (b - a)
    }
}

/// A round step near `raw` (> 0): `(m, e)` with `m` in {1, 2, 5} and step `m` × 10^`e`.
fn nice_step(raw: f64) -> (f64, i32) {
    let raw = if raw.is_finite() && raw > 0.0 { raw } else { 1.0 };
    let exp = raw.log10().floor();
    let f = raw / 10f64.powf(exp);
    let exp = exp as i32;
    match f {
        f if f < 1.5 => (1.0, exp),
        f if f < 3.0 => (2.0, exp),
        f if f < 7.0 => (5.0, exp),
        _ => (1.0, exp + 1),
    }
}

/// The labels of ticks `step_exp` decimal orders apart: fixed-point with just enough decimals,
/// or scientific for very large or very small values.
fn tick_labels(ticks: &[f64], step_exp: i32) -> Vec<String> {
    let magnitude = ticks.iter().fold(0.0f64, |m, t| m.max(t.abs()));
    if magnitude >= 1e6 || step_exp < -5 {
        let top = if magnitude > 0.0 { magnitude.log10().floor() as i32 } else { 0 };
        let digits = (top - step_exp).clamp(0, 8) as usize;
        ticks
            .iter()
            .map(|&t| if t == 0.0 { "0".to_owned() } else { format!("{t:.digits$e}") })
            .collect()
    } else {
        let decimals = (-step_exp).max(0) as usize;
        ticks.iter().map(|&t| format!("{t:.decimals$}")).collect()
    }
}

/// The legend of a chart, laid out in rows that fit in `width`: per row, the entries as
/// (series index, text, x offset from the row's start).
fn legend_rows(chart: &LineChart, width: f64) -> Vec<Vec<(usize, String, f64)>> {
    const SWATCH: f64 = 26.0;
    const GAP: f64 = 8.0;
    const SPACING: f64 = 24.0;
    let max_chars = chars_in(width - SWATCH - GAP);
    let mut rows: Vec<Vec<(usize, String, f64)>> = Vec::new();
    let mut x = 0.0;
    for (i, series) in chart.series.iter().enumerate() {
        let name = truncate(&clean(&series.name), max_chars.min(40));
        let w = SWATCH + GAP + text_width(&name);
        if rows.is_empty() || (x > 0.0 && x + w > width) {
            rows.push(Vec::new());
            x = 0.0;
        }
        if let Some(row) = rows.last_mut() {
            row.push((i, name, x));
        }
        x += w + SPACING;
    }
    rows
}

/// The scene of panels side by side.
fn line_charts_scene(charts: &[LineChart]) -> Scene {
    let legend_width = PANEL_W - 2.0 * PAD;
    let legend_lines = charts.iter().map(|c| legend_rows(c, legend_width).len()).max().unwrap_or(0);
    let height = PLOT_TOP + PLOT_H + BELOW_PLOT + legend_lines as f64 * LINE + PAD;
    let mut scene = Scene::new(PANEL_W * charts.len() as f64, height);
    for (i, chart) in charts.iter().enumerate() {
        draw_line_chart(&mut scene, i as f64 * PANEL_W, chart);
    }
    scene
}

/// Draws one panel with its left edge at `x0`.
fn draw_line_chart(scene: &mut Scene, x0: f64, chart: &LineChart) {
    let points = || chart.series.iter().flat_map(|s| s.points.iter().copied());
    let x_axis = Axis::fit(points().filter(|p| plottable(p.1)).map(|p| p.0));
    let y_axis = Axis::fit(points().filter(|p| plottable(p.0)).map(|p| p.1));
    let y_label = clean(chart.y_label.trim());
    let y_ticks_w = y_axis.labels.iter().map(|l| text_width(l)).fold(0.0, f64::max);
    let label_w = if y_label.is_empty() { 0.0 } else { CAP_H + 12.0 };
    let left = (x0 + PAD + label_w + y_ticks_w + 10.0).round();
    let last_half = x_axis.labels.last().map_or(0.0, |l| text_width(l) / 2.0);
    let right = (x0 + PANEL_W - PAD.max(last_half + 6.0)).round();
    let (top, bottom) = (PLOT_TOP, PLOT_TOP + PLOT_H);
    let (plot_w, plot_h) = (right - left, bottom - top);
    // Data coordinates map to pixel centers inside the frame.
    let px = |x: f64| x_axis.map(x, left + 0.5, right - 0.5);
    let py = |y: f64| y_axis.map(y, bottom - 0.5, top + 0.5);

    // Grid and frame.
    for &t in &x_axis.ticks {
        let x = px(t).floor();
        scene.rect(x, top, 1.0, plot_h, GRID);
        scene.rect(x, bottom + 1.0, 1.0, 5.0, AXIS);
    }
    for &t in &y_axis.ticks {
        let y = py(t).floor();
        scene.rect(left, y, plot_w, 1.0, GRID);
        scene.rect(left - 6.0, y, 5.0, 1.0, AXIS);
    }
    scene.rect(left - 1.0, top - 1.0, plot_w + 2.0, 1.0, AXIS);
    scene.rect(left - 1.0, bottom, plot_w + 2.0, 1.0, AXIS);
    scene.rect(left - 1.0, top - 1.0, 1.0, plot_h + 2.0, AXIS);
    scene.rect(right, top - 1.0, 1.0, plot_h + 2.0, AXIS);

    // Tick labels: on the horizontal axis, every k-th one so that they do not overlap.
    let label_y = bottom + 10.0 + CAP_H / 2.0;
    let widest = x_axis.labels.iter().map(|l| text_width(l)).fold(0.0, f64::max);
    let spacing = plot_w / (x_axis.ticks.len().max(2) - 1) as f64;
    let every = ((widest + 12.0) / spacing).ceil().max(1.0) as usize;
    for (i, (&t, label)) in x_axis.ticks.iter().zip(&x_axis.labels).enumerate() {
        if i % every == 0 {
            scene.text(px(t).floor() + 0.5, label_y, label, INK, Anchor::Middle);
        }
    }
    for (&t, label) in y_axis.ticks.iter().zip(&y_axis.labels) {
        scene.text(left - 10.0, py(t).floor() + 0.5, label, INK, Anchor::End);
    }

    // Series: runs of plottable points as lines; isolated points, and every point of short
    // series, as dots.
    let mut plotted = 0;
    for (i, series) in chart.series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let valid = |&(x, y): &(f64, f64)| plottable(x) && plottable(y);
        let dots = series.points.iter().filter(|p| valid(p)).count() <= 30;
        for run in series.points.split(|p| !valid(p)).filter(|r| !r.is_empty()) {
            let pts: Vec<(f64, f64)> = run.iter().map(|&(x, y)| (px(x), py(y))).collect();
            plotted += pts.len();
            if pts.len() > 1 {
                scene.shapes.push(Shape::Polyline { points: pts.clone(), width: 2.5, color });
            }
            if dots || pts.len() == 1 {
                for (x, y) in pts {
                    scene.shapes.push(Shape::Dot { x, y, r: 3.5, color });
                }
            }
        }
    }
    if plotted == 0 {
        scene.text((left + right) / 2.0, (top + bottom) / 2.0, "no data", MUTED, Anchor::Middle);
    }

    // Labels, title and legend.
    let x_label = truncate(&clean(chart.x_label.trim()), chars_in(plot_w));
    scene.text((left + right) / 2.0, label_y + LINE, &x_label, INK, Anchor::Middle);
    if !y_label.is_empty() {
        let y_label = truncate(&y_label, chars_in(plot_h));
        scene.vertical_text(
            x0 + PAD + CAP_H / 2.0,
            (top + bottom) / 2.0,
            &y_label,
            INK,
            Anchor::Middle,
        );
    }
    let title = truncate(&clean(chart.title.trim()), chars_in(PANEL_W - 2.0 * PAD));
    scene.text(x0 + PANEL_W / 2.0, PAD + CAP_H / 2.0, &title, INK, Anchor::Middle);
    let legend_top = bottom + BELOW_PLOT;
    for (row, entries) in legend_rows(chart, PANEL_W - 2.0 * PAD).iter().enumerate() {
        let y = (legend_top + row as f64 * LINE + CAP_H / 2.0).round();
        for (i, name, dx) in entries {
            let x = x0 + PAD + dx;
            let color = PALETTE[i % PALETTE.len()];
            scene.rect(x, y - 1.0, 26.0, 3.0, color);
            scene.shapes.push(Shape::Dot { x: x + 13.0, y: y + 0.5, r: 3.5, color });
            scene.text(x + 34.0, y, name, INK, Anchor::Start);
        }
    }
}

// ------------------------------------------------------------------------------------------
// Confusion matrix.

/// The "Blues" color ramp, from 0 to 1.
const BLUES: [Rgb; 5] = [
    Rgb(247, 251, 255),
    Rgb(198, 219, 239),
    Rgb(107, 174, 214),
    Rgb(33, 113, 181),
    Rgb(8, 48, 107),
];

/// The color of `t` in 0..=1 on [`BLUES`].
fn blues(t: f64) -> Rgb {
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
    let pos = t * (BLUES.len() - 1) as f64;
    let i = (pos.floor() as usize).min(BLUES.len() - 2);
    let f = pos - i as f64;
    let (a, b) = (BLUES[i], BLUES[i + 1]);
    let mix = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * f).round() as u8;
    Rgb(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// The longest class name shown.
const MAX_NAME: usize = 12;

/// The scene of a confusion matrix (arguments already checked).
fn confusion_scene(counts: &[u64], n: usize, names: &[String], title: &str) -> Scene {
    let names: Vec<String> = names.iter().map(|s| truncate(&clean(s.trim()), MAX_NAME)).collect();
    let digits = counts.iter().map(|c| c.to_string().len()).max().unwrap_or(1);
    let cell = (digits as f64 * CHAR_W + 10.0).max(44.0);
    let names_w = names.iter().map(|s| text_width(s)).fold(0.0, f64::max);
    let columns_vertical = names_w > cell - 6.0;
    let columns_h = if columns_vertical { names_w } else { CAP_H };

    let grid_w = cell * n as f64;
    let left = (PAD + CAP_H + 14.0 + names_w + 10.0).round();
    let top = PAD + LINE + 16.0;
    let bottom = top + grid_w;
    let title = truncate(&clean(title.trim()), 80);
    let width = (left + grid_w + 2.0 * PAD).max(text_width(&title) + 2.0 * PAD);
    let height = bottom + 10.0 + columns_h + 12.0 + LINE + PAD;
    let mut scene = Scene::new(width, height);

    for row in 0..n {
        let cells = &counts[row * n..(row + 1) * n];
        let total: f64 = cells.iter().map(|&c| c as f64).sum();
        for (col, &count) in cells.iter().enumerate() {
            let share = if total > 0.0 { count as f64 / total } else { 0.0 };
            let (x, y) = (left + col as f64 * cell, top + row as f64 * cell);
            scene.rect(x + 1.0, y + 1.0, cell - 1.0, cell - 1.0, blues(share));
            let ink = match (count, share > 0.5) {
                (0, _) => MUTED,
                (_, true) => WHITE,
                (_, false) => INK,
            };
            scene.text(
                x + cell / 2.0 + 0.5,
                y + cell / 2.0 + 0.5,
                &count.to_string(),
                ink,
                Anchor::Middle,
            );
        }
    }
    // Frame.
    scene.rect(left, top, grid_w + 1.0, 1.0, AXIS);
    scene.rect(left, bottom, grid_w + 1.0, 1.0, AXIS);
    scene.rect(left, top, 1.0, grid_w + 1.0, AXIS);
    scene.rect(left + grid_w, top, 1.0, grid_w + 1.0, AXIS);

    for (i, name) in names.iter().enumerate() {
        let center = (i as f64 + 0.5) * cell + 0.5;
        scene.text(left - 8.0, top + center, name, INK, Anchor::End);
        if columns_vertical {
            scene.vertical_text(left + center, bottom + 10.0, name, INK, Anchor::End);
        } else {
            scene.text(left + center, bottom + 10.0 + CAP_H / 2.0, name, INK, Anchor::Middle);
        }
    }
    let middle = left + grid_w / 2.0;
    scene.text(
        middle,
        bottom + 10.0 + columns_h + 12.0 + CAP_H / 2.0,
        "predicted class",
        INK,
        Anchor::Middle,
    );
    scene.vertical_text(PAD + CAP_H / 2.0, top + grid_w / 2.0, "true class", INK, Anchor::Middle);
    scene.text(width / 2.0, PAD + CAP_H / 2.0, &title, INK, Anchor::Middle);
    scene
}

// ------------------------------------------------------------------------------------------
// Rasterization.

/// RGB pixels on a white background.
struct Canvas {
    width: usize,
    height: usize,
    px: Vec<u8>,
}

impl Canvas {
    fn new(width: usize, height: usize) -> Canvas {
        Canvas { width, height, px: vec![255; width * height * 3] }
    }

    /// Mixes `color` into pixel `(x, y)` with opacity `alpha` (ignored outside the canvas).
    fn blend(&mut self, x: i64, y: i64, color: Rgb, alpha: f64) {
        if x < 0 || y < 0 || x as usize >= self.width || y as usize >= self.height || alpha <= 0.0 {
            return;
        }
        let i = (y as usize * self.width + x as usize) * 3;
        let a = alpha.min(1.0);
        for (k, c) in [color.0, color.1, color.2].into_iter().enumerate() {
            let old = f64::from(self.px[i + k]);
            self.px[i + k] = (old + (f64::from(c) - old) * a).round() as u8;
        }
    }

    /// The pixel range `[round(a), round(b))` clamped to `0..limit`.
    fn span(a: f64, b: f64, limit: usize) -> std::ops::Range<i64> {
        let clamp = |v: f64| v.round().clamp(0.0, limit as f64) as i64;
        clamp(a)..clamp(b)
    }

    fn fill_rect(&mut self, x: f64, y: f64, w: f64, h: f64, color: Rgb) {
        for j in Canvas::span(y, y + h, self.height) {
            for i in Canvas::span(x, x + w, self.width) {
                self.blend(i, j, color, 1.0);
            }
        }
    }

    /// An anti-aliased thick polyline: the coverage of each pixel is the largest over the
    /// segments, from the distance of its center to the segment, so joints are not drawn twice.
    fn polyline(&mut self, points: &[(f64, f64)], width: f64, color: Rgb) {
        let r = width / 2.0;
        let reach = r + 1.0;
        let (mut x0, mut y0, mut x1, mut y1) =
            (f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY);
        for &(x, y) in points {
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
        }
        let xs = Canvas::span(x0 - reach - 1.0, x1 + reach + 1.0, self.width);
        let ys = Canvas::span(y0 - reach - 1.0, y1 + reach + 1.0, self.height);
        if xs.is_empty() || ys.is_empty() {
            return;
        }
        let (bw, bh) = ((xs.end - xs.start) as usize, (ys.end - ys.start) as usize);
        let mut mask = vec![0.0f64; bw * bh];
        for seg in points.windows(2) {
            let ((ax, ay), (bx, by)) = (seg[0], seg[1]);
            let (dx, dy) = (bx - ax, by - ay);
            let len = dx.hypot(dy);
            let rows = Canvas::span(ay.min(by) - reach, ay.max(by) + reach + 1.0, self.height);
            for j in rows.start.max(ys.start)..rows.end.min(ys.end) {
                let yc = j as f64 + 0.5;
                // The pixels near the segment on this row: within the band around its line.
                let (mut lo, mut hi) = (ax.min(bx) - reach, ax.max(bx) + reach);
                if dy.abs() > 1e-9 {
                    let x = ax + (yc - ay) * dx / dy;
                    let half = reach * len / dy.abs();
                    (lo, hi) = (lo.max(x - half), hi.min(x + half));
                }
                let cols = Canvas::span(lo - 0.5, hi + 0.5, self.width);
                for i in cols.start.max(xs.start)..cols.end.min(xs.end) {
                    let d = segment_distance((i as f64 + 0.5, yc), (ax, ay), (bx, by));
                    let cover = (r + 0.5 - d).clamp(0.0, 1.0);
                    let k = (j - ys.start) as usize * bw + (i - xs.start) as usize;
                    if let Some(m) = mask.get_mut(k) {
                        *m = m.max(cover);
                    }
                }
            }
        }
        for (k, &cover) in mask.iter().enumerate() {
            if cover > 0.0 {
                let (i, j) = ((k % bw) as i64 + xs.start, (k / bw) as i64 + ys.start);
                self.blend(i, j, color, cover);
            }
        }
    }

    /// An anti-aliased disc.
    fn dot(&mut self, x: f64, y: f64, r: f64, color: Rgb) {
        for j in Canvas::span(y - r - 1.0, y + r + 2.0, self.height) {
            for i in Canvas::span(x - r - 1.0, x + r + 2.0, self.width) {
                let d = (i as f64 + 0.5 - x).hypot(j as f64 + 0.5 - y);
                self.blend(i, j, color, (r + 0.5 - d).clamp(0.0, 1.0));
            }
        }
    }

    /// Text in the bitmap font, each font pixel a [`SCALE`] × [`SCALE`] block.
    fn text(&mut self, label: &Label) {
        let Label { x, y, ref text, color, anchor, vertical } = *label;
        let s = i64::from(SCALE);
        let n = text.chars().count() as i64;
        let width = if n == 0 { 0 } else { n * 6 * s - s };
        let offset = match anchor {
            Anchor::Start => 0.0,
            Anchor::Middle => -(width as f64) / 2.0,
            Anchor::End => -(width as f64),
        };
        // Local coordinates (u along the text, v down from the top of the capitals) of the
        // first character's top left corner.
        let half = 3.5 * f64::from(SCALE);
        let (bx, by) = if vertical {
            ((x - half).round() as i64, (y - offset).round() as i64)
        } else {
            ((x + offset).round() as i64, (y - half).round() as i64)
        };
        for (k, c) in text.chars().enumerate() {
            let rows = glyph(c);
            for (v, bits) in rows.iter().enumerate() {
                for col in 0..5 {
                    if bits & (0b10000 >> col) == 0 {
                        continue;
                    }
                    let u = (k as i64 * 6 + col) * s;
                    let v = v as i64 * s;
                    let (px, py) = if vertical { (bx + v, by - u - s) } else { (bx + u, by + v) };
                    for dy in 0..s {
                        for dx in 0..s {
                            self.blend(px + dx, py + dy, color, 1.0);
                        }
                    }
                }
            }
        }
    }
}

/// The distance from `p` to the segment `a`–`b`.
fn segment_distance(p: (f64, f64), a: (f64, f64), b: (f64, f64)) -> f64 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 {
        (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    (p.0 - a.0 - t * dx).hypot(p.1 - a.1 - t * dy)
}

// ------------------------------------------------------------------------------------------
// The font.

/// The rows of `c`'s glyph: printable ASCII, `…` and `×`; anything else is `?`.
fn glyph(c: char) -> &'static [u8; 8] {
    const ELLIPSIS: [u8; 8] = [0, 0, 0, 0, 0, 0, 0b10101, 0];
    const TIMES: [u8; 8] = [0, 0, 0b10001, 0b01010, 0b00100, 0b01010, 0b10001, 0];
    match c {
        ' '..='~' => &FONT[c as usize - 32],
        '…' => &ELLIPSIS,
        '×' => &TIMES,
        _ => &FONT['?' as usize - 32],
    }
}

/// A 5 × 7 font for ASCII 32 to 126: per character, 8 rows of 5 pixels (bit 4 is the left
/// column); rows 0 to 6 stand on the baseline, row 7 is for descenders.
#[rustfmt::skip]
const FONT: [[u8; 8]; 95] = [
    [0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b00000], // ' '
    [0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00000, 0b00100, 0b00000], // '!'
    [0b01010, 0b01010, 0b01010, 0b00000, 0b00000, 0b00000, 0b00000, 0b00000], // '"'
    [0b01010, 0b01010, 0b11111, 0b01010, 0b11111, 0b01010, 0b01010, 0b00000], // '#'
    [0b00100, 0b01111, 0b10100, 0b01110, 0b00101, 0b11110, 0b00100, 0b00000], // '$'
    [0b11000, 0b11001, 0b00010, 0b00100, 0b01000, 0b10011, 0b00011, 0b00000], // '%'
    [0b01100, 0b10010, 0b10100, 0b01000, 0b10101, 0b10010, 0b01101, 0b00000], // '&'
    [0b00100, 0b00100, 0b00100, 0b00000, 0b00000, 0b00000, 0b00000, 0b00000], // '\''
    [0b00010, 0b00100, 0b01000, 0b01000, 0b01000, 0b00100, 0b00010, 0b00000], // '('
    [0b01000, 0b00100, 0b00010, 0b00010, 0b00010, 0b00100, 0b01000, 0b00000], // ')'
    [0b00000, 0b00100, 0b10101, 0b01110, 0b10101, 0b00100, 0b00000, 0b00000], // '*'
    [0b00000, 0b00100, 0b00100, 0b11111, 0b00100, 0b00100, 0b00000, 0b00000], // '+'
    [0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b01100, 0b00100, 0b01000], // ','
    [0b00000, 0b00000, 0b00000, 0b11111, 0b00000, 0b00000, 0b00000, 0b00000], // '-'
    [0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b01100, 0b01100, 0b00000], // '.'
    [0b00000, 0b00001, 0b00010, 0b00100, 0b01000, 0b10000, 0b00000, 0b00000], // '/'
    [0b01110, 0b10001, 0b10011, 0b10101, 0b11001, 0b10001, 0b01110, 0b00000], // '0'
    [0b00100, 0b01100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110, 0b00000], // '1'
    [0b01110, 0b10001, 0b00001, 0b00010, 0b00100, 0b01000, 0b11111, 0b00000], // '2'
    [0b11111, 0b00010, 0b00100, 0b00010, 0b00001, 0b10001, 0b01110, 0b00000], // '3'
    [0b00010, 0b00110, 0b01010, 0b10010, 0b11111, 0b00010, 0b00010, 0b00000], // '4'
    [0b11111, 0b10000, 0b11110, 0b00001, 0b00001, 0b10001, 0b01110, 0b00000], // '5'
    [0b00110, 0b01000, 0b10000, 0b11110, 0b10001, 0b10001, 0b01110, 0b00000], // '6'
    [0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b01000, 0b01000, 0b00000], // '7'
    [0b01110, 0b10001, 0b10001, 0b01110, 0b10001, 0b10001, 0b01110, 0b00000], // '8'
    [0b01110, 0b10001, 0b10001, 0b01111, 0b00001, 0b00010, 0b01100, 0b00000], // '9'
    [0b00000, 0b01100, 0b01100, 0b00000, 0b01100, 0b01100, 0b00000, 0b00000], // ':'
    [0b00000, 0b01100, 0b01100, 0b00000, 0b01100, 0b00100, 0b01000, 0b00000], // ';'
    [0b00010, 0b00100, 0b01000, 0b10000, 0b01000, 0b00100, 0b00010, 0b00000], // '<'
    [0b00000, 0b00000, 0b11111, 0b00000, 0b11111, 0b00000, 0b00000, 0b00000], // '='
    [0b01000, 0b00100, 0b00010, 0b00001, 0b00010, 0b00100, 0b01000, 0b00000], // '>'
    [0b01110, 0b10001, 0b00001, 0b00010, 0b00100, 0b00000, 0b00100, 0b00000], // '?'
    [0b01110, 0b10001, 0b00001, 0b01101, 0b10101, 0b10101, 0b01110, 0b00000], // '@'
    [0b01110, 0b10001, 0b10001, 0b10001, 0b11111, 0b10001, 0b10001, 0b00000], // 'A'
    [0b11110, 0b10001, 0b10001, 0b11110, 0b10001, 0b10001, 0b11110, 0b00000], // 'B'
    [0b01110, 0b10001, 0b10000, 0b10000, 0b10000, 0b10001, 0b01110, 0b00000], // 'C'
    [0b11100, 0b10010, 0b10001, 0b10001, 0b10001, 0b10010, 0b11100, 0b00000], // 'D'
    [0b11111, 0b10000, 0b10000, 0b11110, 0b10000, 0b10000, 0b11111, 0b00000], // 'E'
    [0b11111, 0b10000, 0b10000, 0b11110, 0b10000, 0b10000, 0b10000, 0b00000], // 'F'
    [0b01110, 0b10001, 0b10000, 0b10111, 0b10001, 0b10001, 0b01111, 0b00000], // 'G'
    [0b10001, 0b10001, 0b10001, 0b11111, 0b10001, 0b10001, 0b10001, 0b00000], // 'H'
    [0b01110, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110, 0b00000], // 'I'
    [0b00111, 0b00010, 0b00010, 0b00010, 0b00010, 0b10010, 0b01100, 0b00000], // 'J'
    [0b10001, 0b10010, 0b10100, 0b11000, 0b10100, 0b10010, 0b10001, 0b00000], // 'K'
    [0b10000, 0b10000, 0b10000, 0b10000, 0b10000, 0b10000, 0b11111, 0b00000], // 'L'
    [0b10001, 0b11011, 0b10101, 0b10101, 0b10001, 0b10001, 0b10001, 0b00000], // 'M'
    [0b10001, 0b10001, 0b11001, 0b10101, 0b10011, 0b10001, 0b10001, 0b00000], // 'N'
    [0b01110, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01110, 0b00000], // 'O'
    [0b11110, 0b10001, 0b10001, 0b11110, 0b10000, 0b10000, 0b10000, 0b00000], // 'P'
    [0b01110, 0b10001, 0b10001, 0b10001, 0b10101, 0b10010, 0b01101, 0b00000], // 'Q'
    [0b11110, 0b10001, 0b10001, 0b11110, 0b10100, 0b10010, 0b10001, 0b00000], // 'R'
    [0b01111, 0b10000, 0b10000, 0b01110, 0b00001, 0b00001, 0b11110, 0b00000], // 'S'
    [0b11111, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00000], // 'T'
    [0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01110, 0b00000], // 'U'
    [0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01010, 0b00100, 0b00000], // 'V'
    [0b10001, 0b10001, 0b10001, 0b10101, 0b10101, 0b10101, 0b01010, 0b00000], // 'W'
    [0b10001, 0b10001, 0b01010, 0b00100, 0b01010, 0b10001, 0b10001, 0b00000], // 'X'
    [0b10001, 0b10001, 0b10001, 0b01010, 0b00100, 0b00100, 0b00100, 0b00000], // 'Y'
    [0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b10000, 0b11111, 0b00000], // 'Z'
    [0b01110, 0b01000, 0b01000, 0b01000, 0b01000, 0b01000, 0b01110, 0b00000], // '['
    [0b00000, 0b10000, 0b01000, 0b00100, 0b00010, 0b00001, 0b00000, 0b00000], // '\\'
    [0b01110, 0b00010, 0b00010, 0b00010, 0b00010, 0b00010, 0b01110, 0b00000], // ']'
    [0b00100, 0b01010, 0b10001, 0b00000, 0b00000, 0b00000, 0b00000, 0b00000], // '^'
    [0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b11111, 0b00000], // '_'
    [0b01000, 0b00100, 0b00010, 0b00000, 0b00000, 0b00000, 0b00000, 0b00000], // '`'
    [0b00000, 0b00000, 0b01110, 0b00001, 0b01111, 0b10001, 0b01111, 0b00000], // 'a'
    [0b10000, 0b10000, 0b10110, 0b11001, 0b10001, 0b10001, 0b11110, 0b00000], // 'b'
    [0b00000, 0b00000, 0b01110, 0b10000, 0b10000, 0b10001, 0b01110, 0b00000], // 'c'
    [0b00001, 0b00001, 0b01101, 0b10011, 0b10001, 0b10001, 0b01111, 0b00000], // 'd'
    [0b00000, 0b00000, 0b01110, 0b10001, 0b11111, 0b10000, 0b01110, 0b00000], // 'e'
    [0b00110, 0b01001, 0b01000, 0b11100, 0b01000, 0b01000, 0b01000, 0b00000], // 'f'
    [0b00000, 0b00000, 0b01111, 0b10001, 0b10001, 0b01111, 0b00001, 0b01110], // 'g'
    [0b10000, 0b10000, 0b10110, 0b11001, 0b10001, 0b10001, 0b10001, 0b00000], // 'h'
    [0b00100, 0b00000, 0b01100, 0b00100, 0b00100, 0b00100, 0b01110, 0b00000], // 'i'
    [0b00010, 0b00000, 0b00110, 0b00010, 0b00010, 0b00010, 0b10010, 0b01100], // 'j'
    [0b10000, 0b10000, 0b10010, 0b10100, 0b11000, 0b10100, 0b10010, 0b00000], // 'k'
    [0b01100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110, 0b00000], // 'l'
    [0b00000, 0b00000, 0b11010, 0b10101, 0b10101, 0b10001, 0b10001, 0b00000], // 'm'
    [0b00000, 0b00000, 0b10110, 0b11001, 0b10001, 0b10001, 0b10001, 0b00000], // 'n'
    [0b00000, 0b00000, 0b01110, 0b10001, 0b10001, 0b10001, 0b01110, 0b00000], // 'o'
    [0b00000, 0b00000, 0b11110, 0b10001, 0b10001, 0b11110, 0b10000, 0b10000], // 'p'
    [0b00000, 0b00000, 0b01111, 0b10001, 0b10001, 0b01111, 0b00001, 0b00001], // 'q'
    [0b00000, 0b00000, 0b10110, 0b11001, 0b10000, 0b10000, 0b10000, 0b00000], // 'r'
    [0b00000, 0b00000, 0b01110, 0b10000, 0b01110, 0b00001, 0b11110, 0b00000], // 's'
    [0b01000, 0b01000, 0b11100, 0b01000, 0b01000, 0b01001, 0b00110, 0b00000], // 't'
    [0b00000, 0b00000, 0b10001, 0b10001, 0b10001, 0b10011, 0b01101, 0b00000], // 'u'
    [0b00000, 0b00000, 0b10001, 0b10001, 0b10001, 0b01010, 0b00100, 0b00000], // 'v'
    [0b00000, 0b00000, 0b10001, 0b10001, 0b10101, 0b10101, 0b01010, 0b00000], // 'w'
    [0b00000, 0b00000, 0b10001, 0b01010, 0b00100, 0b01010, 0b10001, 0b00000], // 'x'
    [0b00000, 0b00000, 0b10001, 0b10001, 0b10001, 0b01111, 0b00001, 0b01110], // 'y'
    [0b00000, 0b00000, 0b11111, 0b00010, 0b00100, 0b01000, 0b11111, 0b00000], // 'z'
    [0b00010, 0b00100, 0b00100, 0b01000, 0b00100, 0b00100, 0b00010, 0b00000], // '{'
    [0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00000], // '|'
    [0b01000, 0b00100, 0b00100, 0b00010, 0b00100, 0b00100, 0b01000, 0b00000], // '}'
    [0b00000, 0b00000, 0b01000, 0b10101, 0b00010, 0b00000, 0b00000, 0b00000], // '~'
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn temp_path(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("nn-plot-test-{}-{name}", std::process::id()))
    }

    /// Decodes a PNG file: (width, height, RGB pixels).
    fn read_png(path: &Path) -> (u32, u32, Vec<u8>) {
        let image = image::open(path).unwrap();
        assert_eq!(image.color(), image::ColorType::Rgb8);
        (image.width(), image.height(), image.into_rgb8().into_raw())
    }

    #[test]
    fn font_glyphs_are_five_columns_wide() {
        assert!(FONT.iter().flatten().all(|&row| row < 32));
        assert_eq!(glyph('A'), &FONT[33]);
        assert_eq!(glyph('é'), glyph('?'));
    }

    #[test]
    fn axis_ticks_are_round() {
        let axis = Axis::fit([0.13, 0.97].into_iter());
        assert_eq!(axis.labels, ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        let axis = Axis::fit([1.0, 2.0, 3.0].into_iter());
        assert!(axis.labels.iter().all(|l| !l.contains('.')), "{:?}", axis.labels);
        let axis = Axis::fit([5.0].into_iter());
        assert!(axis.lo < 5.0 && axis.hi > 5.0);
        let axis = Axis::fit([0.5, 0.5].into_iter());
        assert!(axis.lo < 0.5 && axis.hi > 0.5, "{axis:?}");
        let axis = Axis::fit([f64::NAN, f64::INFINITY].into_iter());
        assert_eq!((axis.lo, axis.hi), (0.0, 1.0));
        let axis = Axis::fit([0.0, 3e7].into_iter());
        assert_eq!(axis.labels.last().map(String::as_str), Some("3.0e7"), "{axis:?}");
        let axis = Axis::fit([1e-300, -1e300, 1e300].into_iter());
        assert!(axis.ticks.len() >= 2 && axis.lo <= -1e300 && axis.hi >= 1e300, "{axis:?}");
        let axis = Axis::fit([0.0, 2e-323].into_iter());
        assert!(axis.lo < 0.0 && axis.hi > 0.0 && axis.ticks.iter().all(|t| t.is_finite()));
        let axis = Axis::fit([1e-250, 1.1e-250].into_iter());
        assert!(axis.lo < axis.hi && axis.ticks.iter().all(|t| t.is_finite()), "{axis:?}");
        let axis = Axis::fit([1e16, 1e16 + 2.0].into_iter());
        assert!(axis.ticks.len() <= 41);
    }

    #[test]
    fn text_helpers() {
        assert_eq!(truncate("abcdefghij", 5), "abcd…");
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(escape("a<b & \"c\">"), "a&lt;b &amp; &quot;c&quot;&gt;");
        assert_eq!(clean("a\nb\t"), "a b ");
        assert_eq!(num(1.0), "1");
        assert_eq!(num(-0.001), "0");
        assert_eq!(num(2.50), "2.5");
    }

    fn degenerate_charts() -> Vec<LineChart> {
        let series = |name: &str, points: Vec<(f64, f64)>| Series { name: name.to_owned(), points };
        vec![
            LineChart {
                title: "loss".to_owned(),
                x_label: "epoch".to_owned(),
                y_label: "loss".to_owned(),
                series: vec![
                    series("train", vec![(1.0, 0.5), (2.0, f64::NAN), (3.0, 0.25), (4.0, 0.2)]),
                    series("single", vec![(2.0, 0.4)]),
                    series("empty", vec![]),
                    series("inf", vec![(f64::INFINITY, 1.0), (1.0, f64::NEG_INFINITY)]),
                ],
            },
            LineChart {
                title: "constant ünïcode <&>".to_owned(),
                x_label: String::new(),
                y_label: String::new(),
                series: vec![series("flat", vec![(1.0, 0.9), (2.0, 0.9)])],
            },
            LineChart::default(),
        ]
    }

    #[test]
    fn line_charts_png_and_svg() {
        let charts = degenerate_charts();
        let png_path = temp_path("charts.png");
        save_line_charts(&png_path, &charts).unwrap();
        let (w, h, pixels) = read_png(&png_path);
        assert_eq!(w, 3 * PANEL_W as u32);
        assert!(h > PLOT_H as u32);
        // The first series' color is drawn.
        let blue = PALETTE[0];
        assert!(pixels.chunks(3).any(|p| p == [blue.0, blue.1, blue.2]));
        std::fs::remove_file(&png_path).unwrap();

        let svg_path = temp_path("charts.SVG");
        save_line_charts(&svg_path, &charts).unwrap();
        let svg = std::fs::read_to_string(&svg_path).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("constant ünïcode &lt;&amp;&gt;"));
        assert!(svg.contains(">no data</text>"));
        // No non-finite coordinate ("inf" is also a series name here).
        assert!(!svg.contains("NaN") && !["inf,", "inf\"", "inf "].iter().any(|p| svg.contains(p)));
        std::fs::remove_file(&svg_path).unwrap();
    }

    #[test]
    fn unsupported_format_and_bad_input() {
        let msg = save_line_charts(Path::new("chart.jpg"), &degenerate_charts()).unwrap_err();
        assert!(msg.to_string().contains("unsupported plot format \".jpg\": use .png or .svg"));
        assert!(save_line_charts(Path::new("chart"), &[]).is_err());
        assert!(save_line_charts(&temp_path("none.png"), &[]).is_err());
        let path = temp_path("bad.png");
        assert!(save_confusion_matrix(&path, &[1, 2, 3], 2, &[], "t").is_err());
        assert!(save_confusion_matrix(&path, &[], 0, &[], "t").is_err());
        let names = vec!["a".to_owned()];
        assert!(save_confusion_matrix(&path, &[1, 2, 3, 4], 2, &names, "t").is_err());
        let huge = vec![u64::MAX; 100 * 100];
        let msg = save_confusion_matrix(&path, &huge, 100, &[], "t").unwrap_err().to_string();
        assert!(msg.contains("too large"), "{msg}");
        assert!(!path.exists());
    }

    #[test]
    fn confusion_matrix_png_and_svg() {
        let n = 4;
        let counts: Vec<u64> =
            (0..n * n).map(|k| if k % (n + 1) == 0 { 950 } else { k as u64 % 3 }).collect();
        let names: Vec<String> = ["zero", "a very long class name", "two", "<&>"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let png_path = temp_path("confusion.png");
        save_confusion_matrix(&png_path, &counts, n, &names, "confusion").unwrap();
        let (w, h, _) = read_png(&png_path);
        assert!(w > 4 * 44 && h > 4 * 44);
        std::fs::remove_file(&png_path).unwrap();
        let svg_path = temp_path("confusion.svg");
        save_confusion_matrix(&svg_path, &[0; 4], 2, &[], "all zero").unwrap();
        let svg = std::fs::read_to_string(&svg_path).unwrap();
        assert!(svg.contains(">all zero</text>") && svg.contains(">1</text>"));
        std::fs::remove_file(&svg_path).unwrap();
    }
}
