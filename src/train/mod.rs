//! The training loop: our own async loop over burn-optim (no burn-train `Learner`: it spawns
//! threads). Device readbacks are async only and happen every `log_every` steps (one small
//! readback of loss and correct count), at the end of [`Trainer::evaluate`] and in
//! [`Trainer::predict`].

mod bn_reset;
pub mod checkpoint;
mod config;
pub mod grads;
mod optim;

pub use bn_reset::{BN_RESET_BATCH, BN_RESET_IMAGES, BN_RESET_IMAGES_AFTER_STOP, BnEstimator, reset_bn};
pub use config::{OptimizerKind, TrainConfig};
pub use grads::FlatGradients;

use crate::data::{Dataset, batch_seed, check_images, check_labels, random_crop_flip};
use crate::error::{Error, Result};
use crate::nn::DynBn;
use crate::ops::adaptive_grad_scale;
use burn::module::{Module, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{Device, Int, Tensor, TensorData};
use optim::{ParamOptimizer, Rule};

/// A model the trainer can fit: images in, logits out.
pub trait ImageClassifier: Module + Sized {
    /// Logits `[n, classes]` for images `[n, c, h, w]`.
    ///
    /// # Errors
    /// [`Error::Shape`] when the images do not fit the model.
    fn logits(&self, x: Tensor<4>) -> Result<Tensor<2>>;
    /// Expected `[c, h, w]` of one image.
    fn input_shape(&self) -> [usize; 3];
    /// Parameters consumed by adder convolutions (they get AdderNet's adaptive gradient scaling).
    fn adder_weight_ids(&self) -> Vec<ParamId>;
    /// Sets AdderNet's gradient scaling η ([`TrainConfig::adder_eta`]) where the model applies
    /// it itself, in its forward pass (the supernets). Default: nothing (the trainer scales the
    /// gradients of [`adder_weight_ids`](Self::adder_weight_ids)).
    fn set_adder_eta(&mut self, eta: Option<f32>) {
        let _ = eta;
    }
    /// Logits of every pass trained at this step with their loss weights; the first one is
    /// the model that is reported (metrics) and deployed. Default: one pass, weight 1.
    ///
    /// # Errors
    /// As [`logits`](Self::logits).
    fn training_passes(&self, x: Tensor<4>, progress: Progress) -> Result<Vec<(Tensor<2>, f32)>> {
        let _ = progress;
        Ok(vec![(self.logits(x)?, 1.0)])
    }
    /// Extra differentiable loss terms of this step (e.g. a remap regulariser). Default none.
    fn extra_loss(&self) -> Option<Tensor<1>> {
        None
    }
    /// The BatchNorms of the deployed model, in forward order: those that
    /// [`BnEstimator`] re-estimates before deployment. Default: none.
    fn bns_mut(&mut self) -> Vec<&mut DynBn> {
        Vec::new()
    }
    /// The model to evaluate during training: the one the user will get, on the inner device.
    /// A model with BatchNorms gets a copy with its statistics re-estimated on the first
    /// `bn_images` images of `train` (running statistics lag the weights, badly so in adder
    /// nets); `bn_images = 0` or no BatchNorm: the running statistics. `self` is not changed.
    ///
    /// # Errors
    /// [`Error::Shape`] when `train` does not fit the model.
    fn eval_model(&self, train: &Dataset, bn_images: usize) -> Result<Self> {
        let mut copy = self.valid();
        if bn_images == 0 || copy.bns_mut().is_empty() {
            return Ok(copy);
        }
        Ok(BnEstimator::run(&copy, train, bn_images, BN_RESET_BATCH)?.into_model())
    }
    /// Called at the start of every epoch (e.g. NetAug channel sorting). Default: unchanged.
    fn begin_epoch(self, progress: Progress) -> Self {
        let _ = progress;
        self
    }
}

/// Where training stands, for schedule-dependent model behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Optimisation steps taken so far (0-based index of the current step).
    pub step: usize,
    /// Planned total steps (the cosine schedule's), if known.
    pub total_steps: Option<usize>,
}

