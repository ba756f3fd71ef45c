//! The report's charts as standalone SVG documents (plotters' SVG backend: no fonts or files
//! needed, so the same code could draw in the browser).

use plotters::prelude::*;

/// One named line of a chart.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// `(x, y)` points in order.
    pub points: Vec<(f64, f64)>,
}

fn padded_range(values: impl Iterator<Item = f64>, floor_zero: bool) -> std::ops::Range<f64> {
    let (mut lo, mut hi) = values.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    if !lo.is_finite() {
        return 0.0..1.0;
    }
    if floor_zero {
        lo = lo.min(0.0);
    }
    if hi - lo < 1e-9 {
        hi = lo + 1.0;
    }
    let pad = 0.05 * (hi - lo);
    (lo - if floor_zero && lo == 0.0 { 0.0 } else { pad })..hi + pad
}

fn failed(e: impl std::fmt::Display) -> crate::Error {
    crate::Error::Data(format!("cannot draw a chart: {e}"))
}

/// A line chart of `series` (points drawn as dots too, so one-point series show).
pub fn line_chart(title: &str, x_label: &str, y_label: &str, series: &[Series], y_from_zero: bool) -> crate::Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 400)).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        let xs = padded_range(series.iter().flat_map(|s| s.points.iter().map(|p| p.0)), false);
        let ys = padded_range(series.iter().flat_map(|s| s.points.iter().map(|p| p.1)), y_from_zero);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(xs, ys)
            .map_err(failed)?;
        chart.configure_mesh().x_desc(x_label).y_desc(y_label).draw().map_err(failed)?;
        for (i, s) in series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(s.points.iter().copied(), color.stroke_width(2)))
                .map_err(failed)?
                .label(s.name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
            chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled()))).map_err(failed)?;
        }
        if series.len() > 1 || series.first().is_some_and(|s| !s.name.is_empty()) {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(failed)?;
        }
        root.present().map_err(failed)?;
    }
    Ok(svg)
}

/// A scatter plot of labelled 2-D points (one colour per class, legend with `class_names`).
pub fn scatter_chart(title: &str, points: &[[f32; 2]], labels: &[usize], class_names: &[String]) -> crate::Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (560, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        let xs = padded_range(points.iter().map(|p| p[0] as f64), false);
        let ys = padded_range(points.iter().map(|p| p[1] as f64), false);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(10)
            .build_cartesian_2d(xs, ys)
            .map_err(failed)?;
        let classes = labels.iter().max().map_or(0, |m| m + 1);
        for c in 0..classes {
            let color = Palette99::pick(c).to_rgba();
            let name = class_names.get(c).cloned().unwrap_or_else(|| format!("class {c}"));
            chart
                .draw_series(
                    points.iter().zip(labels).filter(|(_, l)| **l == c).map(|(p, _)| Circle::new((p[0] as f64, p[1] as f64), 2, color.filled())),
                )
                .map_err(failed)?
                .label(name)
                .legend(move |(x, y)| Circle::new((x + 6, y), 4, color.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(failed)?;
        root.present().map_err(failed)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_svg_documents_with_their_text() {
        let s = line_chart(
            "loss",
            "epoch",
            "value",
            &[Series { name: "simclr".into(), points: vec![(1.0, 5.0), (2.0, 4.5)] }, Series { name: "ce".into(), points: vec![(1.0, 2.0)] }],
            true,
        )
        .unwrap();
        assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
        for text in ["loss", "epoch", "simclr", "ce"] {
            assert!(s.contains(text), "{text} missing");
        }
        let t = scatter_chart("t-SNE", &[[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]], &[0, 1, 1], &["cat".into(), "dog".into()]).unwrap();
        assert!(t.contains("cat") && t.contains("dog") && t.matches("<circle").count() >= 3);
    }
}
