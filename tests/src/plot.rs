// SPDX-License-Identifier: MIT OR Apache-2.0
//! SVG charts of the benchmark results, drawn without a plotting library.
//!
//! `scripts/bench` measures the NUMA evaluation: page faults against the sharing degree, the
//! cost of a global unmap against the node count, and the fraction of remote accesses with one
//! address space against per-node spaces. The book (`docs/src/results.md`) shows those
//! results as pictures, and this module draws them as SVG, so the pictures come from the
//! same run as the numbers with no plotting dependency and no Python on the machine. Two shapes cover the evaluation:
//! [`line_chart`] (a metric against a numeric x, such as the node count) and [`bar_chart`]
//! (variants side by side in each configuration).
//!
//! # Design
//!
//! - One fixed 640 x 400 canvas, sans-serif text, and the Okabe-Ito palette, whose colours stay
//!   apart under the common colour-vision deficiencies; each line series also has its own
//!   marker shape, so a chart still reads in grey.
//! - Deterministic: the same input gives the same bytes (coordinates printed with at most two
//!   decimals, no hash maps, no timestamps), so a committed plot diffs cleanly when a result
//!   changes and only then.
//! - Validate, then draw: NaN, infinities, negative values and ragged bar groups are errors
//!   that name the series, never a silently broken picture.
//! - Every piece of caller text is XML-escaped; the output is a standalone SVG document.
//!
//! Text widths are estimated (0.6 em per character), not measured: long titles, legend names
//! or many bar categories can still crowd each other.

#![forbid(unsafe_code)]

use std::fmt::{self, Write as _};

/// Canvas width, in SVG user units (pixels at 100% zoom).
const WIDTH: f64 = 640.0;
/// Canvas height.
const HEIGHT: f64 = 400.0;

/// The plot area's left edge: room for the y label and the y tick labels.
const PLOT_LEFT: f64 = 72.0;
/// The plot area's right edge.
const PLOT_RIGHT: f64 = WIDTH - 24.0;
/// The plot area's bottom edge: room for the x tick labels and the x label below it.
const PLOT_BOTTOM: f64 = HEIGHT - 58.0;
/// The vertical centre of the first legend row, under the title.
const LEGEND_TOP: f64 = 44.0;
/// The height of one legend row.
const LEGEND_ROW: f64 = 18.0;
/// Space between the last legend row and the plot area (bar value labels live in it).
const LEGEND_GAP: f64 = 26.0;

const TITLE_SIZE: f64 = 16.0;
const LABEL_SIZE: f64 = 13.0;
const TICK_SIZE: f64 = 11.0;
const LEGEND_SIZE: f64 = 12.0;
const VALUE_SIZE: f64 = 11.0;
/// The smallest font a bar value label shrinks to when bars are narrow.
const MIN_VALUE_SIZE: f64 = 7.0;

const TEXT_COLOUR: &str = "#222222";
const AXIS_COLOUR: &str = "#444444";
const GRID_COLOUR: &str = "#e3e3e3";

/// Okabe & Ito's colour-blind safe palette, ordered so the first colours contrast most on
/// white (the yellow is last).
const PALETTE: [&str; 8] =
    ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442"];

/// A line chart's x axis gets one tick per data value when there are at most this many.
const MAX_DATA_TICKS: usize = 8;
/// About how many intervals a "nice" x axis has.
const X_INTERVALS: usize = 6;
/// About how many intervals the y axis has.
const Y_INTERVALS: usize = 5;
/// How far points at the ends of a data-valued x axis sit from the plot edges.
const DATA_AXIS_INSET: f64 = 16.0;

/// One line of a [`line_chart`]: a name for the legend and its `(x, y)` points.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The legend entry, e.g. `per-node spaces`.
    pub name: String,
    /// The points; drawn joined in order of x, whatever order they are given in.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// A series named `name` with `points`.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Series {
        Series { name: name.into(), points }
    }
}

/// The text around a chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chart<'a> {
    /// Centred above the chart.
    pub title: &'a str,
    /// Under the x axis.
    pub x_label: &'a str,
    /// Beside the y axis, rotated.
    pub y_label: &'a str,
}

/// Data a chart cannot draw.
#[derive(Debug, Clone, PartialEq)]
pub enum PlotError {
    /// No point to plot: no series or only empty ones, or a bar chart without categories or groups.
    NoData,
    /// A coordinate or value is NaN or infinite.
    NotFinite {
        /// The series (line chart) or group (bar chart) it is in.
        series: String,
        /// The point's index in the series, or the category's index in the group.
        index: usize,
    },
    /// A y value or bar is below zero: the y axis starts at 0.
    Negative {
        /// The series (line chart) or group (bar chart) it is in.
        series: String,
        /// The point's index in the series, or the category's index in the group.
        index: usize,
        /// The value.
        value: f64,
    },
    /// A bar group has not exactly one value per category.
    LengthMismatch {
        /// The group.
        group: String,
        /// The number of categories.
        expected: usize,
        /// The number of values the group has.
        got: usize,
    },
}

impl fmt::Display for PlotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlotError::NoData => write!(f, "nothing to plot: no data points"),
            PlotError::NotFinite { series, index } => {
                write!(f, "series `{series}`: value {index} is NaN or infinite")
            }
            PlotError::Negative { series, index, value } => {
                write!(f, "series `{series}`: value {index} is {value}, below the axis, which starts at 0")
            }
            PlotError::LengthMismatch { group, expected, got } => {
                write!(f, "group `{group}` has {got} values for {expected} categories")
            }
        }
    }
}