/// Metrics of one training batch (read back from the device).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchMetrics {
    /// Global step (1-based) after this batch.
    pub step: usize,
    /// Mean cross-entropy (with label smoothing if configured) of the batch, for the first
    /// (deployed) pass.
    pub loss: f32,
    /// Fraction of the batch classified correctly.
    pub accuracy: f32,
}

/// Loss and accuracy over a dataset.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EvalMetrics {
    /// Mean cross-entropy (no label smoothing).
    pub loss: f32,
    /// Fraction classified correctly.
    pub accuracy: f32,
    /// Number of examples.
    pub count: usize,
}

/// The gradient of one part of a batch ([`Trainer::part_gradients`]), already scaled by the
/// part's share, on the model's inner device.
pub struct PartGradients {
    /// Parameter gradients.
    pub grads: GradientsParams,
    /// The part's share of the batch's reported loss (scalar).
    pub loss: Tensor<1>,
    /// Examples of the part classified correctly (scalar).
    pub correct: Tensor<1>,
}

impl PartGradients {
    /// Reads the part back (async) as `(gradient, loss share, correct count)`.
    ///
    /// # Errors
    /// [`Error::Backend`] when a readback fails.
    pub async fn read<M: Module>(self, model: &M) -> Result<(FlatGradients, f32, f32)> {
        let flat = FlatGradients::read(model, &self.grads).await?;
        let v = read_floats(Tensor::cat(vec![self.loss.reshape([1]), self.correct.reshape([1])], 0)).await?;
        Ok((flat, v[0], v[1]))
    }
}

/// Trains one model on one device. Create the model on `device.autodiff()`.
pub struct Trainer<M: ImageClassifier> {
    model: Option<M>,
    optim: ParamOptimizer,
    device: Device,
    config: TrainConfig,
    step: usize,
    num_classes: usize,
}

/// Input tensors of one batch, checked.
fn batch_tensors(
    images: &[f32],
    labels: &[u32],
    shape: [usize; 3],
    classes: usize,
    device: &Device,
) -> Result<(Tensor<4>, Tensor<1, Int>, usize)> {
    let n = labels.len();
    if n == 0 {
        return Err(Error::Shape("empty batch".into()));
    }
    check_images(images, n, shape)?;
    check_labels(labels, classes)?;
    let x = Tensor::<4>::from_data(TensorData::new(images.to_vec(), [n, shape[0], shape[1], shape[2]]), device);
    let y = Tensor::<1, Int>::from_data(TensorData::new(labels.iter().map(|&l| l as i32).collect::<Vec<_>>(), [n]), device);
    Ok((x, y, n))
}

/// Smoothed one-hot targets `[n, k]`: `1 - ε + ε/k` on the label, `ε/k` elsewhere.
fn targets(labels: &[u32], k: usize, eps: f32, device: &Device) -> Tensor<2> {
    let off = eps / k as f32;
    let mut t = vec![off; labels.len() * k];
    for (i, &l) in labels.iter().enumerate() {
        t[i * k + l as usize] = 1.0 - eps + off;
    }
    Tensor::from_data(TensorData::new(t, [labels.len(), k]), device)
}

/// `[mean loss, correct count]` as one tensor, so that metrics cost a single readback.
pub(crate) fn loss_and_correct(
    logits: Tensor<2>,
    labels: &[u32],
    y: Tensor<1, Int>,
    k: usize,
    eps: f32,
    device: &Device,
) -> (Tensor<1>, Tensor<1>) {
    let [n, _] = logits.dims();
    let logp = log_softmax(logits.clone(), 1);
    let loss = logp.mul(targets(labels, k, eps, device)).sum_dim(1).mean().neg();
    let correct = logits.argmax(1).reshape([n]).equal(y).int().float().sum();
    (loss, correct)
}

