//! Measured latency (issue 14, METHOD.md §8): a lookup table of the integer engine's time per
//! layer on the machine it runs on, keyed by operator, geometry, activation and [`Timing`]. A
//! layer is timed the first time it is asked for ([`crate::infer::timing::time_conv`]: one
//! image, one thread, the median of `reps` runs; h-swish included); a squeeze-and-excitation is
//! timed as one block (pooling, both FCs, gating) on its reduce FC; a model's predicted latency
//! is the sum over its layers. Shortcut additions, the global pooling, the input's quantisation
//! and Shiftmax are not in the table (a few thousand values each, against millions of operations
//! in the convolutions).

use super::{Layer, Timing};
use crate::infer::format::{Act, Op};
use crate::infer::kernels::Geometry;
use crate::infer::timing::{Clock, time_conv};
use std::collections::HashMap;

/// Predicts a model's latency from its layers: [`LatencyTable`] (the integer engine) or, in the
/// CLI, the float model's table ([`crate::engine::latency`]) read synchronously.
pub trait PredictLatency {
    /// Predicted seconds of a model for one image (timing layers not seen yet).
    fn predict_s(&mut self, layers: &[Layer]) -> f64;
}

impl PredictLatency for LatencyTable {
    fn predict_s(&mut self, layers: &[Layer]) -> f64 {
        LatencyTable::predict_s(self, layers)
    }
}

/// The per-layer times of this machine.
pub struct LatencyTable {
    entries: HashMap<(Op, Geometry, Act, Timing), f64>,
    reps: usize,
    now: Box<dyn Fn() -> f64>,
    resolution: f64,
}

impl std::fmt::Debug for LatencyTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LatencyTable").field("entries", &self.entries.len()).field("reps", &self.reps).finish()
    }
}

impl LatencyTable {
    /// An empty table whose layers are timed with `reps` samples each on the clock `now`
    /// (seconds) whose smallest step is `resolution` seconds.
    pub fn new(reps: usize, now: Box<dyn Fn() -> f64>, resolution: f64) -> Self {
        Self { entries: HashMap::new(), reps: reps.max(1), now, resolution }
    }

    /// An empty table on the native clock.
    #[cfg(not(target_family = "wasm"))]
    pub fn native(reps: usize) -> Self {
        let start = std::time::Instant::now();
        Self::new(reps, Box::new(move || start.elapsed().as_secs_f64()), 1e-7)
    }

    /// Seconds of `layer` for one image, timed now if the table does not have it yet.
    pub fn layer_s(&mut self, layer: &Layer) -> f64 {
        let (reps, clock) = (self.reps, Clock { now: self.now.as_ref(), resolution: self.resolution });
        let (op, geo, act, timing) = (layer.op, layer.geo, layer.act, layer.timing);
        *self.entries.entry((op, geo, act, timing)).or_insert_with(|| match timing {
            Timing::Own => time_conv(op, &geo, act, reps, clock),
            Timing::SeBlock { plane } => crate::infer::timing::time_se(geo.cin, geo.cout, plane, reps, clock),
            Timing::InSeBlock => 0.0,
        })
    }

    /// Predicted seconds of a model for one image: the sum over its layers.
    pub fn predict_s(&mut self, layers: &[Layer]) -> f64 {
        layers.iter().map(|l| self.layer_s(l)).sum()
    }

