//! The JavaScript boundary (wasm only): every `#[wasm_bindgen]` item of the crate lives here.
//!
//! Errors cross as JS `Error` objects with `name = "ShiftAddAugError"` and a stable `code`
//! (see [`crate::Error::code`]). Async methods return promises that own their state (`Rc`
//! clones), so no Rust borrow is held across an `await`; a second call on a model while one is
//! running is rejected with code `BUSY` instead of an aliasing panic.

#[cfg(feature = "train")]
mod bench;
mod infer;
#[cfg(feature = "train")]
mod session;

#[cfg(feature = "train")]
pub use bench::bench_ops;
pub use infer::InferenceModel;
#[cfg(feature = "train")]
pub use session::Session;

use crate::error::Error;
use wasm_bindgen::prelude::*;

/// Installs the panic hook (panics are printed to the console with their message).
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// A crate error as a JS `Error` named `ShiftAddAugError` with a `code` property, so that `?`
/// turns every error into what the SDK rejects with.
impl From<Error> for JsValue {
    fn from(e: Error) -> JsValue {
        let err = js_sys::Error::new(&e.to_string());
        err.set_name("ShiftAddAugError");
        let _ = js_sys::Reflect::set(&err, &JsValue::from_str("code"), &JsValue::from_str(e.code()));
        err.into()
    }
}

/// Parses IDX bytes (raw or gzip) into `{ dims: number[], data: Uint8Array }` (training module).
///
/// Throws a `ShiftAddAugError` with code `INVALID_IDX` on a corrupt file.
#[cfg(feature = "train")]
#[wasm_bindgen(js_name = parseIdx)]
pub fn parse_idx(bytes: &[u8]) -> Result<JsValue, JsValue> {
    let a = crate::data::parse_idx(bytes)?;
    let out = js_sys::Object::new();
    let dims = js_sys::Array::new();
    for d in &a.dims {
        dims.push(&JsValue::from_f64(*d as f64));
    }
    js_sys::Reflect::set(&out, &"dims".into(), &dims)?;
    js_sys::Reflect::set(&out, &"data".into(), &js_sys::Uint8Array::from(a.data.as_slice()))?;
    Ok(out.into())
}

/// The crate version.
#[wasm_bindgen(js_name = version)]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// Whether this module was compiled with WebAssembly SIMD128.
#[wasm_bindgen(js_name = simdEnabled)]
pub fn simd_enabled() -> bool {
    cfg!(target_feature = "simd128")
}

/// Whether this module has the WebGPU backend (the `wgpu` feature); the CPU-only module has not.
#[wasm_bindgen(js_name = webgpuEnabled)]
pub fn webgpu_enabled() -> bool {
    cfg!(feature = "wgpu")
}