/// The per-parameter rule of `config`: Adam (burn's defaults), or SGD with Nesterov momentum;
/// weight decay.
pub(crate) fn make_rule(config: &TrainConfig) -> Rule {
    let weight_decay = config.weight_decay;
    match config.optimizer {
        OptimizerKind::Adam => Rule::Adam { beta_1: 0.9, beta_2: 0.999, epsilon: 1e-5, weight_decay },
        OptimizerKind::Sgd => Rule::Sgd { momentum: config.momentum, dampening: 0.0, nesterov: true, weight_decay },
    }
}

pub(crate) fn make_optimizer(config: &TrainConfig) -> ParamOptimizer {
    ParamOptimizer::new(make_rule(config))
}

async fn read_floats(t: Tensor<1>) -> Result<Vec<f32>> {
    let data = t.into_data_async().await.map_err(|e| Error::Backend(format!("readback failed: {e:?}")))?;
    data.try_into_vec_as::<f32>().map_err(|e| Error::Backend(format!("readback dtype: {e:?}")))
}

impl<M: ImageClassifier> Trainer<M> {
    /// A trainer for `model`, which must live on an autodiff device.
    ///
    /// # Errors
    /// [`Error::Config`] when the config is invalid or the model is not on an autodiff device.
    pub fn new(model: M, num_classes: usize, config: TrainConfig) -> Result<Self> {
        config.validate()?;
        let device = model.devices().first().cloned().ok_or_else(|| Error::Config("model has no parameters".into()))?;
        if !device.is_autodiff() {
            return Err(Error::Config("create the model on `device.autodiff()` to train it".into()));
        }
        let optim = make_optimizer(&config);
        let mut model = model;
        model.set_adder_eta(config.adder_eta);
        Ok(Self { model: Some(model), optim, device, config, step: 0, num_classes })
    }

    /// The model being trained.
    pub fn model(&self) -> &M {
        self.model.as_ref().expect("model is present between steps")
    }

    /// Consumes the trainer, returning the model.
    pub fn into_model(mut self) -> M {
        self.model.take().expect("model is present between steps")
    }

    /// The training config.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Replaces the training config (validated first). The optimiser state is kept unless the
    /// optimiser kind changes.
    ///
    /// # Errors
    /// [`Error::Config`] when the new config is invalid; the old one stays in force.
    pub fn set_config(&mut self, config: TrainConfig) -> Result<()> {
        config.validate()?;
        if config.optimizer != self.config.optimizer
            || config.momentum != self.config.momentum
            || config.weight_decay != self.config.weight_decay
        {
            self.optim = make_optimizer(&config);
        }
        if let Some(m) = self.model.as_mut() {
            m.set_adder_eta(config.adder_eta);
        }
        self.config = config;
        Ok(())
    }

    /// Steps taken so far.
    pub fn step(&self) -> usize {
        self.step
    }

    fn progress(&self) -> Progress {
        Progress { step: self.step, total_steps: self.config.total_steps }
    }

    /// Runs the model's start-of-epoch hook ([`ImageClassifier::begin_epoch`]); [`fit_epoch`]
    /// calls it, callers that drive batches themselves call it before each epoch.
    ///
    /// [`fit_epoch`]: Self::fit_epoch
    pub fn start_epoch(&mut self) {
        let progress = self.progress();
        let model = self.model.take().expect("model is present between steps");
        self.model = Some(model.begin_epoch(progress));
    }

    /// Replaces the model by `f(model)` (same parameters ids, so the optimiser state stays
    /// attached). On error the trainer keeps the model `f` returned nothing for: `f` must
    /// not fail after consuming it, so it gets the model back on `Err`.
    ///
    /// # Errors
    /// Whatever `f` returns.
    pub fn map_model(&mut self, f: impl FnOnce(M) -> std::result::Result<M, (M, Error)>) -> Result<()> {
        let model = self.model.take().expect("model is present between steps");
        match f(model) {
            Ok(m) => {
                self.model = Some(m);
                Ok(())
            }
            Err((m, e)) => {
                self.model = Some(m);
                Err(e)
            }
        }
    }

