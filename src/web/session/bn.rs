//! BatchNorm re-estimation in the SDK (NetAug `reset_bn`): `resetBnBegin` prepares it on the
//! training data, `resetBnStep` runs one batch (so that the caller reports progress and stops
//! between batches), `resetBnFinish` writes the statistics into the model.

use super::{Net, Session, State};
use crate::aug::AugNet;
use crate::error::Error;
use crate::models::MfCnn;
use crate::train::{BN_RESET_BATCH, BN_RESET_IMAGES, BN_RESET_IMAGES_AFTER_STOP, BnEstimator};
use wasm_bindgen::prelude::*;

/// A BatchNorm re-estimation of either model family.
pub(super) enum Estimate {
    Mf(BnEstimator<MfCnn>),
    Aug(BnEstimator<AugNet>),
}

#[wasm_bindgen]
impl Session {
    /// Starts re-estimating the BatchNorm statistics of the deployed model (a supernet's tiny
    /// model) on the first `images` training images (NetAug `reset_bn`; `undefined`:
    /// [`BN_RESET_IMAGES`], at most [`BN_RESET_IMAGES_AFTER_STOP`] when `afterStop`, a fit
    /// stopped during training), one batch per `resetBnStep`; returns the number of batches.
    /// Throws `INVALID_DATASET` before `setTrainingData`.
    #[wasm_bindgen(js_name = resetBnBegin)]
    pub fn reset_bn_begin(&self, images: Option<usize>, #[wasm_bindgen(js_name = afterStop)] after_stop: bool) -> Result<usize, JsValue> {
        let images = images.unwrap_or(BN_RESET_IMAGES);
        let images = if after_stop { images.min(BN_RESET_IMAGES_AFTER_STOP) } else { images };
        let mut s = self.state.borrow_mut();
        let data = s.data.as_ref().ok_or_else(|| Error::Dataset("call setTrainingData first".into()))?;
        let e = match s.trainer.as_ref().ok_or_else(|| Error::Busy)? {
            Net::Mf(t) => Estimate::Mf(BnEstimator::new(t.model(), data, images, BN_RESET_BATCH)?),
            Net::Aug(t) => Estimate::Aug(BnEstimator::new(t.model(), data, images, BN_RESET_BATCH)?),
        };
        let n = match &e {
            Estimate::Mf(e) => e.batches(),
            Estimate::Aug(e) => e.batches(),
        };
        s.bn = Some(e);
        Ok(n)
    }

    /// Runs the next re-estimation batch (a forward pass on a copy of the model, no
    /// gradient); returns whether batches remain.
    #[wasm_bindgen(js_name = resetBnStep)]
    pub fn reset_bn_step(&self) -> Result<bool, JsValue> {
        let mut s = self.state.borrow_mut();
        let State { bn, data, .. } = &mut *s;
        let (Some(e), Some(data)) = (bn.as_mut(), data.as_ref()) else {
            return Err(Error::Config("call resetBnBegin first".into()).into());
        };
        match e {
            Estimate::Mf(e) => e.step(data),
            Estimate::Aug(e) => e.step(data),
        }
        .map_err(JsValue::from)
    }

    /// Writes the statistics estimated so far (all batches, or fewer after a stop) into the
    /// model. A no-op without `resetBnBegin`.
    #[wasm_bindgen(js_name = resetBnFinish)]
    pub fn reset_bn_finish(&self) -> Result<(), JsValue> {
        let mut s = self.state.borrow_mut();
        let Some(e) = s.bn.take() else { return Ok(()) };
        match (s.trainer.as_mut().ok_or_else(|| Error::Busy)?, e) {
            (Net::Mf(t), Estimate::Mf(e)) => t.map_model(|m| Ok(e.finish(m))),
            (Net::Aug(t), Estimate::Aug(e)) => t.map_model(|m| Ok(e.finish(m))),
            _ => Err(Error::Config("resetBnBegin was called on another model".into())),
        }
        .map_err(JsValue::from)
    }
}
