//! Training checkpoints in the SDK (`crate::train::checkpoint`): `checkpoint` takes the whole
//! training state as bytes, `restore` puts one back into a session created from the same model
//! config (`resumeEpoch` then continues inside an epoch). The SDK stores the bytes (IndexedDB,
//! a file) and drives the resume.

use super::{Net, Session};
use crate::aug::AugNetConfig;
use crate::error::{Error, Result};
use crate::train::checkpoint::read_header;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

/// JSON of the model config a checkpoint of `net` records (a zoo model's includes its
/// augmentation options as they stand).
fn config_json(net: &Net) -> Result<String> {
    match net {
        Net::Mf(t) => serde_json::to_string(&t.model().config),
        Net::Aug(t) => serde_json::to_string(&t.model().config),
    }
    .map_err(|e| Error::Backend(format!("model config: {e}")))
}

/// [`Session::restore`]: on error `net` is as it was.
fn restore_into(net: &mut Net, bytes: &[u8]) -> Result<()> {
    let header = read_header(bytes)?;
    let Net::Aug(t) = net else {
        let cfg = config_json(net)?;
        return with_trainer!(net, t => t.restore(bytes, &cfg)).map(|_| ());
    };
    // The augmentation options that `configureAug` may change come from the file; everything
    // else must match (the comparison inside `Trainer::restore`).
    let saved: AugNetConfig = serde_json::from_str(&header.model_config)
        .map_err(|e| Error::Config(format!("checkpoint: its model config is not a zoo model's: {e}")))?;
    let set_aug = |t: &mut crate::train::Trainer<crate::aug::AugNet>, aug| {
        t.map_model(|mut m| {
            m.config.aug = aug;
            Ok(m)
        })
    };
    let old = t.model().config.aug.clone();
    set_aug(t, saved.aug)?;
    let cfg = serde_json::to_string(&t.model().config).map_err(|e| Error::Backend(format!("model config: {e}")))?;
    t.restore(bytes, &cfg).map(|_| ()).inspect_err(|_| {
        let _ = set_aug(t, old);
    })
}

#[wasm_bindgen]
impl Session {
    /// Resolves to the training state as checkpoint bytes: parameters and BatchNorm statistics,
    /// optimiser state, step, training config and model config (the epoch order and the crops
    /// and flips are seeded by epoch and batch, so nothing else is needed to continue). Reads
    /// back asynchronously, so it runs on WebGPU too (through a copy of the model on the CPU).
    pub fn checkpoint(&self) -> js_sys::Promise {
        let state = self.state.clone();
        future_to_promise(async move {
            let run = async {
                let net = Session::take(&state)?;
                let epoch = state.borrow().epoch;
                let r = async {
                    let cfg = config_json(&net)?;
                    match &net {
                        Net::Mf(t) => {
                            let c = t.model().config.clone();
                            t.checkpoint_async(&cfg, epoch, |d| c.init(d)).await
                        }
                        Net::Aug(t) => {
                            let c = t.model().config.clone();
                            t.checkpoint_async(&cfg, epoch, |d| c.init(d)).await
                        }
                    }
                }
                .await;
                state.borrow_mut().trainer = Some(net);
                Ok::<JsValue, Error>(js_sys::Uint8Array::from(r?.as_slice()).into())
            };
            run.await.map_err(JsValue::from)
        })
    }

    /// Restores checkpoint bytes taken from a model of the same config (a zoo model's
    /// augmentation options may differ: the checkpoint's are restored with it). Throws
    /// `INVALID_CONFIG` for bytes that are not a checkpoint, are damaged, or come from another
    /// model config; the session is unchanged then.
    pub fn restore(&self, bytes: Vec<u8>) -> Result<(), JsValue> {
        let mut s = self.state.borrow_mut();
        let net = s.trainer.as_mut().ok_or_else(|| Error::Busy)?;
        restore_into(net, &bytes).map_err(JsValue::from)
    }

    /// Optimisation steps taken so far.
    pub fn step(&self) -> Result<usize, JsValue> {
        let s = self.state.borrow();
        Ok(with_trainer!(s.trainer.as_ref().ok_or_else(|| Error::Busy)?, t => t.step()))
    }
}
