//! The integer engine's JS boundary (`crate::infer`): the only class of the inference-only
//! module, and part of the training module too.

use crate::error::Error;
use crate::infer::{float, format, int, shiftmax};
use wasm_bindgen::prelude::*;

/// A deployed model (an export: `model.json` text and `model.safetensors` bytes) for inference:
/// the f32 reference, and the integer engine once `quantize` has calibrated it.
#[wasm_bindgen]
pub struct InferenceModel {
    graph: format::Graph,
    quantized: Option<int::Quantized>,
}

#[wasm_bindgen]
impl InferenceModel {
    /// Reads an export whose engines need at most `memory_limit_mb` MiB (default 512, see
    /// `format::memory_estimate`). Throws `INVALID_CONFIG` naming what is wrong with the files, or
    /// saying that the model needs more memory than the limit.
    #[wasm_bindgen(constructor)]
    pub fn new(json: &str, safetensors: &[u8], memory_limit_mb: Option<f64>) -> Result<InferenceModel, JsValue> {
        let limit = match memory_limit_mb {
            None => format::DEFAULT_MEMORY_LIMIT,
            Some(mb) if mb.is_finite() && mb > 0.0 => (mb * 1048576.0).min(usize::MAX as f64) as usize,
            Some(mb) => return Err(Error::Config(format!("memoryLimitMB must be a positive number, got {mb}")).into()),
        };
        Ok(Self { graph: format::parse_limited(json, safetensors, limit)?, quantized: None })
    }

    /// `[c, h, w]` of one input image.
    #[wasm_bindgen(getter, js_name = inputShape)]
    pub fn input_shape(&self) -> Vec<u32> {
        self.graph.input.iter().map(|&d| d as u32).collect()
    }

    /// Output classes.
    #[wasm_bindgen(getter)]
    pub fn classes(&self) -> u32 {
        self.graph.classes as u32
    }

    /// Calibrates the integer engine on `n` images (`x`: `n · c · h · w` values). Throws
    /// `SHAPE_MISMATCH` or `NON_FINITE_INPUT`.
    pub fn quantize(&mut self, x: &[f32], n: usize) -> Result<(), JsValue> {
        if x.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite("calibration images hold NaN or Inf".into()).into());
        }
        self.quantized = Some(int::quantize(&self.graph, x, n)?);
        Ok(())
    }

    /// Whether `quantize` has run.
    #[wasm_bindgen(getter)]
    pub fn quantized(&self) -> bool {
        self.quantized.is_some()
    }

    /// Class probabilities `[n, classes]` of `n` images: from the integer engine and its
    /// Shiftmax (multiples of 1/128) when `integer`, else from the f32 reference and softmax.
    /// Throws `SHAPE_MISMATCH`, `NON_FINITE_INPUT`, or `INVALID_CONFIG` for `integer` before
    /// `quantize`.
    pub fn predict(&self, x: &[f32], n: usize, integer: bool) -> Result<Vec<f32>, JsValue> {
        if n == 0 {
            return Err(Error::Shape("predict needs at least one image (n = 0)".into()).into());
        }
        if x.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite("the images hold NaN or Inf".into()).into());
        }
        if !integer {
            let logits = float::logits(&self.graph, x, n)?;
            return Ok(shiftmax::softmax_f32(&logits, self.graph.classes));
        }
        let q = self.quantized.as_ref().ok_or_else(|| Error::Config("call quantize() before predicting with the integer engine".into()))?;
        let p = q.probabilities(x, n)?;
        Ok(p.iter().map(|&v| v as f32 * shiftmax::SHIFTMAX_SCALE).collect())
    }

    /// Integer-engine logits `[n, classes]` as f32 (for comparisons with the float model).
    #[wasm_bindgen(js_name = integerLogits)]
    pub fn integer_logits(&self, x: &[f32], n: usize) -> Result<Vec<f32>, JsValue> {
        let q = self.quantized.as_ref().ok_or_else(|| Error::Config("call quantize() first".into()))?;
        q.logits(x, n).map_err(JsValue::from)
    }

    /// The compute cost of one image (`crate::cost`), flat: `[MACs of Mult, Shift, Add layers,
    /// mults, adds, shifts, reads, writes, energy (pJ), weights, peak activation values]`, then per
    /// layer `[operator (0 Mult, 1 Shift, 2 Add), MACs, energy (pJ)]` (names: `layerNames`).
    /// `bits`: 32 or 8; `convention`: `per-mac` or `physical`. Throws `INVALID_CONFIG` naming the
    /// valid values. (Numbers, not JSON: formatting floats would add to the module's size.)
    pub fn cost(&self, bits: u32, convention: &str) -> Result<Vec<f64>, JsValue> {
        use crate::cost::{self, Convention, UnitEnergies};
        let (c, e) = (Convention::by_name(convention)?, UnitEnergies::for_bits(bits)?);
        let s = cost::summary_of_graph(&self.graph, c, &e)?;
        let n = &s.counts;
        let mut out: Vec<f64> = [s.macs[0], s.macs[1], s.macs[2], n.mults, n.adds, n.shifts, n.reads, n.writes].map(|v| v as f64).to_vec();
        out.extend([s.energy_pj, s.weights as f64, s.peak_activation as f64]);
        for l in &s.layers {
            out.extend([cost::op_index(l.op) as f64, l.macs as f64, l.energy_pj]);
        }
        Ok(out)
    }

    /// The dataflow estimate (`crate::cost::dataflow`, METHOD.md §8.3) for `batch` images, flat:
    /// rows of `[compute, DRAM, buffer, NoC, register files (pJ for the batch), latency (s)]`,
    /// the whole network's first, then one per layer (names: `layerNames`). `bits`: 32 or 8;
    /// `batch` ≥ 1. Throws `INVALID_CONFIG` otherwise.
    pub fn dataflow(&self, bits: u32, batch: usize) -> Result<Vec<f64>, JsValue> {
        use crate::cost::{self, dataflow};
        let est = dataflow::estimate(&cost::layers_of_graph(&self.graph)?, batch, bits)?;
        let row = |e: &dataflow::Breakdown, t: f64| [e.compute, e.dram, e.buffer, e.noc, e.rf, t];
        let (sum, latency_s) = dataflow::total(&est);
        Ok(row(&sum, latency_s).into_iter().chain(est.iter().flat_map(|l| row(&l.energy, l.latency_s))).collect())
    }

    /// The layer names of `cost`'s rows, in order.
    #[wasm_bindgen(js_name = layerNames)]
    pub fn layer_names(&self) -> Result<Vec<String>, JsValue> {
        Ok(crate::cost::layers_of_graph(&self.graph)?.into_iter().map(|l| l.name).collect())
    }
}