    /// Layers timed so far.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing was timed yet.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The table as JSON: one object per entry (`op`, the geometry's fields, `us` per image),
    /// sorted by operator and geometry.
    pub fn to_json(&self) -> serde_json::Value {
        let mut rows: Vec<_> = self.entries.iter().collect();
        rows.sort_by_key(|((op, g, act, timing), _)| {
            (format!("{op:?}"), g.cin, g.cout, g.k, g.stride, g.pad, g.groups, g.h, g.w, format!("{act:?} {timing:?}"))
        });
        serde_json::Value::Array(
            rows.into_iter()
                .map(|((op, g, act, timing), s)| {
                    let part = match timing {
                        Timing::Own => serde_json::Value::Null,
                        Timing::SeBlock { plane } => serde_json::json!({ "seBlock": plane }),
                        Timing::InSeBlock => serde_json::json!("inSeBlock"),
                    };
                    serde_json::json!({ "op": format!("{op:?}").to_lowercase(), "cin": g.cin, "cout": g.cout, "k": g.k, "stride": g.stride,
                        "pad": g.pad, "groups": g.groups, "h": g.h, "w": g.w, "act": format!("{act:?}").to_lowercase(), "timing": part, "us": s * 1e6 })
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    fn layer(op: Op, cin: usize, cout: usize, k: usize, groups: usize, hw: usize) -> Layer {
        Layer::new("t".into(), op, Geometry { cin, cout, k, stride: 1, pad: k / 2, groups, h: hw, w: hw })
    }

    /// A clock that advances by one second per reading: every timed run reads 1 s.
    fn ticking() -> (Box<dyn Fn() -> f64>, Rc<Cell<u32>>) {
        let reads = Rc::new(Cell::new(0u32));
        let r = reads.clone();
        (
            Box::new(move || {
                r.set(r.get() + 1);
                r.get() as f64
            }),
            reads,
        )
    }

    /// Each distinct (operator, geometry) is timed once; the prediction sums the entries.
    #[test]
    fn layers_are_timed_once_and_summed() {
        let (clock, reads) = ticking();
        // Every sample of one run reads 1 s, 20 steps of 0.05 s: one run per sample.
        let mut t = LatencyTable::new(3, clock, 0.05);
        let a = layer(Op::Shift, 8, 16, 3, 1, 6);
        let b = layer(Op::Add, 8, 8, 3, 8, 6);
        let c = Layer { name: "other name, same layer".into(), ..a.clone() };
        assert_eq!(t.predict_s(&[a.clone(), b.clone(), c]), 3.0);
        // Two layers timed: one calibration and 3 samples of 2 readings each.
        assert_eq!((t.len(), reads.get()), (2, 16));
        assert_eq!(t.predict_s(&[a, b]), 2.0);
        assert_eq!(reads.get(), 16, "nothing timed again");
        let j = t.to_json();
        assert_eq!(j.as_array().map(Vec::len), Some(2));
        assert_eq!(j[0]["op"], "add");
        assert_eq!(j[1]["us"], 1e6);
    }
}

#[cfg(test)]
mod keys {
    use super::*;
    use crate::cost::{Layer, Timing};

    /// The activation is part of a layer's key; a squeeze-and-excitation is timed once, on its
    /// reduce FC, and its expand FC adds nothing.
    #[test]
    fn activations_and_se_blocks_are_keyed() {
        let reads = std::rc::Rc::new(std::cell::Cell::new(0u32));
        let r = reads.clone();
        let mut t = LatencyTable::new(
            1,
            Box::new(move || {
                r.set(r.get() + 1);
                r.get() as f64
            }),
            0.05,
        );
        let geo = |cin, cout, hw| Geometry {
            cin,
            cout,
            k: if hw > 1 { 3 } else { 1 },
            stride: 1,
            pad: usize::from(hw > 1),
            groups: 1,
            h: hw,
            w: hw,
        };
        let a = Layer::new("a".into(), Op::Shift, geo(8, 16, 6));
        let h = a.clone().with_act(Act::Hswish);
        let reduce = Layer::new("r".into(), Op::Mult, geo(16, 8, 1)).timed(Timing::SeBlock { plane: 36 });
        let expand = Layer::new("e".into(), Op::Mult, geo(8, 16, 1)).timed(Timing::InSeBlock);
        assert_eq!(t.predict_s(&[a, h, reduce, expand.clone()]), 3.0);
        assert_eq!(t.len(), 4);
        let read = reads.get();
        assert_eq!(t.predict_s(&[expand]), 0.0);
        assert_eq!(reads.get(), read, "nothing timed again");
        assert_eq!(t.to_json().as_array().unwrap().iter().filter(|r| r["act"] == "hswish").count(), 1);
    }
}

#[cfg(test)]
mod coarse_clock {
    use crate::infer::timing::{Clock, median_time};
    use std::cell::Cell;

    /// A clock that shows 1 ms per run in steps of 5 ms: a sample needs 100 ms, so 128 runs
    /// (the next power of two), and each run reads 1 ms within one step over 128.
    #[test]
    fn coarse_clocks_time_several_runs_per_sample() {
        let (runs, prepared) = (Cell::new(0u64), Cell::new(0u32));
        let now = || (runs.get() / 5 * 5) as f64 * 1e-3;
        let t = median_time(7, Clock { now: &now, resolution: 5e-3 }, &mut || prepared.set(prepared.get() + 1), &mut || {
            runs.set(runs.get() + 1)
        });
        assert!((t - 1e-3).abs() <= 5e-3 / 128.0, "{t}");
        // Warm-up 1, calibration 1 + 2 + … + 128, then 7 samples of 128.
        assert_eq!(runs.get(), 1 + 255 + 7 * 128);
        assert_eq!(prepared.get(), 7);
    }
}