impl std::error::Error for PlotError {}

/// Draws a line chart: one polyline with markers per series, a legend, and axes with "nice"
/// ticks (1, 2 or 5 times a power of ten); y runs from 0.
///
/// The x axis is linear. When the series have at most eight distinct x values between them
/// (node counts `1, 2, 4`, sharing degrees `0, 25, 50, 100`) it is ticked at exactly those;
/// otherwise at nice numbers. Returns the SVG document.
///
/// # Errors
///
/// [`PlotError::NoData`] without any point, [`PlotError::NotFinite`] for NaN or an infinity,
/// [`PlotError::Negative`] for a y below zero.
pub fn line_chart(chart: &Chart<'_>, series: &[Series]) -> Result<String, PlotError> {
    for s in series {
        for (index, &(x, y)) in s.points.iter().enumerate() {
            if !x.is_finite() || !y.is_finite() {
                return Err(PlotError::NotFinite { series: s.name.clone(), index });
            }
            if y < 0.0 {
                return Err(PlotError::Negative { series: s.name.clone(), index, value: y });
            }
        }
    }
    let mut xs: Vec<f64> = series.iter().flat_map(|s| s.points.iter().map(|p| p.0)).collect();
    if xs.is_empty() {
        return Err(PlotError::NoData);
    }
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    let x_axis = if xs.len() <= MAX_DATA_TICKS {
        Axis::at_values(xs)
    } else {
        Axis::nice(xs[0], xs[xs.len() - 1], X_INTERVALS)
    };
    let y_max = series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).fold(0.0, f64::max);
    let y_axis = Axis::nice(0.0, y_max, Y_INTERVALS);

    let names: Vec<&str> = series.iter().map(|s| s.name.as_str()).collect();
    let legend = Legend::layout(&names);
    let frame = Frame::below(&legend);
    let mut svg = Svg::new(chart.title);
    legend.draw(&mut svg, &names, |svg, i, x, y| {
        let colour = PALETTE[i % PALETTE.len()];
        svg.line(x, y, x + Legend::SWATCH, y, colour, 2.0);
        marker(svg, i, x + Legend::SWATCH / 2.0, y, colour, "swatch");
    });
    draw_y_axis(&mut svg, &frame, &y_axis, chart.y_label);

    // x ticks; a label that would overlap the one before it is left out (1, 2, 4 next to 100).
    let mut last_right = f64::NEG_INFINITY;
    for &t in &x_axis.ticks {
        let x = x_axis.map(t, frame.left, frame.right);
        svg.line(x, frame.bottom, x, frame.bottom + 5.0, AXIS_COLOUR, 1.0);
        let label = format_number(t);
        let half = text_width(&label, TICK_SIZE) / 2.0;
        if x - half >= last_right + 4.0 {
            svg.text(x, frame.bottom + 18.0, TICK_SIZE, Anchor::Middle, &label);
            last_right = x + half;
        }
    }
    draw_frame_and_x_label(&mut svg, &frame, chart.x_label);

    for (i, s) in series.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let mut points = s.points.clone();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mapped: Vec<(f64, f64)> = points
            .iter()
            .map(|&(x, y)| (x_axis.map(x, frame.left, frame.right), y_axis.map(y, frame.bottom, frame.top)))
            .collect();
        if mapped.len() > 1 {
            let mut coords = String::new();
            for (k, (x, y)) in mapped.iter().enumerate() {
                let sep = if k == 0 { "" } else { " " };
                let _ = write!(coords, "{sep}{},{}", Px(*x), Px(*y));
            }
            svg.raw(format_args!(
                "<polyline points=\"{coords}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" \
                 stroke-linejoin=\"round\"/>\n"
            ));
        }
        for &(x, y) in &mapped {
            marker(&mut svg, i, x, y, colour, "point");
        }
    }
    Ok(svg.finish())
}

