//! A plot of a search: every candidate's accuracy against its MACs (grey), the Pareto front
//! (a red line through its candidates) and the best (a ring), as a standalone SVG document.

use super::Scored;

const W: f64 = 640.0;
const H: f64 = 400.0;
/// Margins: left, right, top, bottom (px).
const M: [f64; 4] = [64.0, 36.0, 16.0, 48.0];

/// `(lo, hi)` of `v`, widened when flat so that the scale is defined.
fn range(v: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = v.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(x), b.max(x)));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(hi.abs() * 1e-3).max(1e-9);
    (lo - pad, hi + pad)
}

/// The SVG of `evaluated` with its `front` and `best` marked.
pub fn front_svg(evaluated: &[Scored], front: &[Scored], best: &Scored) -> String {
    let (x0, x1) = range(evaluated.iter().map(|s| s.cost.macs as f64));
    let (y0, y1) = range(evaluated.iter().map(|s| s.accuracy));
    let px = |m: f64| M[0] + (m - x0) / (x1 - x0) * (W - M[0] - M[1]);
    let py = |a: f64| H - M[3] - (a - y0) / (y1 - y0) * (H - M[2] - M[3]);
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" font-family=\"sans-serif\" font-size=\"11\">\n\
         <rect width=\"{W}\" height=\"{H}\" fill=\"white\"/>\n"
    );
    // Axes with five ticks each.
    out += &format!("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n", M[0], H - M[3], W - M[1], H - M[3]);
    out += &format!("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n", M[0], M[2], M[0], H - M[3]);
    for i in 0..=4 {
        let (m, a) = (x0 + (x1 - x0) * i as f64 / 4.0, y0 + (y1 - y0) * i as f64 / 4.0);
        out += &format!("<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{:.0}</text>\n", px(m), H - M[3] + 16.0, m);
        out += &format!("<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{:.3}</text>\n", M[0] - 6.0, py(a) + 4.0, a);
    }
    out += &format!("<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">MACs per image</text>\n", (M[0] + W - M[1]) / 2.0, H - 8.0);
    out += &format!(
        "<text x=\"14\" y=\"{:.1}\" text-anchor=\"middle\" transform=\"rotate(-90 14 {:.1})\">held-out accuracy</text>\n",
        H / 2.0,
        H / 2.0
    );
    for s in evaluated {
        out += &format!("<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"#999\"/>\n", px(s.cost.macs as f64), py(s.accuracy));
    }
    let points: Vec<String> = front.iter().map(|s| format!("{:.1},{:.1}", px(s.cost.macs as f64), py(s.accuracy))).collect();
    out += &format!("<polyline points=\"{}\" fill=\"none\" stroke=\"#c00\" stroke-width=\"1.5\"/>\n", points.join(" "));
    for s in front {
        out += &format!("<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3.5\" fill=\"#c00\"/>\n", px(s.cost.macs as f64), py(s.accuracy));
    }
    out += &format!(
        "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"7\" fill=\"none\" stroke=\"#c00\" stroke-width=\"1.5\"><title>best: {:.4} at {} MACs</title></circle>\n",
        px(best.cost.macs as f64),
        py(best.accuracy),
        best.accuracy,
        best.cost.macs
    );
    out + "</svg>\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nas::{Cost, pareto_front};

    fn s(macs: u64, accuracy: f64) -> Scored {
        Scored {
            genome: vec![macs as usize],
            accuracy,
            cost: Cost { macs, params: 0, energy_pj: 0, peak_activation: 0, latency_ns: 0 },
            generation: 0,
        }
    }

    #[test]
    fn every_candidate_is_drawn_inside_the_plot() {
        let all = vec![s(100, 0.5), s(200, 0.7), s(150, 0.4), s(300, 0.72)];
        let front = pareto_front(&all);
        let svg = front_svg(&all, &front, &all[3]);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<circle").count(), all.len() + front.len() + 1);
        assert_eq!(svg.split("<polyline points=\"").nth(1).unwrap().split('"').next().unwrap().split(' ').count(), front.len());
        for c in svg.split("<circle cx=\"").skip(1) {
            let mut it = c.split('"');
            let x: f64 = it.next().unwrap().parse().unwrap();
            let y: f64 = it.nth(1).unwrap().parse().unwrap();
            assert!((M[0]..=W - M[1]).contains(&x) && (M[2]..=H - M[3]).contains(&y), "({x}, {y})");
        }
        // One candidate: the scale is still defined.
        let one = front_svg(&all[..1], &all[..1], &all[0]);
        assert!(!one.contains("NaN") && !one.contains("inf"));
    }
}
