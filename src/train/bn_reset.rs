//! BatchNorm re-estimation (NetAug `reset_bn`): every BN of the deployed model (a supernet's
//! tiny model, or a plain model) gets the cumulative average of its batch statistics over the
//! first `images` training images, in order.
//!
//! The passes run on a copy of the model on the inner (non-autodiff) device with the BNs in
//! [`BnMode::Estimate`]: no graph is recorded, nothing is read back, and each batch's
//! activations are freed before the next one, so peak memory is that of one forward batch
//! whatever the number of images. [`BnEstimator`] runs one batch per [`step`](BnEstimator::step),
//! so a caller can report progress and stop between batches; [`reset_bn`] runs them all.

use super::ImageClassifier;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::nn::{BnMode, DEFAULT_MOMENTUM};
use burn::tensor::{Device, Tensor, TensorData};

/// Images per re-estimation batch unless a caller says otherwise.
pub const BN_RESET_BATCH: usize = 250;

/// Images the deployed model's BatchNorm statistics are re-estimated on after training, unless
/// a caller says otherwise (NetAug's default; the CLI's `--bn-reset` and the SDK's `resetBn`).
pub const BN_RESET_IMAGES: usize = 16_000;

/// The most images of that re-estimation after a fit was stopped during training (the SDK's
/// `signal`): the user is waiting.
pub const BN_RESET_IMAGES_AFTER_STOP: usize = 500;

/// A BatchNorm re-estimation in progress; see the module docs.
pub struct BnEstimator<M> {
    /// Inner-device copy of the model, BNs in [`BnMode::Estimate`].
    model: M,
    /// The copy's device.
    device: Device,
    /// Images used: `min(images, data.len())`.
    images: usize,
    batch: usize,
    /// Batches done.
    done: usize,
}

impl<M: ImageClassifier> BnEstimator<M> {
    /// Prepares the re-estimation of `model`'s BN statistics on the first `images` images of
    /// `data` in batches of `batch`; `model` itself is not touched until [`finish`](Self::finish).
    ///
    /// # Errors
    /// [`Error::Shape`] when the images do not fit the model, [`Error::Config`] for `batch = 0`.
    pub fn new(model: &M, data: &Dataset, images: usize, batch: usize) -> Result<Self> {
        if data.image_shape != model.input_shape() {
            return Err(Error::Shape(format!("dataset images are {:?}, model expects {:?}", data.image_shape, model.input_shape())));
        }
        if batch == 0 {
            return Err(Error::Config("BN re-estimation batch must be >= 1".into()));
        }
        let mut copy = model.valid();
        for bn in copy.bns_mut() {
            bn.mode = BnMode::Estimate;
        }
        let device = copy.devices().first().cloned().ok_or_else(|| Error::Config("model has no parameters".into()))?;
        Ok(Self { model: copy, device, images: images.min(data.len()), batch, done: 0 })
    }

    /// [`new`](Self::new), then every batch.
    ///
    /// # Errors
    /// As [`new`](Self::new) and [`step`](Self::step).
    pub fn run(model: &M, data: &Dataset, images: usize, batch: usize) -> Result<Self> {
        let mut e = Self::new(model, data, images, batch)?;
        while e.step(data)? {}
        Ok(e)
    }

    /// Number of batches in all.
    pub fn batches(&self) -> usize {
        self.images.div_ceil(self.batch)
    }

    /// Runs the next batch (a tiny-model forward pass); `Ok(false)` once every batch is done.
    /// `data` must be the dataset given to [`new`](Self::new).
    ///
    /// # Errors
    /// [`Error::Shape`] when `data` does not fit the model.
    pub fn step(&mut self, data: &Dataset) -> Result<bool> {
        if self.done >= self.batches() {
            return Ok(false);
        }
        let start = self.done * self.batch;
        let end = (start + self.batch).min(self.images);
        let idx: Vec<usize> = (start..end).collect();
        let (x, _) = data.gather(&idx);
        let [c, h, w] = data.image_shape;
        let x = Tensor::<4>::from_data(TensorData::new(x, [end - start, c, h, w]), &self.device);
        // Batch k enters the cumulative average with weight 1 / (k + 1).
        let momentum = 1.0 / (self.done + 1) as f64;
        for bn in self.model.bns_mut() {
            bn.momentum = momentum;
        }
        let _ = self.model.logits(x)?;
        self.done += 1;
        Ok(self.done < self.batches())
    }

    /// The estimate so far, as a model on the inner device in eval mode (for evaluation
    /// without touching the trained model).
    pub fn into_model(mut self) -> M {
        for bn in self.model.bns_mut() {
            (bn.mode, bn.momentum) = (BnMode::ByDevice, DEFAULT_MOMENTUM);
        }
        self.model
    }

    /// `model` with the statistics estimated so far (every batch done, or fewer when the
    /// caller stopped early; unchanged when none was done). `model` must be the model given
    /// to [`new`](Self::new), on any device.
    pub fn finish(self, mut model: M) -> M {
        let mut copy = self.model;
        if self.done > 0 {
            for (from, to) in copy.bns_mut().into_iter().zip(model.bns_mut()) {
                let (mean, var) = from.statistics();
                to.set_statistics(mean, var);
            }
        }
        model
    }
}

/// Re-estimates `model`'s BN statistics on up to `images` images of `data` in batches of
/// `batch` (see the module docs); `model` may be on any device and stays there.
///
/// # Errors
/// As [`BnEstimator::new`] and [`BnEstimator::step`].
pub fn reset_bn<M: ImageClassifier>(model: M, data: &Dataset, images: usize, batch: usize) -> Result<M> {
    Ok(BnEstimator::run(&model, data, images, batch)?.finish(model))
}