/// Draws a grouped bar chart: the categories along x (`1 node`, `2 nodes`), in each one bar
/// per group (`one space`, `per-node spaces`) with its value printed above it; y runs from 0.
///
/// `groups[g].1[c]` is group `g`'s value in category `categories[c]`. Returns the SVG document.
///
/// # Errors
///
/// [`PlotError::NoData`] without categories or groups, [`PlotError::LengthMismatch`] when a
/// group has not one value per category, [`PlotError::NotFinite`] for NaN or an infinity,
/// [`PlotError::Negative`] for a value below zero.
pub fn bar_chart(
    chart: &Chart<'_>,
    categories: &[String],
    groups: &[(String, Vec<f64>)],
) -> Result<String, PlotError> {
    if categories.is_empty() || groups.is_empty() {
        return Err(PlotError::NoData);
    }
    for (name, values) in groups {
        if values.len() != categories.len() {
            return Err(PlotError::LengthMismatch {
                group: name.clone(),
                expected: categories.len(),
                got: values.len(),
            });
        }
        for (index, &value) in values.iter().enumerate() {
            if !value.is_finite() {
                return Err(PlotError::NotFinite { series: name.clone(), index });
            }
            if value < 0.0 {
                return Err(PlotError::Negative { series: name.clone(), index, value });
            }
        }
    }
    let y_max = groups.iter().flat_map(|(_, values)| values.iter().copied()).fold(0.0, f64::max);
    let y_axis = Axis::nice(0.0, y_max, Y_INTERVALS);

    let names: Vec<&str> = groups.iter().map(|(name, _)| name.as_str()).collect();
    let legend = Legend::layout(&names);
    let frame = Frame::below(&legend);
    let mut svg = Svg::new(chart.title);
    legend.draw(&mut svg, &names, |svg, i, x, y| {
        let side = 12.0;
        let colour = PALETTE[i % PALETTE.len()];
        let left = x + (Legend::SWATCH - side) / 2.0;
        svg.raw(format_args!(
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{colour}\"/>\n",
            Px(left),
            Px(y - side / 2.0),
            Px(side),
            Px(side)
        ));
    });
    draw_y_axis(&mut svg, &frame, &y_axis, chart.y_label);

    // Each category gets an equal band; its bars fill the middle 80% of it, side by side.
    let band = (frame.right - frame.left) / categories.len() as f64;
    let slot = band * 0.8 / groups.len() as f64;
    let gap = (slot * 0.1).min(2.0);
    for (c, category) in categories.iter().enumerate() {
        let band_left = frame.left + c as f64 * band;
        svg.text(band_left + band / 2.0, frame.bottom + 18.0, TICK_SIZE, Anchor::Middle, category);
        for (g, (_, values)) in groups.iter().enumerate() {
            let value = values[c];
            let colour = PALETTE[g % PALETTE.len()];
            let x = band_left + band * 0.1 + g as f64 * slot + gap / 2.0;
            let width = slot - gap;
            let top = y_axis.map(value, frame.bottom, frame.top);
            svg.raw(format_args!(
                "<rect class=\"bar\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{colour}\"/>\n",
                Px(x),
                Px(top),
                Px(width),
                Px(frame.bottom - top)
            ));
            let label = format_number(value);
            let wide = text_width(&label, VALUE_SIZE);
            let size = if wide > slot { (VALUE_SIZE * slot / wide).max(MIN_VALUE_SIZE) } else { VALUE_SIZE };
            svg.text(x + width / 2.0, top - 4.0, size, Anchor::Middle, &label);
        }
    }
    draw_frame_and_x_label(&mut svg, &frame, chart.x_label);
    Ok(svg.finish())
}

/// A linear axis: the value range `lo..hi` (with `hi > lo`) and where to put ticks.
#[derive(Debug, Clone, PartialEq)]
struct Axis {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
    /// Pixels kept free at both ends, so markers at `lo` and `hi` do not sit on the frame.
    inset: f64,
}

impl Axis {
    /// Ticks at multiples of a nice step, from the last one at or below `lo` to the first at or
    /// above `hi`, about `intervals` of them.
    fn nice(lo: f64, hi: f64, intervals: usize) -> Axis {
        let hi = if hi > lo { hi } else { lo + 1.0 };
        let step = nice_step((hi - lo) / intervals as f64);
        let first = (lo / step).floor();
        let mut last = (hi / step).ceil();
        // Rounding in the division must not leave the top tick under the data.
        if last * step < hi {
            last += 1.0;
        }
        // The cap only guards against degenerate floating point: a nice step gives at most
        // 1.5 x intervals + 2 ticks.
        let ticks: Vec<f64> =
            (first as i64..=last as i64).take(4 * intervals + 2).map(|k| k as f64 * step).collect();
        Axis { lo: first * step, hi: last * step, ticks, inset: 0.0 }
    }

    /// Ticks at exactly `values` (sorted, distinct, not empty), spanning from the first to the
    /// last; a single value is centred.
    fn at_values(values: Vec<f64>) -> Axis {
        let (lo, hi) = match values[..] {
            [only] => {
                let pad = if only == 0.0 { 1.0 } else { only.abs() / 2.0 };
                (only - pad, only + pad)
            }
            _ => (values[0], values[values.len() - 1]),
        };
        Axis { lo, hi, ticks: values, inset: DATA_AXIS_INSET }
    }

    /// The pixel of `v` when `lo` is drawn at pixel `from` and `hi` at pixel `to` (less the inset).
    fn map(&self, v: f64, from: f64, to: f64) -> f64 {
        let dir = if to >= from { 1.0 } else { -1.0 };
        let (a, b) = (from + dir * self.inset, to - dir * self.inset);
        a + (v - self.lo) / (self.hi - self.lo) * (b - a)
    }
}

/// The 1, 2 or 5 times a power of ten nearest `raw` (> 0), so an axis gets about the number of
/// intervals asked for (between two thirds and one and a half times as many).
fn nice_step(raw: f64) -> f64 {
    let power = 10f64.powi(raw.log10().floor() as i32);
    let fraction = raw / power;
    let mantissa = if fraction < 1.5 {
        1.0
    } else if fraction < 3.0 {
        2.0
    } else if fraction < 7.0 {
        5.0
    } else {
        10.0
    };
    mantissa * power
}

