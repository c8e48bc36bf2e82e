//! The load report's charts, drawn from its JSON document (so `--replot results.json` redraws
//! them): per scenario, the added latency (p50 and p99, log scale) against the offered rate, the
//! achieved rate against the offered one, and the engine's CPU per answered message, botvisor and
//! the SDK peer on the same axes (the mean of their rounds). SVG files beside `results.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use plotters::prelude::*;
use serde_json::Value;

/// Per engine: (offered rate, value) points, the mean over rounds.
type Series = BTreeMap<String, Vec<(f64, f64)>>;

const ENGINES: [(&str, RGBColor); 2] = [("botvisor", RGBColor(29, 78, 216)), ("sdk-peer", RGBColor(217, 119, 6))];

/// The mean of `value` per engine and offered rate, over the scenario's rounds.
fn series(document: &Value, scenario: &str, value: impl Fn(&Value) -> Option<f64>) -> Series {
    let mut sums: BTreeMap<String, BTreeMap<u64, (f64, u32)>> = BTreeMap::new();
    for run in document["runs"].as_array().into_iter().flatten().filter(|r| r["scenario"] == scenario) {
        let engine = run["engine"].as_str().unwrap_or("?").to_owned();
        for rate in run["rates"].as_array().into_iter().flatten() {
            let (Some(offered), Some(v)) = (rate["rate"].as_u64(), value(rate)) else { continue };
            let entry = sums.entry(engine.clone()).or_default().entry(offered).or_insert((0.0, 0));
            entry.0 += v;
            entry.1 += 1;
        }
    }
    sums.into_iter()
        .map(|(engine, points)| (engine, points.into_iter().map(|(x, (sum, n))| (x as f64, sum / f64::from(n))).collect()))
        .collect()
}

/// The y axis: linear, or logarithmic (values drawn as their log10, ticks labelled in the
/// values' own unit) so a collapse of seconds does not flatten the milliseconds below it.
#[derive(Clone, Copy, PartialEq)]
enum Scale {
    Linear,
    Log,
}

/// Draws one chart of `lines` (label, per-engine series, dashed) to `path`.
fn chart(path: &Path, title: &str, y_label: &str, lines: &[(&str, Series, bool)], diagonal: bool, scale: Scale) -> Result<(), String> {
    let lines: Vec<(&str, Series, bool)> = match scale {
        Scale::Linear => lines.to_vec(),
        Scale::Log => lines
            .iter()
            .map(|(label, series, dashed)| {
                let logged = series
                    .iter()
                    .map(|(engine, points)| (engine.clone(), points.iter().map(|(x, y)| (*x, y.max(0.01).log10())).collect()))
                    .collect();
                (*label, logged, *dashed)
            })
            .collect(),
    };
    let lines = &lines[..];
    let points = || lines.iter().flat_map(|(_, s, _)| s.values().flatten());
    let x_max = points().map(|p| p.0).fold(1.0, f64::max) * 1.05;
    let (y_min, y_max) = match scale {
        Scale::Linear => (0.0, points().map(|p| p.1).fold(if diagonal { x_max } else { 1.0 }, f64::max) * 1.1),
        Scale::Log => (points().map(|p| p.1).fold(0.0, f64::min).floor(), points().map(|p| p.1).fold(1.0, f64::max).ceil()),
    };
    let root = SVGBackend::new(path, (900, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..x_max, y_min..y_max)
        .map_err(|e| e.to_string())?;
    let unlog = |v: &f64| {
        let value = 10f64.powf(*v);
        if value >= 1.0 {
            format!("{value:.0}")
        } else {
            format!("{value:.2}")
        }
    };
    let plain = |v: &f64| format!("{v:.0}");
    chart
        .configure_mesh()
        .x_desc("offered consumer messages per second")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_desc(y_label)
        .y_labels(if scale == Scale::Log { (y_max - y_min) as usize + 1 } else { 10 })
        .y_label_formatter(if scale == Scale::Log { &unlog } else { &plain })
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(|e| e.to_string())?;
    if diagonal {
        chart
            .draw_series(LineSeries::new([(0.0, 0.0), (x_max, x_max)], RGBColor(180, 180, 180).stroke_width(1)))
            .map_err(|e| e.to_string())?
            .label("offered")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], RGBColor(180, 180, 180)));
    }
    for (label, series, dashed) in lines {
        for (engine, color) in ENGINES {
            let Some(points) = series.get(engine) else { continue };
            let style = color.stroke_width(if *dashed { 1 } else { 3 });
            let name = if label.is_empty() { engine.to_owned() } else { format!("{engine} {label}") };
            chart
                .draw_series(LineSeries::new(points.iter().copied(), style))
                .map_err(|e| e.to_string())?
                .label(name)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], style));
            chart.draw_series(points.iter().map(|p| Circle::new(*p, 3, color.filled()))).map_err(|e| e.to_string())?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(200, 200, 200))
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

/// Writes the charts of every scenario with rates into `dir`; the files written.
pub fn write_charts(dir: &Path, document: &Value) -> Result<Vec<PathBuf>, String> {
    let mut scenarios: Vec<String> = document["runs"]
        .as_array()
        .into_iter()
        .flatten()
        // A ladder: more than one rate, each once (the overload scenario comes back to its first
        // rate, which a rate axis would merge).
        .filter(|r| {
            r["rates"].as_array().is_some_and(|rates| {
                let offered: Vec<u64> = rates.iter().filter_map(|rate| rate["rate"].as_u64()).collect();
                offered.len() > 1 && offered.windows(2).all(|w| w[0] < w[1])
            })
        })
        .filter_map(|r| r["scenario"].as_str().map(str::to_owned))
        .collect();
    scenarios.dedup();
    let mut written = Vec::new();
    for scenario in scenarios {
        let latency = dir.join(format!("{scenario}-latency.svg"));
        let p50 = series(document, &scenario, |r| r["added_latency_ms"]["p50"].as_f64());
        let p99 = series(document, &scenario, |r| r["added_latency_ms"]["p99"].as_f64());
        chart(
            &latency,
            &format!("{scenario}: added latency against the offered rate"),
            "added latency (ms)",
            &[("p99", p99, false), ("p50", p50, true)],
            false,
            Scale::Log,
        )?;
        written.push(latency);
        let cpu = dir.join(format!("{scenario}-cpu.svg"));
        let per_message = series(document, &scenario, |r| r["cpu_us_per_message"].as_f64().filter(|v| *v > 0.0));
        chart(
            &cpu,
            &format!("{scenario}: engine CPU per answered message"),
            "CPU µs per message",
            &[("", per_message, false)],
            false,
            Scale::Linear,
        )?;
        written.push(cpu);
        let throughput = dir.join(format!("{scenario}-throughput.svg"));
        let achieved = series(document, &scenario, |r| r["achieved_per_second"].as_f64());
        chart(
            &throughput,
            &format!("{scenario}: answers per second against the offered rate"),
            "answered per second",
            &[("", achieved, false)],
            true,
            Scale::Linear,
        )?;
        written.push(throughput);
    }
    Ok(written)
}