    /// Applies the configured random crop / flip (`crop_padding`, `horizontal_flip`) in place to
    /// the images of batch `batch` of epoch `epoch`; the draws depend only on
    /// `(seed, epoch, batch)`. Call it on a gathered batch before [`train_batch`](Self::train_batch).
    pub fn augment_batch(&self, images: &mut [f32], epoch: usize, batch: usize) {
        let c = &self.config;
        random_crop_flip(images, self.model().input_shape(), c.crop_padding, c.horizontal_flip, batch_seed(c.seed, epoch, batch));
    }

    /// One optimisation step on a batch: the gradient of each of `micro_batches` parts (see
    /// [`grads::part_range`]) in turn, summed with the parts' shares as weights, then one update.
    /// Reads metrics back (async) only when `read_metrics`.
    ///
    /// # Errors
    /// [`Error::Shape`], [`Error::NonFinite`], [`Error::Dataset`] for bad inputs (the model is
    /// left untouched), [`Error::Backend`] when the readback fails.
    pub async fn train_batch(&mut self, images: &[f32], labels: &[u32], read_metrics: bool) -> Result<Option<BatchMetrics>> {
        let parts = self.config.micro_batches;
        let mut total: Option<PartGradients> = None;
        for part in 0..parts {
            let Some(g) = self.part_gradients(images, labels, part, parts)? else { continue };
            total = Some(match total {
                None => g,
                Some(t) => PartGradients {
                    grads: grads::accumulate(self.model(), t.grads, g.grads),
                    loss: t.loss + g.loss,
                    correct: t.correct + g.correct,
                },
            });
        }
        let total = total.ok_or_else(|| Error::Shape("empty batch".into()))?;
        self.apply_gradients(total.grads);
        if !read_metrics {
            return Ok(None);
        }
        let v = read_floats(Tensor::cat(vec![total.loss.reshape([1]), total.correct.reshape([1])], 0)).await?;
        Ok(Some(BatchMetrics { step: self.step, loss: v[0], accuracy: v[1] / labels.len() as f32 }))
    }

    /// The gradient of the training loss on part `part` of `parts` of the batch
    /// ([`grads::part_range`]), scaled by the part's share of the batch, with its share of the
    /// reported loss; `None` for an empty part. The model is not changed: data-parallel
    /// replicas each compute one part, sum them in part order and
    /// [`apply_gradients`](Self::apply_gradients) the same sum.
    ///
    /// # Errors
    /// [`Error::Shape`], [`Error::NonFinite`], [`Error::Dataset`] for bad inputs,
    /// [`Error::Config`] when `part >= parts`.
    pub fn part_gradients(&self, images: &[f32], labels: &[u32], part: usize, parts: usize) -> Result<Option<PartGradients>> {
        let model = self.model();
        let shape = model.input_shape();
        let n = labels.len();
        if n == 0 {
            return Err(Error::Shape("empty batch".into()));
        }
        check_images(images, n, shape)?;
        let (start, end) = grads::part_range(n, part, parts)?;
        if start == end {
            return Ok(None);
        }
        let per = shape.iter().product::<usize>();
        let labels = &labels[start..end];
        let (x, y, _) = batch_tensors(&images[start * per..end * per], labels, shape, self.num_classes, &self.device)?;
        let passes = model.training_passes(x, self.progress())?;
        let mut loss: Option<Tensor<1>> = None;
        let mut correct: Option<Tensor<1>> = None;
        let mut report: Option<Tensor<1>> = None;
        for (logits, weight) in passes {
            let (l, c) = loss_and_correct(logits, labels, y.clone(), self.num_classes, self.config.label_smoothing, &self.device);
            if correct.is_none() {
                correct = Some(c);
                report = Some(l.clone().detach());
            }
            let l = if weight == 1.0 { l } else { l.mul_scalar(weight) };
            loss = Some(match loss {
                Some(s) => s + l,
                None => l,
            });
        }
        let (Some(mut loss), Some(correct), Some(report)) = (loss, correct, report) else {
            return Err(Error::Config("the model returned no training pass".into()));
        };
        if let Some(extra) = model.extra_loss() {
            loss = loss + extra;
        }
        let g = GradientsParams::from_grads(loss.backward(), model);
        let share = (end - start) as f32 / n as f32;
        let (grads, loss) = if end - start == n { (g, report) } else { (grads::scale(model, g, share), report.mul_scalar(share)) };
        Ok(Some(PartGradients { grads, loss: loss.inner(), correct: correct.inner() }))
    }

