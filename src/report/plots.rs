//! The page's plots as inline SVG, drawn with plotters' SVG backend. Text is written
//! as SVG `<text>` and sized by plotters' built-in estimate, so drawing needs no
//! font files and the browser renders labels in its own sans-serif.

use super::compare::{MetricTable, NATIVE};
use super::document::{FairnessSeries, ShapeSeries};
use super::glance::Forest;
use super::stats::Verdict;
use crate::error::{Error, Result};
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Size of a metric's bar chart, beside its table.
const BARS: (u32, u32) = (400, 250);
/// Size of an SM-share-over-time chart; two sit side by side.
const SHARE: (u32, u32) = (570, 320);
const FONT: &str = "sans-serif";
/// Width of a forest plot (two sit side by side) and the height of each of its rows.
const FOREST_WIDTH: u32 = 600;
const FOREST_ROW: u32 = 14;
/// A series with fewer windows than this is drawn as points with their values: a
/// line through two or three points suggests a trend they cannot show.
pub const MIN_LINE_WINDOWS: usize = 5;

/// A significant cost in red, a significant gain in green, the rest grey and hollow.
const COST: RGBColor = RGBColor(185, 28, 28);
const GAIN: RGBColor = RGBColor(21, 128, 61);
const UNDECIDED: RGBColor = RGBColor(107, 114, 128);

/// Native in grey, the others in colours distinct on screen and in print, and none
/// of them the red or green the page reserves for verdicts.
const NATIVE_COLOR: RGBColor = RGBColor(107, 114, 128);
const PALETTE: [RGBColor; 7] = [
    RGBColor(37, 99, 235),
    RGBColor(234, 88, 12),
    RGBColor(147, 51, 234),
    RGBColor(8, 145, 178),
    RGBColor(202, 138, 4),
    RGBColor(219, 39, 119),
    RGBColor(71, 85, 105),
];

/// The colour of a configuration, by its position among the configurations that
/// are not native, so every plot of a report colours a configuration alike.
pub fn color(config: &str, configs: &[String]) -> RGBColor {
    if config == NATIVE {
        return NATIVE_COLOR;
    }
    let index = configs
        .iter()
        .filter(|name| name.as_str() != NATIVE)
        .position(|name| name == config)
        .unwrap_or(0);
    PALETTE[index % PALETTE.len()]
}

/// One bar: a value and its confidence interval, coloured by its configuration.
struct Bar<'a> {
    label: &'a str,
    config: &'a str,
    value: f64,
    low: f64,
    high: f64,
}

/// Mean per configuration with Criterion's 95 % interval of the mean.
pub fn mean_bars(table: &MetricTable, configs: &[String]) -> Result<String> {
    let bars: Vec<Bar> = table
        .rows
        .iter()
        .filter_map(|row| {
            let m = row.measured.as_ref()?;
            Some(Bar {
                label: &row.config,
                config: &row.config,
                value: m.mean,
                low: m.mean_ci_low,
                high: m.mean_ci_high,
            })
        })
        .collect();
    let top = bars.iter().map(|b| b.high.max(b.value)).fold(0.0, f64::max) * 1.12;
    let caption = format!("mean ({}), 95 % CI", table.unit);
    draw_bars(&bars, configs, top, &caption)
}

/// Throughput as a share of the device's peak, where the metric states one.
pub fn peak_bars(table: &MetricTable, configs: &[String]) -> Option<Result<String>> {
    let bars: Vec<Bar> = table
        .rows
        .iter()
        .filter_map(|row| {
            let percent = row.measured.as_ref()?.peak_fraction? * 100.0;
            Some(Bar {
                label: &row.config,
                config: &row.config,
                value: percent,
                low: percent,
                high: percent,
            })
        })
        .collect();
    (!bars.is_empty()).then(|| draw_bars(&bars, configs, 100.0, "% of peak"))
}

/// Each tenant's throughput beside the others, as % of one native tenant alone.
pub fn fairness_bars(series: &FairnessSeries, configs: &[String]) -> Result<String> {
    let labels: Vec<String> = series
        .tenants
        .iter()
        .map(|t| format!("{} {}", t.tenant, t.config))
        .collect();
    let bars: Vec<Bar> = series
        .tenants
        .iter()
        .zip(&labels)
        .map(|(t, label)| Bar {
            label,
            config: &t.config,
            value: t.share * 100.0,
            low: t.share * 100.0,
            high: t.share * 100.0,
        })
        .collect();
    let top = bars.iter().map(|b| b.value).fold(0.0, f64::max).max(10.0) * 1.15;
    let caption = match series.jain_index {
        Some(jain) => format!("{}: % of native alone (Jain {jain:.3})", series.scenario),
        None => format!("{}: % of native alone", series.scenario),
    };
    draw_bars(&bars, configs, top, &caption)
}