/// A number as a short label: four significant digits at most, trailing zeros dropped, and
/// `k`, `M`, `G` from ten thousand up (`1200`, `0.25`, `120k`, `1.5M`).
fn format_number(v: f64) -> String {
    let v = round_significant(v, 4);
    if v == 0.0 {
        return "0".to_string();
    }
    let (scaled, suffix) = match v.abs() {
        a if a >= 1e9 => (v / 1e9, "G"),
        a if a >= 1e6 => (v / 1e6, "M"),
        a if a >= 1e4 => (v / 1e3, "k"),
        _ => (v, ""),
    };
    let integer_digits = scaled.abs().log10().floor() as i32 + 1;
    let decimals = (4 - integer_digits).clamp(0, 12) as usize;
    let text = format!("{scaled:.decimals$}");
    let text = if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.') } else { &text };
    format!("{text}{suffix}")
}

/// `v` rounded to `digits` significant digits, dividing or multiplying by an exact power of ten.
fn round_significant(v: f64, digits: i32) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let shift = digits - (v.abs().log10().floor() as i32 + 1);
    if shift >= 0 {
        let p = 10f64.powi(shift);
        (v * p).round() / p
    } else {
        let p = 10f64.powi(-shift);
        (v / p).round() * p
    }
}

/// `text` made safe for XML character data and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 forbids the other C0 controls and these two outright, even escaped.
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// The estimated width of `text` at `size`: sans-serif averages about 0.6 em a character.
fn text_width(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * size * 0.6
}

/// Where the legend entries go: rows under the title, wrapped at the plot's width.
struct Legend {
    /// Each entry's left edge and vertical centre.
    places: Vec<(f64, f64)>,
    rows: usize,
}

impl Legend {
    /// The width of an entry's swatch (a line with a marker, or a square).
    const SWATCH: f64 = 22.0;

    fn layout(names: &[&str]) -> Legend {
        let (mut x, mut row) = (PLOT_LEFT, 0);
        let mut places = Vec::with_capacity(names.len());
        for name in names {
            let width = Legend::SWATCH + 6.0 + text_width(name, LEGEND_SIZE);
            if x > PLOT_LEFT && x + width > PLOT_RIGHT {
                x = PLOT_LEFT;
                row += 1;
            }
            places.push((x, LEGEND_TOP + row as f64 * LEGEND_ROW));
            x += width + 18.0;
        }
        Legend { places, rows: row + 1 }
    }

    /// Draws each entry: `swatch(svg, index, left, centre)`, then the name beside it.
    fn draw(&self, svg: &mut Svg, names: &[&str], swatch: impl Fn(&mut Svg, usize, f64, f64)) {
        for (i, (&(x, y), name)) in self.places.iter().zip(names).enumerate() {
            swatch(svg, i, x, y);
            svg.text(x + Legend::SWATCH + 6.0, y + LEGEND_SIZE * 0.35, LEGEND_SIZE, Anchor::Start, name);
        }
    }
}

/// The plot area, in pixels (`top < bottom`).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Frame {
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
}

impl Frame {
    /// The plot area under the title and `legend`.
    fn below(legend: &Legend) -> Frame {
        let top = LEGEND_TOP + (legend.rows - 1) as f64 * LEGEND_ROW + LEGEND_GAP;
        Frame { left: PLOT_LEFT, right: PLOT_RIGHT, top, bottom: PLOT_BOTTOM }
    }
}

/// Horizontal grid lines and labels at the y ticks, and the rotated y label.
fn draw_y_axis(svg: &mut Svg, frame: &Frame, axis: &Axis, label: &str) {
    for &t in &axis.ticks {
        let y = axis.map(t, frame.bottom, frame.top);
        svg.line(frame.left, y, frame.right, y, GRID_COLOUR, 1.0);
        svg.text(frame.left - 8.0, y + TICK_SIZE * 0.35, TICK_SIZE, Anchor::End, &format_number(t));
    }
    let (x, y) = (16.0, (frame.top + frame.bottom) / 2.0);
    svg.raw(format_args!(
        "<text x=\"{x}\" y=\"{y}\" transform=\"rotate(-90 {x} {y})\" font-size=\"{}\" \
         text-anchor=\"middle\" fill=\"{TEXT_COLOUR}\">{}</text>\n",
        Px(LABEL_SIZE),
        escape(label),
        x = Px(x),
        y = Px(y),
    ));
}

/// The left and bottom axis lines, over the grid, and the x label under the tick labels.
fn draw_frame_and_x_label(svg: &mut Svg, frame: &Frame, label: &str) {
    svg.line(frame.left, frame.top, frame.left, frame.bottom, AXIS_COLOUR, 1.0);
    svg.line(frame.left, frame.bottom, frame.right, frame.bottom, AXIS_COLOUR, 1.0);
    svg.text((frame.left + frame.right) / 2.0, HEIGHT - 14.0, LABEL_SIZE, Anchor::Middle, label);
}