    /// One optimiser update with `grads` (a whole batch's gradient): AdderNet's adaptive scaling
    /// of adder weights, the scheduled learning rate, one step.
    pub fn apply_gradients(&mut self, mut grads: GradientsParams) {
        let model = self.model.take().expect("model is present between steps");
        if let Some(eta) = self.config.adder_eta {
            for id in model.adder_weight_ids() {
                if let Some(g) = grads.remove::<4>(id) {
                    grads.register(id, adaptive_grad_scale(g, eta));
                }
            }
        }
        let lr = self.config.learning_rate_at(self.step);
        self.model = Some(self.optim.step(lr, model, grads));
        self.step += 1;
    }

    /// [`apply_gradients`](Self::apply_gradients) with a gradient summed over replicas.
    ///
    /// # Errors
    /// [`Error::Shape`] when `grads` does not fit this model (the model is not changed).
    pub fn apply_flat_gradients(&mut self, grads: &FlatGradients) -> Result<()> {
        let g = grads.to_params(self.model(), &self.device.clone().inner())?;
        self.apply_gradients(g);
        Ok(())
    }

    /// One epoch over `data` (seeded shuffle `seed + epoch`, then [`augment_batch`](Self::augment_batch)). Calls `on_batch` with the
    /// metrics of every `log_every`-th batch and of the last one; it returns `false` to stop.
    ///
    /// # Errors
    /// As [`train_batch`](Self::train_batch); [`Error::Aborted`] when `on_batch` stops the epoch.
    pub async fn fit_epoch(
        &mut self,
        data: &Dataset,
        epoch: usize,
        on_batch: &mut dyn FnMut(&BatchMetrics) -> bool,
    ) -> Result<EvalMetrics> {
        let batches = data.epoch_batches(self.config.batch_size, self.config.seed.wrapping_add(epoch as u64));
        self.start_epoch();
        let (mut loss_sum, mut acc_sum, mut reads) = (0.0f64, 0.0f64, 0usize);
        let last = batches.len().saturating_sub(1);
        for (i, idx) in batches.iter().enumerate() {
            let (mut x, y) = data.gather(idx);
            self.augment_batch(&mut x, epoch, i);
            let read = i == last || (i + 1) % self.config.log_every == 0;
            if let Some(m) = self.train_batch(&x, &y, read).await? {
                loss_sum += m.loss as f64;
                acc_sum += m.accuracy as f64;
                reads += 1;
                if !on_batch(&m) {
                    return Err(Error::Aborted);
                }
            }
        }
        let reads = reads.max(1) as f64;
        Ok(EvalMetrics { loss: (loss_sum / reads) as f32, accuracy: (acc_sum / reads) as f32, count: data.len() })
    }