fn draw_bars(bars: &[Bar], configs: &[String], top: f64, caption: &str) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, BARS).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let top = if top > 0.0 { top } else { 1.0 };
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .caption(caption, (FONT, 15))
            .x_label_area_size(28)
            .y_label_area_size(58)
            .build_cartesian_2d((0..bars.len().max(1) - 1).into_segmented(), 0.0..top)
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE)
            .bold_line_style(RGBColor(229, 231, 235))
            .x_labels(bars.len())
            .x_label_formatter(&|x| match x {
                SegmentValue::CenterOf(i) => bars
                    .get(*i)
                    .map_or_else(String::new, |b| b.label.to_owned()),
                _ => String::new(),
            })
            .y_labels(6)
            .y_label_formatter(&|v| tick(*v))
            .label_style((FONT, 13))
            .draw()
            .map_err(plot_error)?;
        let width = BARS.0 / (bars.len() as u32).max(1);
        let inset = width / 5;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, bar)| {
                let mut rect = Rectangle::new(
                    [
                        (SegmentValue::Exact(i), 0.0),
                        (SegmentValue::Exact(i + 1), bar.value),
                    ],
                    color(bar.config, configs).filled(),
                );
                rect.set_margin(0, 0, inset, inset);
                rect
            }))
            .map_err(plot_error)?;
        chart
            .draw_series(
                bars.iter()
                    .enumerate()
                    .filter(|(_, bar)| bar.high > bar.low)
                    .map(|(i, bar)| {
                        ErrorBar::new_vertical(
                            SegmentValue::CenterOf(i),
                            bar.low,
                            bar.value,
                            bar.high,
                            BLACK.stroke_width(1),
                            10,
                        )
                    }),
            )
            .map_err(plot_error)?;
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

/// Per-window SM share of one kernel shape under every configuration, each with its
/// configured limit as a dashed line of the same colour; a series of fewer than
/// [`MIN_LINE_WINDOWS`] windows as points labelled with their values. The legend is the page's,
/// shared by the shapes, so that it never hides a line.
pub fn sm_share(shape: &ShapeSeries, configs: &[String]) -> Result<String> {
    let longest = shape
        .series
        .iter()
        .map(|s| s.windows.len())
        .max()
        .unwrap_or(0);
    let end = (longest as f64 * shape.window_secs).max(shape.window_secs);
    let highest = shape
        .series
        .iter()
        .flat_map(|s| &s.windows)
        .fold(1.0_f64, |a, &b| a.max(b));
    let top = (highest * 100.0 * 1.08).ceil();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SHARE).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .caption(
                format!(
                    "{}: delivered SM share per {} s window",
                    shape.shape, shape.window_secs
                ),
                (FONT, 15),
            )
            .x_label_area_size(36)
            .y_label_area_size(52)
            .build_cartesian_2d(0.0..end, 0.0..top)
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .light_line_style(WHITE)
            .bold_line_style(RGBColor(229, 231, 235))
            .x_desc("time (s)")
            .y_desc("% of native")
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 13))
            .draw()
            .map_err(plot_error)?;
        let count = shape.series.len() as f64;
        for (k, series) in shape.series.iter().enumerate() {
            let colour = color(&series.config, configs);
            let line = series.windows.len() >= MIN_LINE_WINDOWS;
            // A line's points at the windows' middles; labelled points side by side
            // within their window, so that close values keep apart.
            let within = if line {
                0.5
            } else {
                (k as f64 + 1.0) / (count + 1.0)
            };
            let points: Vec<(f64, f64)> = series
                .windows
                .iter()
                .enumerate()
                .map(|(i, share)| ((i as f64 + within) * shape.window_secs, share * 100.0))
                .collect();
            if line {
                chart
                    .draw_series(LineSeries::new(
                        points.iter().copied(),
                        colour.stroke_width(2),
                    ))
                    .map_err(plot_error)?;
                chart
                    .draw_series(points.iter().map(|&p| Circle::new(p, 3, colour.filled())))
                    .map_err(plot_error)?;
            } else {
                let label = TextStyle::from((FONT, 12).into_font())
                    .color(&colour)
                    .pos(Pos::new(HPos::Center, VPos::Bottom));
                chart
                    .draw_series(points.iter().map(|&p| {
                        EmptyElement::at(p)
                            + Circle::new((0, 0), 4, colour.filled())
                            + Text::new(format!("{:.1}", p.1), (0, -6), label.clone())
                    }))
                    .map_err(plot_error)?;
            }
            if let Some(limit) = series.limit_pct {
                let y = f64::from(limit);
                chart
                    .draw_series(DashedLineSeries::new(
                        [(0.0, y), (end, y)],
                        6,
                        4,
                        colour.stroke_width(1),
                    ))
                    .map_err(plot_error)?;
            }
        }
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