/// Series `index`'s marker centred on `(x, y)`: a circle, square, triangle or diamond, in turn.
/// `class` tells a data `point` from a legend `swatch`.
fn marker(svg: &mut Svg, index: usize, x: f64, y: f64, colour: &str, class: &str) {
    let style = format!("class=\"{class}\" fill=\"{colour}\" stroke=\"#ffffff\" stroke-width=\"1\"");
    match index % 4 {
        0 => svg.raw(format_args!("<circle cx=\"{}\" cy=\"{}\" r=\"4\" {style}/>\n", Px(x), Px(y))),
        1 => svg.raw(format_args!(
            "<rect x=\"{}\" y=\"{}\" width=\"8\" height=\"8\" {style}/>\n",
            Px(x - 4.0),
            Px(y - 4.0)
        )),
        2 => svg.raw(format_args!(
            "<polygon points=\"{},{} {},{} {},{}\" {style}/>\n",
            Px(x),
            Px(y - 5.0),
            Px(x + 4.5),
            Px(y + 3.5),
            Px(x - 4.5),
            Px(y + 3.5)
        )),
        _ => svg.raw(format_args!(
            "<polygon points=\"{},{} {},{} {},{} {},{}\" {style}/>\n",
            Px(x),
            Px(y - 5.0),
            Px(x + 5.0),
            Px(y),
            Px(x),
            Px(y + 5.0),
            Px(x - 5.0),
            Px(y)
        )),
    }
}

/// A coordinate, printed with at most two decimals and no trailing zeros, for byte-stable output.
struct Px(f64);

impl fmt::Display for Px {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = format!("{:.2}", self.0);
        let text = text.trim_end_matches('0').trim_end_matches('.');
        f.write_str(if text == "-0" { "0" } else { text })
    }
}

/// Where a text's `x` is: its start, middle or end.
#[derive(Debug, Clone, Copy)]
enum Anchor {
    Start,
    Middle,
    End,
}

/// The SVG document being written, one element a line.
struct Svg {
    out: String,
}

