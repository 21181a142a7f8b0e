//! Epochs in the SDK: the training data, each epoch's batches (`beginEpoch`, or `resumeEpoch`
//! inside an epoch after a checkpoint), and one training step per `trainNext`.

use super::{Net, Session, labels_u32};
use crate::data::Dataset;
use crate::error::{Error, Result};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

impl Session {
    /// [`begin_epoch`](Self::begin_epoch), or with `resume_at` [`resume_epoch`](Self::resume_epoch).
    fn enter_epoch(&self, epoch: u32, resume_at: Option<usize>) -> Result<usize> {
        let mut s = self.state.borrow_mut();
        if s.data.is_none() {
            return Err(Error::Dataset("call setTrainingData first".into()));
        }
        let t = s.trainer.as_mut().ok_or(Error::Busy)?;
        let (bs, seed) = with_trainer!(t, t => {
            if resume_at.is_none() {
                t.start_epoch();
            }
            (t.config().batch_size, t.config().seed)
        });
        let data = s.data.as_ref().ok_or_else(|| Error::Dataset("call setTrainingData first".into()))?;
        let batches = data.epoch_batches(bs, seed.wrapping_add(epoch as u64));
        let (n, cursor) = (batches.len(), resume_at.unwrap_or(0));
        if cursor > n {
            return Err(Error::Config(format!("batch {cursor} is past epoch {epoch}'s {n} batches")));
        }
        s.batches = batches;
        s.cursor = cursor;
        s.epoch = epoch as usize;
        Ok(n)
    }
}

#[wasm_bindgen]
impl Session {
    /// Sets the training data: `x` holds `n` images of the model's input shape, `y` `n` labels.
    /// Throws `SHAPE_MISMATCH`, `NON_FINITE_INPUT` or `INVALID_DATASET`.
    #[wasm_bindgen(js_name = setTrainingData)]
    pub fn set_training_data(&self, x: Vec<f32>, y: Vec<i32>) -> Result<(), JsValue> {
        let inner = || -> Result<Dataset> {
            let s = self.state.borrow();
            let t = s.trainer.as_ref().ok_or(Error::Busy)?;
            let shape = with_trainer!(t, t => crate::train::ImageClassifier::input_shape(t.model()));
            Dataset::new(x, labels_u32(&y)?, shape, self.num_classes)
        };
        let d = inner()?;
        let mut s = self.state.borrow_mut();
        s.data = Some(d);
        s.batches.clear();
        s.cursor = 0;
        Ok(())
    }

    /// Starts epoch `epoch` (shuffle seeded by `seed + epoch`; the model's start-of-epoch
    /// step, e.g. NetAug channel sorting); returns the number of batches.
    #[wasm_bindgen(js_name = beginEpoch)]
    pub fn begin_epoch(&self, epoch: u32) -> Result<usize, JsValue> {
        self.enter_epoch(epoch, None).map_err(JsValue::from)
    }

    /// Continues epoch `epoch` at batch `batch` (a fit resumed from a checkpoint taken there):
    /// the epoch's batches as `beginEpoch` draws them, without the start-of-epoch step, which
    /// ran before the checkpoint. Returns the number of batches; `INVALID_CONFIG` when `batch`
    /// is past them.
    #[wasm_bindgen(js_name = resumeEpoch)]
    pub fn resume_epoch(&self, epoch: u32, batch: usize) -> Result<usize, JsValue> {
        self.enter_epoch(epoch, Some(batch)).map_err(JsValue::from)
    }

    /// Trains on the next batch of the epoch. Resolves to `{ step, loss, accuracy }` when
    /// `readMetrics` (one async readback), else `null`; rejects when the epoch is exhausted.
    #[wasm_bindgen(js_name = trainNext)]
    pub fn train_next(&self, read_metrics: bool) -> js_sys::Promise {
        let state = self.state.clone();
        future_to_promise(async move {
            let run = async {
                let (mut x, y, epoch, i) = state.borrow_mut().next_batch()?;
                let mut t = Session::take(&state)?;
                with_trainer!(&t, t => t.augment_batch(&mut x, epoch, i));
                let r = with_trainer!(&mut t, t => t.train_batch(&x, &y, read_metrics).await);
                state.borrow_mut().trainer = Some(t);
                let m = r?;
                serde_wasm_bindgen::to_value(&m).map_err(|e| Error::Backend(e.to_string()))
            };
            run.await.map_err(JsValue::from)
        })
    }
}
