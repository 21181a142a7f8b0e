//! `benchOps`: the operator benchmark of [`crate::engine::bench`], and `profileStep`: the step
//! profile of [`crate::engine::profile`], from JavaScript (the bench page `www/bench.html`, run
//! headless by `scripts/bench-browser.mjs`), and `latencyCheck`: the float model's latency
//! table ([`crate::engine::latency`]) against whole models (`scripts/latency-browser.mjs float`).

use crate::engine::bench::{BenchOp, mbv2_tiny_layers, time_op};
use crate::engine::{cpu_device, webgpu_device};
use crate::error::Error;
use js_sys::{Function, Reflect};
use wasm_bindgen::prelude::*;

fn get(target: &JsValue, key: &str) -> Result<JsValue, JsValue> {
    Reflect::get(target, &JsValue::from_str(key))
}

/// Current size of this module's linear memory in bytes (it only grows, so it is the peak
/// of the wasm heap so far).
fn wasm_memory_bytes() -> f64 {
    get(&wasm_bindgen::memory(), "buffer").and_then(|b| get(&b, "byteLength")).ok().and_then(|v| v.as_f64()).unwrap_or(f64::NAN)
}

/// Benchmarks forward + backward of Mult, Shift, Add (reference) and Add (fused) on the layer
/// shapes of MobileNetV2-Tiny at 32×32, and resolves to an array of rows
/// `{ backend, layer, op, batch, ms, imagesPerSecond, wasmMemoryBytes }` (median of `reps` after
/// one warm-up; `wasmMemoryBytes` is the linear-memory size after the op, the wasm heap peak
/// so far). `backend` is `"wasm"` (CPU) or `"webgpu"`; `ops` is a comma list of `mult`,
/// `shift`, `addReference`, `addFused`, or empty for all.
///
/// Rejects with `UNKNOWN_BACKEND`, `INVALID_CONFIG` (unknown op, zero batch),
/// `WEBGPU_UNAVAILABLE` or `BACKEND_ERROR`.
#[wasm_bindgen(js_name = benchOps)]
pub async fn bench_ops(backend: String, batch: u32, reps: u32, ops: String) -> Result<JsValue, JsValue> {
    let device = bench_device(&backend).await?;
    if batch == 0 {
        return Err(Error::Config("batch must be at least 1".into()).into());
    }
    let ops: Vec<BenchOp> = if ops.is_empty() {
        BenchOp::ALL.to_vec()
    } else {
        ops.split(',')
            .map(|o| match o.trim() {
                "mult" => Ok(BenchOp::Mult),
                "shift" => Ok(BenchOp::Shift),
                "addReference" => Ok(BenchOp::AddReference),
                "addFused" => Ok(BenchOp::AddFused),
                other => Err(Error::Config(format!("unknown op {other:?} (valid: mult, shift, addReference, addFused)"))),
            })
            .collect::<Result<_, Error>>()?
    };
    let now = performance_now()?;
    let rows = js_sys::Array::new();
    for layer in mbv2_tiny_layers(batch as usize) {
        for &op in &ops {
            let ms = time_op(&layer, op, &device, reps as usize, &now).await?;
            let row = js_sys::Object::new();
            Reflect::set(&row, &"backend".into(), &backend.as_str().into())?;
            Reflect::set(&row, &"layer".into(), &layer.name.into())?;
            Reflect::set(&row, &"op".into(), &serde_wasm_bindgen::to_value(&op)?)?;
            Reflect::set(&row, &"batch".into(), &JsValue::from(batch))?;
            Reflect::set(&row, &"ms".into(), &JsValue::from_f64(ms))?;
            Reflect::set(&row, &"imagesPerSecond".into(), &JsValue::from_f64(batch as f64 / (ms / 1e3)))?;
            Reflect::set(&row, &"wasmMemoryBytes".into(), &JsValue::from_f64(wasm_memory_bytes()))?;
            rows.push(&row);
        }
    }
    Ok(rows.into())
}

/// The autodiff device of a bench run.
async fn bench_device(backend: &str) -> Result<burn::tensor::Device, JsValue> {
    Ok(match backend {
        "wasm" | "cpu" => cpu_device(),
        "webgpu" => webgpu_device().await?,
        other => return Err(Error::UnknownBackend(format!("{other} (valid: wasm, webgpu)")).into()),
    }
    .autodiff())
}