impl Svg {
    /// The document's opening: the canvas, an accessible `<title>`, a white background (so the
    /// chart reads on a dark page too) and the visible title.
    fn new(title: &str) -> Svg {
        let mut svg = Svg { out: String::new() };
        let (w, h) = (Px(WIDTH), Px(HEIGHT));
        svg.raw(format_args!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
             viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\">\n"
        ));
        svg.raw(format_args!("<title>{}</title>\n", escape(title)));
        svg.raw(format_args!("<rect width=\"{w}\" height=\"{h}\" fill=\"#ffffff\"/>\n"));
        svg.raw(format_args!(
            "<text x=\"{}\" y=\"26\" font-size=\"{}\" font-weight=\"bold\" text-anchor=\"middle\" \
             fill=\"{TEXT_COLOUR}\">{}</text>\n",
            Px(WIDTH / 2.0),
            Px(TITLE_SIZE),
            escape(title)
        ));
        svg
    }

    /// Appends markup as is: the caller has escaped any text in it.
    fn raw(&mut self, markup: fmt::Arguments<'_>) {
        // Writing into a String cannot fail.
        let _ = self.out.write_fmt(markup);
    }

    fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, colour: &str, width: f64) {
        self.raw(format_args!(
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{colour}\" stroke-width=\"{}\"/>\n",
            Px(x1),
            Px(y1),
            Px(x2),
            Px(y2),
            Px(width)
        ));
    }

    /// `content` (escaped here) with its baseline at `y`.
    fn text(&mut self, x: f64, y: f64, size: f64, anchor: Anchor, content: &str) {
        let anchor = match anchor {
            Anchor::Start => "start",
            Anchor::Middle => "middle",
            Anchor::End => "end",
        };
        self.raw(format_args!(
            "<text x=\"{}\" y=\"{}\" font-size=\"{}\" text-anchor=\"{anchor}\" fill=\"{TEXT_COLOUR}\">{}</text>\n",
            Px(x),
            Px(y),
            Px(size),
            escape(content)
        ));
    }

    fn finish(mut self) -> String {
        self.out.push_str("</svg>\n");
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHART: Chart<'static> =
        Chart { title: "Global unmap", x_label: "NUMA nodes", y_label: "instructions per page" };

    fn unmap_series() -> Vec<Series> {
        vec![
            Series::new("one space", vec![(1.0, 1200.0), (2.0, 2500.0), (4.0, 5200.0)]),
            Series::new("per-node spaces", vec![(1.0, 1300.0), (2.0, 2900.0), (4.0, 6100.0)]),
        ]
    }

    fn remote_bars() -> (Vec<String>, Vec<(String, Vec<f64>)>) {
        let categories = vec!["1 node".to_string(), "2 nodes".to_string(), "4 nodes".to_string()];
        let groups = vec![
            ("one space".to_string(), vec![0.0, 0.5, 0.75]),
            ("per-node spaces".to_string(), vec![0.0, 0.25, 0.125]),
        ];
        (categories, groups)
    }

    /// Panics unless `svg` is one well-formed XML element: every tag closed in order, attribute
    /// quotes balanced, `<` and `>` only as markup, `&` only in the five named entities.
    fn assert_well_formed(svg: &str) {
        fn check_text(text: &str) {
            assert!(!text.contains('>'), "raw `>` in text {text:?}");
            for (i, _) in text.match_indices('&') {
                let entity = ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"];
                assert!(entity.iter().any(|e| text[i..].starts_with(e)), "bare `&` in {text:?}");
            }
        }
        let mut open: Vec<&str> = Vec::new();
        let mut roots = 0;
        let mut rest = svg;
        while let Some(start) = rest.find('<') {
            check_text(&rest[..start]);
            if open.is_empty() {
                assert!(rest[..start].trim().is_empty(), "text outside the root: {:?}", &rest[..start]);
            }
            let end = start + rest[start..].find('>').expect("a tag is never closed");
            let tag = &rest[start + 1..end];
            assert!(!tag.contains('<'), "`<` inside tag {tag:?}");
            assert_eq!(tag.matches('"').count() % 2, 0, "unbalanced quotes in {tag:?}");
            check_text(&tag.replace('>', ""));
            if let Some(name) = tag.strip_prefix('/') {
                let opened = open.pop().unwrap_or_else(|| panic!("</{name}> closes nothing"));
                assert_eq!(opened, name.trim(), "</{name}> closes <{opened}>");
            } else {
                let name = tag.trim_end_matches('/').split_whitespace().next().expect("empty tag");
                if open.is_empty() {
                    roots += 1;
                }
                if !tag.ends_with('/') {
                    open.push(name);
                }
            }
            rest = &rest[end + 1..];
        }
        assert!(rest.trim().is_empty(), "text after the root: {rest:?}");
        assert!(open.is_empty(), "never closed: {open:?}");
        assert_eq!(roots, 1, "one root element");
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    }

    /// The tags in `svg` that start with `prefix` (e.g. `<circle`).
    fn tags<'a>(svg: &'a str, prefix: &str) -> Vec<&'a str> {
        svg.lines().filter(|l| l.starts_with(prefix)).collect()
    }

    /// The number in attribute `name` of `tag`.
    fn attr(tag: &str, name: &str) -> f64 {
        let key = format!(" {name}=\"");
        let start = tag.find(&key).unwrap_or_else(|| panic!("no {name} in {tag}")) + key.len();
        let end = start + tag[start..].find('"').unwrap();
        tag[start..end].parse().unwrap_or_else(|_| panic!("{name} in {tag} is not a number"))
    }

    /// The contents of every `<text>` element.
    fn texts(svg: &str) -> Vec<&str> {
        tags(svg, "<text").into_iter().map(content).collect()
    }

    /// What is between a one-line element's start and end tags.
    fn content(element: &str) -> &str {
        &element[element.find('>').unwrap() + 1..element.rfind("</").unwrap()]
    }

    #[test]
    fn line_chart_is_well_formed_and_shows_title_labels_and_legend() {
        let svg = line_chart(&CHART, &unmap_series()).unwrap();
        assert_well_formed(&svg);
        let texts = texts(&svg);
        for expected in
            ["Global unmap", "NUMA nodes", "instructions per page", "one space", "per-node spaces"]
        {
            assert!(texts.contains(&expected), "{expected} missing from {texts:?}");
        }
        assert!(svg.contains("<title>Global unmap</title>"));
        assert!(svg.contains("viewBox=\"0 0 640 400\"") && svg.contains("font-family=\"sans-serif\""));
        assert_eq!(tags(&svg, "<polyline").len(), 2);
    }

    #[test]
    fn bar_chart_is_well_formed_with_a_value_above_every_bar() {
        let (categories, groups) = remote_bars();
        let chart = Chart { title: "Remote accesses", x_label: "machine", y_label: "fraction remote" };
        let svg = bar_chart(&chart, &categories, &groups).unwrap();
        assert_well_formed(&svg);
        let texts = texts(&svg);
        for expected in
            ["Remote accesses", "machine", "fraction remote", "1 node", "4 nodes", "per-node spaces"]
        {
            assert!(texts.contains(&expected), "{expected} missing from {texts:?}");
        }
        for value in ["0.5", "0.75", "0.25", "0.125"] {
            assert!(texts.contains(&value), "value label {value} missing from {texts:?}");
        }
        assert_eq!(tags(&svg, "<rect class=\"bar\"").len(), 6);
    }

    #[test]
    fn text_is_escaped_everywhere() {
        let nasty = "a<b & \"c\" 'd'>";
        let escaped = "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;";
        let chart = Chart { title: nasty, x_label: nasty, y_label: nasty };
        let line = line_chart(&chart, &[Series::new(nasty, vec![(1.0, 2.0)])]).unwrap();
        let bars = bar_chart(&chart, &[nasty.to_string()], &[(nasty.to_string(), vec![1.0])]).unwrap();
        for svg in [&line, &bars] {
            assert_well_formed(svg);
            assert!(!svg.contains("a<b"));
            // title element, title, x label, y label, legend, (bars) category.
            assert!(svg.matches(escaped).count() >= 5, "{svg}");
        }
        assert_eq!(bars.matches(escaped).count(), 6);
        assert_eq!(escape("bell\u{7}tab\t"), "bell\u{FFFD}tab\t");
    }

    #[test]
    fn y_ticks_are_nice_and_cover_the_largest_value() {
        for max in [0.0, 0.003, 0.3, 0.7, 1.0, 1.1, 7.0, 99.0, 100.0, 101.0, 1234.0, 5200.0, 123_456.0, 9.9e9]
        {
            let axis = Axis::nice(0.0, max, Y_INTERVALS);
            let t = &axis.ticks;
            assert_eq!(t[0], 0.0, "y starts at 0 for max {max}");
            assert!(*t.last().unwrap() >= max, "ticks {t:?} do not reach {max}");
            assert!((4..=Y_INTERVALS * 3 / 2 + 2).contains(&t.len()), "{} ticks for {max}: {t:?}", t.len());
            let step = t[1] - t[0];
            let mantissa = step / 10f64.powi(step.log10().floor() as i32);
            assert!(
                [1.0, 2.0, 5.0, 10.0].iter().any(|m| (mantissa - m).abs() < 1e-9),
                "step {step} for {max} is not 1, 2 or 5 x 10^k"
            );
            for (k, tick) in t.iter().enumerate() {
                assert!((tick - k as f64 * step).abs() <= step * 1e-9, "{t:?} not evenly spaced");
            }
        }
        let labels: Vec<String> =
            Axis::nice(0.0, 5200.0, Y_INTERVALS).ticks.iter().map(|&t| format_number(t)).collect();
        assert_eq!(labels, ["0", "1000", "2000", "3000", "4000", "5000", "6000"]);
    }

    #[test]
    fn numbers_are_labelled_compactly() {
        let cases = [
            (0.0, "0"),
            (-0.0, "0"),
            (1200.0, "1200"),
            (0.25, "0.25"),
            (0.1 + 0.2, "0.3"),
            (0.0025, "0.0025"),
            (120_000.0, "120k"),
            (12_500.0, "12.5k"),
            (9999.7, "10k"),
            (999_999.0, "1M"),
            (1_500_000.0, "1.5M"),
            (2e9, "2G"),
            (152_345.0, "152.3k"),
            (3.0, "3"),
            (-40.0, "-40"),
        ];
        for (value, text) in cases {
            assert_eq!(format_number(value), text, "for {value}");
        }
    }

    #[test]
    fn points_map_inside_the_plot_and_larger_values_map_higher() {
        let series = [Series::new("faults", vec![(0.0, 10.0), (25.0, 50.0), (50.0, 30.0), (100.0, 0.0)])];
        let svg = line_chart(&CHART, &series).unwrap();
        let frame = Frame::below(&Legend::layout(&["faults"]));
        let points: Vec<&str> =
            tags(&svg, "<circle").into_iter().filter(|c| c.contains("class=\"point\"")).collect();
        let ys: Vec<f64> = points.iter().map(|c| attr(c, "cy")).collect();
        let xs: Vec<f64> = points.iter().map(|c| attr(c, "cx")).collect();
        assert_eq!(ys.len(), 4);
        for (&x, &y) in xs.iter().zip(&ys) {
            assert!((frame.top..=frame.bottom).contains(&y), "y {y} outside {frame:?}");
            assert!((frame.left..=frame.right).contains(&x), "x {x} outside {frame:?}");
        }
        // SVG's y grows downwards: 50 above 30 above 10 above 0, which sits on the x axis.
        assert!(ys[1] < ys[2] && ys[2] < ys[0] && ys[0] < ys[3]);
        assert_eq!(ys[3], frame.bottom);
        // x is linear: 25 is halfway between 0 and 50, and 50 halfway between 0 and 100.
        assert!((xs[1] - (xs[0] + xs[2]) / 2.0).abs() < 0.02 && (xs[2] - (xs[0] + xs[3]) / 2.0).abs() < 0.02);
    }

    /// The labels under the x axis (tick labels or bar categories), left to right.
    fn x_tick_labels(svg: &str) -> Vec<&str> {
        tags(svg, "<text").into_iter().filter(|t| attr(t, "y") == PLOT_BOTTOM + 18.0).map(content).collect()
    }

    #[test]
    fn few_x_values_are_the_ticks_and_many_get_nice_ticks() {
        let svg = line_chart(&CHART, &unmap_series()).unwrap();
        assert_eq!(x_tick_labels(&svg), ["1", "2", "4"]);

        let many: Vec<(f64, f64)> = (0..20).map(|i| (i as f64 * 7.0, i as f64)).collect();
        let svg = line_chart(&CHART, &[Series::new("many", many)]).unwrap();
        assert_eq!(x_tick_labels(&svg), ["0", "20", "40", "60", "80", "100", "120", "140"]);
    }

    #[test]
    fn crowded_x_labels_are_thinned_but_every_tick_is_marked() {
        let series = [Series::new("s", vec![(1.0, 1.0), (2.0, 2.0), (4.0, 3.0), (100.0, 4.0)])];
        let svg = line_chart(&CHART, &series).unwrap();
        assert_eq!(x_tick_labels(&svg), ["1", "4", "100"]);
        let tick_marks = tags(&svg, "<line")
            .into_iter()
            .filter(|l| attr(l, "y1") == PLOT_BOTTOM && attr(l, "y2") == PLOT_BOTTOM + 5.0);
        assert_eq!(tick_marks.count(), 4);
    }

    #[test]
    fn bars_are_proportional_to_their_values() {
        let categories = vec!["a".to_string(), "b".to_string()];
        let groups = vec![("x".to_string(), vec![10.0, 20.0]), ("y".to_string(), vec![5.0, 0.0])];
        let svg = bar_chart(&CHART, &categories, &groups).unwrap();
        let bars = tags(&svg, "<rect class=\"bar\"");
        let heights: Vec<f64> = bars.iter().map(|b| attr(b, "height")).collect();
        // Order: category a (x, y), then category b (x, y).
        assert!((heights[2] / heights[0] - 2.0).abs() < 1e-3, "{heights:?}");
        assert!((heights[0] / heights[1] - 2.0).abs() < 1e-3, "{heights:?}");
        assert_eq!(heights[3], 0.0);
        // Every bar stands on the same baseline.
        let bottoms: Vec<f64> = bars.iter().map(|b| attr(b, "y") + attr(b, "height")).collect();
        assert!(bottoms.iter().all(|b| (b - bottoms[0]).abs() < 0.02), "{bottoms:?}");
    }

    #[test]
    fn each_series_gets_its_own_colour() {
        let series: Vec<Series> =
            (0..6).map(|i| Series::new(format!("s{i}"), vec![(0.0, i as f64)])).collect();
        let svg = line_chart(&CHART, &series).unwrap();
        for colour in &PALETTE[..6] {
            assert!(svg.contains(colour), "{colour} unused");
        }
        let distinct: std::collections::BTreeSet<&str> = PALETTE.iter().copied().collect();
        assert_eq!(distinct.len(), PALETTE.len());
    }

    #[test]
    fn bad_data_is_refused_with_the_series_named() {
        let (categories, groups) = remote_bars();
        assert_eq!(line_chart(&CHART, &[]), Err(PlotError::NoData));
        assert_eq!(line_chart(&CHART, &[Series::new("empty", vec![])]), Err(PlotError::NoData));
        assert_eq!(bar_chart(&CHART, &[], &groups), Err(PlotError::NoData));
        assert_eq!(bar_chart(&CHART, &categories, &[]), Err(PlotError::NoData));

        let nan =
            [Series::new("ok", vec![(1.0, 1.0)]), Series::new("broken", vec![(1.0, 1.0), (2.0, f64::NAN)])];
        assert_eq!(line_chart(&CHART, &nan), Err(PlotError::NotFinite { series: "broken".into(), index: 1 }));
        let inf = [Series::new("far", vec![(f64::INFINITY, 1.0)])];
        assert_eq!(line_chart(&CHART, &inf), Err(PlotError::NotFinite { series: "far".into(), index: 0 }));
        let below = [Series::new("down", vec![(1.0, -2.0)])];
        assert_eq!(
            line_chart(&CHART, &below),
            Err(PlotError::Negative { series: "down".into(), index: 0, value: -2.0 })
        );

        let short = vec![groups[0].clone(), ("short".to_string(), vec![1.0])];
        let err = bar_chart(&CHART, &categories, &short).unwrap_err();
        assert_eq!(err, PlotError::LengthMismatch { group: "short".into(), expected: 3, got: 1 });
        assert_eq!(err.to_string(), "group `short` has 1 values for 3 categories");

        let negative = vec![("minus".to_string(), vec![1.0, -0.5, 2.0])];
        let err = bar_chart(&CHART, &categories, &negative).unwrap_err();
        assert_eq!(err, PlotError::Negative { series: "minus".into(), index: 1, value: -0.5 });
        assert!(err.to_string().contains("`minus`"));
        let infinite = vec![("huge".to_string(), vec![1.0, 2.0, f64::INFINITY])];
        let err = bar_chart(&CHART, &categories, &infinite).unwrap_err();
        assert_eq!(err, PlotError::NotFinite { series: "huge".into(), index: 2 });
        assert_eq!(err.to_string(), "series `huge`: value 2 is NaN or infinite");
    }

    #[test]
    fn the_same_input_gives_byte_identical_output() {
        let (categories, groups) = remote_bars();
        assert_eq!(line_chart(&CHART, &unmap_series()), line_chart(&CHART, &unmap_series()));
        assert_eq!(bar_chart(&CHART, &categories, &groups), bar_chart(&CHART, &categories, &groups.clone()));
        // Point order within a series does not change the picture.
        let mut shuffled = unmap_series();
        shuffled[0].points.reverse();
        assert_eq!(line_chart(&CHART, &shuffled), line_chart(&CHART, &unmap_series()));
    }

    #[test]
    fn all_zero_and_single_point_data_still_draw() {
        let svg = line_chart(&CHART, &[Series::new("flat", vec![(3.0, 0.0)])]).unwrap();
        assert_well_formed(&svg);
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
        let svg = bar_chart(&CHART, &["only".to_string()], &[("zero".to_string(), vec![0.0])]).unwrap();
        assert_well_formed(&svg);
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }

    /// Writes example charts to the temporary directory for a look in a viewer:
    /// `cargo test -p harness plot::tests::write_examples -- --ignored`.
    #[test]
    #[ignore = "writes files for a person to look at"]
    fn write_examples() {
        let faults = [
            Series::new("one space", vec![(0.0, 120.0), (25.0, 900.0), (50.0, 1700.0), (100.0, 3300.0)]),
            Series::new(
                "per-node spaces",
                vec![(0.0, 130.0), (25.0, 1400.0), (50.0, 2600.0), (100.0, 5100.0)],
            ),
        ];
        let chart = Chart {
            title: "Page faults vs sharing degree",
            x_label: "pages shared (%)",
            y_label: "page faults",
        };
        let dir = std::env::temp_dir();
        std::fs::write(dir.join("plot-example-line.svg"), line_chart(&chart, &faults).unwrap()).unwrap();
        let (categories, groups) = remote_bars();
        let chart = Chart {
            title: "Remote access fraction: one space vs per-node spaces",
            x_label: "machine",
            y_label: "fraction of accesses remote",
        };
        std::fs::write(dir.join("plot-example-bar.svg"), bar_chart(&chart, &categories, &groups).unwrap())
            .unwrap();
    }
}
