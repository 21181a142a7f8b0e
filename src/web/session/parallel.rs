//! Data-parallel training across workers: the session of each worker computes one part of every
//! batch ([`Session::train_part`]), the caller sums the parts' gradients in part order, and every
//! session applies the same sum ([`Session::apply_gradients`]). The sessions then stay equal, and
//! train like one session with `microBatches` = the number of parts (`crate::train::grads`).

use super::{Net, Session};
use crate::error::{Error, Result};
use crate::train::FlatGradients;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

fn set(o: &js_sys::Object, key: &str, v: &JsValue) -> Result<()> {
    js_sys::Reflect::set(o, &key.into(), v).map(|_| ()).map_err(|_| Error::Backend("result object".into()))
}

#[wasm_bindgen]
impl Session {
    /// Values in this model's gradient vector (every float parameter, in a fixed order).
    #[wasm_bindgen(js_name = gradientLength)]
    pub fn gradient_length(&self) -> Result<usize, JsValue> {
        let s = self.state.borrow();
        let t = s.trainer.as_ref().ok_or_else(|| Error::Busy)?;
        Ok(with_trainer!(t, t => crate::train::grads::gradient_len(t.model())))
    }

    /// Draws the next batch of the epoch as `trainNext` does (same images, same crops and flips)
    /// and computes the gradient of its part `part` of `parts`, scaled by the part's share; the
    /// model is not changed. Resolves to `{ gradients: Float32Array, present: Uint8Array, loss,
    /// correct, count, batch }` (`loss` is the part's share of the batch loss, `correct` and
    /// `count` its correct and total examples, `batch` the batch size), or with `count: 0` and
    /// no gradient for an empty part. With `out` (a `Float32Array` of `gradientLength()` values,
    /// e.g. on a SharedArrayBuffer) the gradient is written there instead of `gradients`.
    /// Rejects with `INVALID_CONFIG` when `part >= parts`, `SHAPE_MISMATCH` when `out` has
    /// another length, `INVALID_DATASET` when the epoch is exhausted.
    #[wasm_bindgen(js_name = trainPart)]
    pub fn train_part(&self, part: usize, parts: usize, out: Option<js_sys::Float32Array>) -> js_sys::Promise {
        let state = self.state.clone();
        future_to_promise(async move {
            let run = async {
                if part >= parts {
                    return Err(Error::Config(format!("part {part} of {parts}: need part < parts")));
                }
                let (mut x, y, epoch, i) = state.borrow_mut().next_batch()?;
                let t = Session::take(&state)?;
                let r = async {
                    with_trainer!(&t, t => {
                        t.augment_batch(&mut x, epoch, i);
                        match t.part_gradients(&x, &y, part, parts)? {
                            Some(g) => Some(g.read(t.model()).await).transpose(),
                            None => Ok(None),
                        }
                    })
                }
                .await;
                state.borrow_mut().trainer = Some(t);
                let (start, end) = crate::train::grads::part_range(y.len(), part, parts)?;
                let o = js_sys::Object::new();
                set(&o, "count", &((end - start) as f64).into())?;
                set(&o, "batch", &(y.len() as f64).into())?;
                let Some((flat, loss, correct)) = r? else {
                    set(&o, "loss", &0.0.into())?;
                    set(&o, "correct", &0.0.into())?;
                    return Ok(o.into());
                };
                set(&o, "loss", &f64::from(loss).into())?;
                set(&o, "correct", &f64::from(correct).into())?;
                set(&o, "present", &js_sys::Uint8Array::from(flat.present.as_slice()).into())?;
                match out {
                    Some(out) if out.length() as usize != flat.values.len() => {
                        return Err(Error::Shape(format!("out has {} values; the gradient has {}", out.length(), flat.values.len())));
                    }
                    Some(out) => out.copy_from(&flat.values),
                    None => set(&o, "gradients", &js_sys::Float32Array::from(flat.values.as_slice()).into())?,
                }
                Ok::<JsValue, Error>(o.into())
            };
            run.await.map_err(JsValue::from)
        })
    }

    /// One optimiser step with a batch's gradient summed over its parts (`gradientLength()`
    /// values; `present` as returned by `trainPart`). Throws `SHAPE_MISMATCH` (nothing changes)
    /// when the vector does not fit this model.
    #[wasm_bindgen(js_name = applyGradients)]
    pub fn apply_gradients(&self, gradients: Vec<f32>, present: Vec<u8>) -> Result<(), JsValue> {
        let mut s = self.state.borrow_mut();
        let t = s.trainer.as_mut().ok_or_else(|| Error::Busy)?;
        let g = FlatGradients { values: gradients, present };
        match t {
            Net::Mf(t) => t.apply_flat_gradients(&g),
            Net::Aug(t) => t.apply_flat_gradients(&g),
        }
        .map_err(JsValue::from)
    }
}