    /// Loss and accuracy of the model in eval mode (BatchNorm running statistics) on `data`.
    /// Sums stay on the device; one readback at the end.
    ///
    /// # Errors
    /// [`Error::Shape`] / [`Error::Dataset`] when `data` does not fit the model.
    pub async fn evaluate(&self, data: &Dataset) -> Result<EvalMetrics> {
        evaluate(self.model(), self.num_classes, data, self.config.eval_batch_size).await
    }

    /// Loss and accuracy on `data` of the model the user will get
    /// ([`ImageClassifier::eval_model`] with the config's `eval_bn_images` images of `train`):
    /// the training-time evaluation.
    ///
    /// # Errors
    /// As [`evaluate`](Self::evaluate), also for `train`.
    pub async fn validate(&self, data: &Dataset, train: &Dataset) -> Result<EvalMetrics> {
        let model = self.model().eval_model(train, self.config.eval_bn_images)?;
        evaluate(&model, self.num_classes, data, self.config.eval_batch_size).await
    }

    /// Class probabilities `[n, classes]` (row-major) for `n` images.
    ///
    /// # Errors
    /// [`Error::Shape`] when `images.len()` is not `n * c * h * w`, [`Error::NonFinite`] on NaN/Inf.
    pub async fn predict(&self, images: &[f32], n: usize) -> Result<Vec<f32>> {
        predict(self.model(), images, n).await
    }
}

/// Evaluates `model` (any device; run in eval mode on the device without autodiff).
///
/// # Errors
/// As [`Trainer::evaluate`].
pub async fn evaluate<M: ImageClassifier>(model: &M, num_classes: usize, data: &Dataset, batch_size: usize) -> Result<EvalMetrics> {
    if data.is_empty() {
        return Err(Error::Dataset("cannot evaluate on an empty dataset".into()));
    }
    if data.image_shape != model.input_shape() {
        return Err(Error::Shape(format!("dataset images are {:?}, model expects {:?}", data.image_shape, model.input_shape())));
    }
    let model = model.valid();
    let device = model.devices().first().cloned().ok_or_else(|| Error::Config("model has no parameters".into()))?;
    let mut loss_sum: Option<Tensor<1>> = None;
    let mut correct_sum: Option<Tensor<1>> = None;
    let idx: Vec<usize> = (0..data.len()).collect();
    for chunk in idx.chunks(batch_size.max(1)) {
        let (x, y) = data.gather(chunk);
        let (xt, yt, n) = batch_tensors(&x, &y, data.image_shape, num_classes, &device)?;
        let (loss, correct) = loss_and_correct(model.logits(xt)?, &y, yt, num_classes, 0.0, &device);
        let loss = loss.mul_scalar(n as f32);
        loss_sum = Some(match loss_sum {
            Some(s) => s + loss,
            None => loss,
        });
        correct_sum = Some(match correct_sum {
            Some(s) => s + correct,
            None => correct,
        });
    }
    let v = read_floats(Tensor::cat(vec![loss_sum.unwrap().reshape([1]), correct_sum.unwrap().reshape([1])], 0)).await?;
    let n = data.len() as f32;
    Ok(EvalMetrics { loss: v[0] / n, accuracy: v[1] / n, count: data.len() })
}

/// Class probabilities for `n` images with `model` in eval mode.
///
/// # Errors
/// As [`Trainer::predict`].
pub async fn predict<M: ImageClassifier>(model: &M, images: &[f32], n: usize) -> Result<Vec<f32>> {
    let shape = model.input_shape();
    if n == 0 {
        return Err(Error::Shape("predict needs at least one image (n = 0)".into()));
    }
    check_images(images, n, shape)?;
    let model = model.valid();
    let device = model.devices().first().cloned().ok_or_else(|| Error::Config("model has no parameters".into()))?;
    let x = Tensor::<4>::from_data(TensorData::new(images.to_vec(), [n, shape[0], shape[1], shape[2]]), &device);
    let probs = softmax(model.logits(x)?, 1);
    let [rows, cols] = probs.dims();
    read_floats(probs.reshape([rows * cols])).await
}