/// `performance.now()` (page or worker) as a clock in ms.
fn performance_now() -> Result<impl Fn() -> f64, JsValue> {
    let perf = get(&js_sys::global(), "performance")?;
    let now_fn: Function = get(&perf, "now")?.dyn_into()?;
    Ok(move || now_fn.call0(&perf).ok().and_then(|v| v.as_f64()).unwrap_or(f64::NAN))
}

/// The step profile ([`crate::engine::profile`]) of MobileNetV2-Tiny at 32×32 (stem stride 1)
/// with `conv` (`mult`, `shift`, `add`) MF layers, SGD, batch `batch`, each op timed `reps`
/// times: resolves to `{ profiles, markdown }` (one direct and one ShiftAddAug step).
/// `kernels`: `burn` (burn's ops), `bn_act` (only the fused BatchNorm + activation) or `all`
/// (every fast CPU kernel, the default in training), for a comparison in one page
/// ([`crate::ops::Kernels`]).
///
/// Rejects with `UNKNOWN_BACKEND`, `INVALID_CONFIG` (unknown conv or kernels, zero batch),
/// `WEBGPU_UNAVAILABLE` or `BACKEND_ERROR`.
#[wasm_bindgen(js_name = profileStep)]
pub async fn profile_step(backend: String, conv: String, batch: u32, reps: u32, kernels: String) -> Result<JsValue, JsValue> {
    let device = bench_device(&backend).await?;
    let kernels: crate::ops::Kernels = kernels.parse()?;
    crate::ops::set_kernels(kernels);
    if batch == 0 {
        return Err(Error::Config("batch must be at least 1".into()).into());
    }
    let conv: crate::nn::ConvKind = conv.parse()?;
    let config = crate::aug::AugNetConfig::new([1, 32, 32], 10, conv);
    let now = performance_now()?;
    let profiles = crate::engine::profile::profile_steps(&config, batch as usize, reps as usize, &device, &now).await?;
    let out = js_sys::Object::new();
    Reflect::set(&out, &"profiles".into(), &serde_wasm_bindgen::to_value(&profiles)?)?;
    Reflect::set(&out, &"markdown".into(), &crate::engine::profile::markdown(&profiles).into())?;
    Ok(out.into())
}

/// The float model's latency table on this device ([`crate::engine::latency`]), checked: for
/// `archs` architectures of MobileNetV2-Tiny's width space at 32×32 (stem stride 1; `conv`:
/// `mult`, `shift`, `add`), the supernet's own tiny model first and then random ones drawn from
/// `seed`, each model's time predicted from its layers' times and measured whole (`batch`
/// images per run, median of `reps`). Resolves to `{ rows: [{ macs, predictedMs, measuredMs }],
/// table }`.
///
/// Rejects with `UNKNOWN_BACKEND`, `INVALID_CONFIG` (unknown conv, zero batch or archs),
/// `WEBGPU_UNAVAILABLE` or `BACKEND_ERROR`.
#[wasm_bindgen(js_name = latencyCheck)]
pub async fn latency_check(backend: String, conv: String, archs: u32, batch: u32, reps: u32, seed: u32) -> Result<JsValue, JsValue> {
    let device = bench_device(&backend).await?.inner();
    if batch == 0 || archs == 0 {
        return Err(Error::Config("batch and archs must be at least 1".into()).into());
    }
    let conv: crate::nn::ConvKind = conv.parse()?;
    let config = crate::aug::AugNetConfig::new([1, 32, 32], 10, conv);
    let space = crate::nas::supernet::WidthSpace::new(&config, &crate::nas::supernet::DEFAULT_SHRINK, false)?;
    let configs: Vec<_> = space.sample_genomes(archs as usize, u64::from(seed)).iter().map(|g| space.config_of(g)).collect();
    let now = performance_now()?;
    let (rows, table) = crate::engine::latency::check_fresh(&configs, &device, batch as usize, reps as usize, &now).await?;
    let out = js_sys::Object::new();
    Reflect::set(&out, &"rows".into(), &serde_wasm_bindgen::to_value(&rows)?)?;
    // Through JSON text: serde_wasm_bindgen would make a JSON object a `Map`.
    Reflect::set(&out, &"table".into(), &js_sys::JSON::parse(&table.to_json().to_string())?)?;
    Ok(out.into())
}