/// Every metric variant's change against native for one configuration, as the
/// ratio of the means on one log-scale axis, with its 95 % interval: one circle per
/// variant, filled where the change is significant, the largest at the top.
/// `None` where the configuration has no change against native.
pub fn forest(forest: &Forest) -> Option<Result<String>> {
    (!forest.rows.is_empty()).then(|| draw_forest(forest))
}

fn draw_forest(forest: &Forest) -> Result<String> {
    // Ratios outside what a page can show are drawn at its edge.
    let (floor, ceiling) = (1e-3, 1e3);
    let ratio = |change: f64| (1.0 + change).clamp(floor, ceiling);
    let rows = &forest.rows;
    let (low, high) = rows.iter().fold((1.0_f64, 1.0_f64), |(lo, hi), row| {
        (lo.min(ratio(row.ci_low)), hi.max(ratio(row.ci_high)))
    });
    let (low, high) = ((low / 1.25).max(floor), (high * 1.25).min(ceiling));
    let n = rows.len();
    let size = (FOREST_WIDTH, 70 + FOREST_ROW * n as u32);
    // Row i from the top: the segment counted from the bottom.
    let row_at = |y: usize| rows.get(n - 1 - y);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .caption(
                format!("{} / native, 95 % interval (log scale)", forest.config),
                (FONT, 15),
            )
            .x_label_area_size(24)
            .y_label_area_size(190)
            .build_cartesian_2d((low..high).log_scale(), (0..n - 1).into_segmented())
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(WHITE)
            .bold_line_style(RGBColor(229, 231, 235))
            .x_labels(40)
            .x_label_formatter(&|v| ratio_tick(*v))
            .y_labels(n)
            .y_label_formatter(&|y| match y {
                SegmentValue::CenterOf(y) => {
                    row_at(*y).map_or_else(String::new, |r| format!("{} {}", r.id, r.variant))
                }
                _ => String::new(),
            })
            .label_style((FONT, 11))
            .draw()
            .map_err(plot_error)?;
        let top = SegmentValue::Last;
        chart
            .draw_series(DashedLineSeries::new(
                [(1.0, SegmentValue::Exact(0)), (1.0, top)],
                4,
                3,
                BLACK.stroke_width(1),
            ))
            .map_err(plot_error)?;
        let colour = |verdict: Verdict| match verdict {
            Verdict::Regressed => COST,
            Verdict::Improved => GAIN,
            Verdict::NoChange | Verdict::WithinNoise | Verdict::NotTested => UNDECIDED,
        };
        // The interval as a plain line: plotters' error bar would add a circle of its
        // own, and a variant has one mark.
        chart
            .draw_series((0..n).filter_map(|y| {
                let row = row_at(y)?;
                let y = SegmentValue::CenterOf(y);
                Some(PathElement::new(
                    [(ratio(row.ci_low), y.clone()), (ratio(row.ci_high), y)],
                    colour(row.verdict).stroke_width(1),
                ))
            }))
            .map_err(plot_error)?;
        chart
            .draw_series((0..n).filter_map(|y| {
                let row = row_at(y)?;
                let c = colour(row.verdict);
                let style = if row.is_significant() {
                    c.filled()
                } else {
                    c.stroke_width(1)
                };
                Some(Circle::new(
                    (ratio(row.change_mean), SegmentValue::CenterOf(y)),
                    4,
                    style,
                ))
            }))
            .map_err(plot_error)?;
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

/// A log axis's tick as a ratio, only at 1, 2 and 5 of each power of ten ("0.5×",
/// "1×", "20×"), so the light grid lines between stay unlabelled.
fn ratio_tick(value: f64) -> String {
    let mantissa = value / 10f64.powf(value.log10().floor());
    let labelled = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .any(|m| (mantissa - m).abs() < 1e-6);
    if labelled {
        format!("{}×", tick(value))
    } else {
        String::new()
    }
}

/// An axis tick without trailing zeros ("2000", "2.5", "0.25").
fn tick(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn plot_error(error: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("drawing a plot failed: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::baseline::{Better, Pass, Passes};
    use crate::report::compare::{Measured, MetricRow};

    fn table(peak_fraction: Option<f64>) -> MetricTable {
        let row = |config: &str, mean: f64| MetricRow {
            config: config.to_owned(),
            measured: Some(Measured {
                median: mean,
                mean,
                mean_ci_low: mean * 0.9,
                mean_ci_high: mean * 1.1,
                p99: None,
                passes: Passes {
                    median_mean: Pass::Criterion,
                    percentiles: None,
                },
                unstable: None,
                peak_fraction,
                measured_peak_fraction: None,
                measured_peak_of: None,
                kernel: None,
                change: None,
                round_changes: Vec::new(),
            }),
        };
        MetricTable {
            id: "XX-001".to_owned(),
            name: None,
            category: "throughput".to_owned(),
            variant: "v".to_owned(),
            unit: "GB/s".to_owned(),
            better: Better::Higher,
            rows: vec![row(NATIVE, 100.0), row("hami-50", 60.0)],
        }
    }

    #[test]
    fn bars_draw_one_coloured_bar_per_configuration() {
        let names = vec![NATIVE.to_owned(), "hami-50".to_owned()];
        let svg = mean_bars(&table(None), &names).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("<text"));
        for name in &names {
            let c = color(name, &names);
            let fill = format!("fill=\"#{:02X}{:02X}{:02X}\"", c.0, c.1, c.2);
            assert_eq!(svg.matches(&fill).count(), 1, "{fill}");
        }
    }

    #[test]
    fn peak_bars_only_where_a_peak_is_known() {
        let names = vec![NATIVE.to_owned(), "hami-50".to_owned()];
        assert!(peak_bars(&table(None), &names).is_none());
        let svg = peak_bars(&table(Some(0.8)), &names).unwrap().unwrap();
        assert!(svg.contains("% of peak"));
    }

    fn forest_of(changes: &[(f64, Verdict)]) -> Forest {
        Forest {
            config: "hami-50".to_owned(),
            verified: true,
            rows: changes
                .iter()
                .enumerate()
                .map(
                    |(i, &(change_mean, verdict))| crate::report::glance::ForestRow {
                        id: format!("OH-{i:03}"),
                        variant: "v".to_owned(),
                        better: Better::Lower,
                        change_mean,
                        ci_low: change_mean - 0.1,
                        ci_high: change_mean + 0.1,
                        verdict,
                    },
                )
                .collect(),
        }
    }

    #[test]
    fn a_forest_draws_one_mark_per_row_filled_where_significant() {
        let rows = forest_of(&[
            (12.0, Verdict::Regressed),
            (-0.5, Verdict::Improved),
            (0.02, Verdict::NoChange),
            // A ratio of 0 or below is drawn at the axis' edge, not dropped.
            (-1.0, Verdict::NotTested),
        ]);
        let svg = forest(&rows).unwrap().unwrap();
        let circles: Vec<&str> = svg.split("<circle").skip(1).collect();
        assert_eq!(circles.len(), 4);
        let filled = |colour: RGBColor| {
            let fill = format!("fill=\"#{:02X}{:02X}{:02X}\"", colour.0, colour.1, colour.2);
            circles.iter().filter(|c| c.contains(&fill)).count()
        };
        assert_eq!((filled(COST), filled(GAIN)), (1, 1));
        assert_eq!(
            circles
                .iter()
                .filter(|c| c.contains("fill=\"none\""))
                .count(),
            2
        );
        assert!(svg.contains("OH-000 v") && svg.contains("1×") && svg.contains("10×"));
        assert!(forest(&forest_of(&[])).is_none());
    }

    #[test]
    fn ticks_drop_trailing_zeros() {
        assert_eq!(tick(2000.0), "2000");
        assert_eq!(tick(2.5), "2.5");
        assert_eq!(tick(0.30000000000000004), "0.3");
        assert_eq!(tick(0.0), "0");
        assert_eq!(ratio_tick(0.5), "0.5×");
        assert_eq!(ratio_tick(20.0), "20×");
        assert_eq!(ratio_tick(3.0), "");
    }
}
