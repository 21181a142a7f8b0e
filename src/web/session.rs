use crate::aug::{AugConfig, AugNet, AugNetConfig, NetSpec};
use crate::data::Dataset;
use crate::engine::{BackendKind, cpu_device, init_seeded, webgpu_device};
use crate::error::{Error, Result};
use crate::models::{MfCnn, MfCnnConfig};
use crate::train::{BN_RESET_BATCH, BnEstimator, TrainConfig, Trainer};
use burn::tensor::Device;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

/// True when `navigator.gpu` exists in this global scope (window or worker).
fn has_navigator_gpu() -> bool {
    let global = js_sys::global();
    js_sys::Reflect::get(&global, &"navigator".into())
        .ok()
        .filter(|n| !n.is_undefined())
        .and_then(|n| js_sys::Reflect::get(&n, &"gpu".into()).ok())
        .is_some_and(|g| !g.is_undefined() && !g.is_null())
}

async fn device_for(kind: BackendKind) -> Result<(Device, &'static str)> {
    match kind {
        BackendKind::Wasm => Ok((cpu_device(), "wasm")),
        BackendKind::Webgpu | BackendKind::Auto => {
            if !has_navigator_gpu() {
                if kind == BackendKind::Auto {
                    return Ok((cpu_device(), "wasm"));
                }
                return Err(Error::WebGpuUnavailable("navigator.gpu is not defined in this context".into()));
            }
            match webgpu_device().await {
                Ok(d) => Ok((d, "webgpu")),
                Err(_) if kind == BackendKind::Auto => Ok((cpu_device(), "wasm")),
                Err(e) => Err(e),
            }
        }
    }
}

/// The trainer of either model family.
enum Net {
    Mf(Trainer<MfCnn>),
    Aug(Trainer<AugNet>),
}

/// A BatchNorm re-estimation of either model family.
enum Estimate {
    Mf(BnEstimator<MfCnn>),
    Aug(BnEstimator<AugNet>),
}

/// Runs `$body` with `$t` bound to the trainer, whatever its model type.
macro_rules! with_trainer {
    ($net:expr, $t:ident => $body:expr) => {
        match $net {
            Net::Mf($t) => $body,
            Net::Aug($t) => $body,
        }
    };
}

mod checkpoint;
mod parallel;
mod search;

/// A model config from JS: `{ model: 'mbv2-tiny' | 'mcunet' | 'proxyless-0.35' | 'mobilenetv3-0.35',
/// ...AugNetConfig }` or `MfCnnConfig` (with
/// `model: 'mfcnn'` or no `model` field).
enum ModelCfg {
    Mf(MfCnnConfig),
    Aug(AugNetConfig),
}

fn parse_model(v: JsValue) -> Result<ModelCfg> {
    let mut json: serde_json::Value = parse_json(v, "modelConfig")?;
    let model = match json.as_object_mut() {
        Some(o) => o.remove("model"),
        None => None,
    };
    let bad = |e: serde_json::Error| Error::Config(format!("modelConfig: {e}"));
    match model.as_ref().map(|m| m.as_str()) {
        None | Some(Some("mfcnn")) => Ok(ModelCfg::Mf(serde_json::from_value(json).map_err(bad)?)),
        Some(Some(name)) if NetSpec::by_name(name).is_some() => {
            // The zoo name picks the spec unless the config spells one out.
            if let (Some(o), Some(spec)) = (json.as_object_mut(), NetSpec::by_name(name))
                && !o.contains_key("spec")
            {
                o.insert("spec".into(), serde_json::to_value(spec).map_err(bad)?);
            }
            Ok(ModelCfg::Aug(serde_json::from_value(json).map_err(bad)?))
        }
        _ => Err(Error::Config(format!(
            "modelConfig.model = {}; valid: 'mfcnn', {}",
            model.unwrap_or_default(),
            NetSpec::NAMES.map(|n| format!("'{n}'")).join(", ")
        ))),
    }
}

/// The zoo model names, quoted, for error texts.
fn zoo_names() -> String {
    NetSpec::NAMES.map(|n| format!("model: '{n}'")).join(", ")
}

struct State {
    trainer: Option<Net>,
    data: Option<Dataset>,
    batches: Vec<Vec<usize>>,
    cursor: usize,
    /// Epoch index of `batches` (seeds the crop / flip draws).
    epoch: usize,
    /// BatchNorm re-estimation in progress (`resetBnBegin` … `resetBnFinish`).
    bn: Option<Estimate>,
    /// Architecture search in progress (`searchBegin` … `searchNext` until done).
    search: Option<Box<search::Search>>,
}

impl State {
    /// The next batch of the epoch, gathered: `(images, labels, epoch, batch index)`.
    fn next_batch(&mut self) -> Result<(Vec<f32>, Vec<u32>, usize, usize)> {
        let i = self.cursor;
        let idx = self.batches.get(i).ok_or_else(|| Error::Dataset("no batch left: call beginEpoch".into()))?;
        let (x, y) = self.data.as_ref().ok_or_else(|| Error::Dataset("no training data".into()))?.gather(idx);
        self.cursor += 1;
        Ok((x, y, self.epoch, i))
    }
}

/// A model with its trainer on one backend. Create with `Session.create(modelConfig,
/// trainConfig, backend)`; all methods must be awaited one after another.
#[wasm_bindgen]
pub struct Session {
    state: Rc<RefCell<State>>,
    backend: &'static str,
    num_classes: usize,
}

fn parse_json<T: serde::de::DeserializeOwned>(v: JsValue, what: &str) -> Result<T> {
    if v.is_undefined() || v.is_null() {
        return serde_wasm_bindgen::from_value(js_sys::Object::new().into()).map_err(|e| Error::Config(format!("{what}: {e}")));
    }
    serde_wasm_bindgen::from_value(v).map_err(|e| Error::Config(format!("{what}: {e}")))
}

/// `current` with the fields of the JS object `patch` replaced (absent fields keep their value).
fn merge_patch<T: serde::Serialize + serde::de::DeserializeOwned>(current: &T, patch: JsValue, what: &str) -> Result<T> {
    let patch: serde_json::Value = parse_json(patch, what)?;
    let mut merged = serde_json::to_value(current).map_err(|e| Error::Config(e.to_string()))?;
    match (merged.as_object_mut(), patch) {
        (Some(m), serde_json::Value::Object(p)) => m.extend(p),
        (_, serde_json::Value::Null) => {}
        _ => return Err(Error::Config(format!("{what} must be an object"))),
    }
    serde_json::from_value(merged).map_err(|e| Error::Config(format!("{what}: {e}")))
}

fn labels_u32(y: &[i32]) -> Result<Vec<u32>> {
    y.iter().map(|&l| u32::try_from(l).map_err(|_| Error::Dataset(format!("label {l} is negative")))).collect()
}

impl Session {
    /// [`Session::create`] for Rust callers: resolves to the session itself.
    ///
    /// # Errors
    /// A JS `Error` with code `UNKNOWN_BACKEND`, `WEBGPU_UNAVAILABLE` or `INVALID_CONFIG`.
    pub async fn open(model_config: JsValue, train_config: JsValue, backend: &str) -> Result<Session, JsValue> {
        let inner = async {
            let kind: BackendKind = backend.parse()?;
            let mc = parse_model(model_config)?;
            let tc: TrainConfig = parse_json(train_config, "trainConfig")?;
            // Both configs are checked before the (possibly slow) WebGPU initialisation.
            match &mc {
                ModelCfg::Mf(c) => c.validate()?,
                ModelCfg::Aug(c) => c.validate()?,
            }
            tc.validate()?;
            let (device, name) = device_for(kind).await?;
            device.seed(tc.seed);
            let (ad, seed) = (device.clone().autodiff(), tc.seed);
            let (net, num_classes) = match mc {
                ModelCfg::Mf(c) => (Net::Mf(Trainer::new(init_seeded(&ad, seed, |d| c.init(d))?, c.num_classes, tc)?), c.num_classes),
                ModelCfg::Aug(c) => (Net::Aug(Trainer::new(init_seeded(&ad, seed, |d| c.init(d))?, c.num_classes, tc)?), c.num_classes),
            };
            Ok::<_, Error>(Session {
                state: Rc::new(RefCell::new(State {
                    trainer: Some(net),
                    data: None,
                    batches: vec![],
                    cursor: 0,
                    epoch: 0,
                    bn: None,
                    search: None,
                })),
                backend: name,
                num_classes,
            })
        };
        inner.await.map_err(JsValue::from)
    }

    /// [`evaluate`](Self::evaluate), or [`validate`](Self::validate) when `deployed`.
    fn eval_promise(&self, x: Vec<f32>, y: Vec<i32>, deployed: bool) -> js_sys::Promise {
        let state = self.state.clone();
        let classes = self.num_classes;
        future_to_promise(async move {
            let run = async {
                let t = Session::take(&state)?;
                // The training data are moved out for the call (not copied) and put back.
                let train = if deployed { state.borrow_mut().data.take() } else { None };
                let r = async {
                    let shape = with_trainer!(&t, t => crate::train::ImageClassifier::input_shape(t.model()));
                    let d = Dataset::new(x, labels_u32(&y)?, shape, classes)?;
                    if !deployed {
                        return with_trainer!(&t, t => t.evaluate(&d).await);
                    }
                    let train = train.as_ref().ok_or_else(|| Error::Dataset("call setTrainingData first".into()))?;
                    with_trainer!(&t, t => t.validate(&d, train).await)
                }
                .await;
                let mut s = state.borrow_mut();
                s.trainer = Some(t);
                if deployed {
                    s.data = train;
                }
                serde_wasm_bindgen::to_value(&r?).map_err(|e| Error::Backend(e.to_string()))
            };
            run.await.map_err(JsValue::from)
        })
    }

    /// Takes the trainer out for the duration of an async call (`BUSY` if already out).
    fn take(state: &Rc<RefCell<State>>) -> Result<Net> {
        state.borrow_mut().trainer.take().ok_or(Error::Busy)
    }

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
    /// Creates a model from `modelConfig` (`MfCnnConfig`, or `{ model: 'mbv2-tiny', ... }` for
    /// the ShiftAddAug supernet `AugNetConfig`; camelCase JSON) with the
    /// training options `trainConfig` (see `TrainConfig`) on `backend` (`'webgpu' | 'wasm' |
    /// 'auto'`). Rejects with `UNKNOWN_BACKEND`, `WEBGPU_UNAVAILABLE` or `INVALID_CONFIG`.
    pub fn create(model_config: JsValue, train_config: JsValue, backend: String) -> js_sys::Promise {
        future_to_promise(async move { Session::open(model_config, train_config, &backend).await.map(JsValue::from) })
    }

    /// The backend actually used: `'webgpu'` or `'wasm'`.
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.backend.to_string()
    }

    /// Number of parameters of the deployed model: for a zoo model its tiny model (the
    /// training-only augmented widths and remaps excluded), else the whole model.
    #[wasm_bindgen(js_name = numParams)]
    pub fn num_params(&self) -> Result<usize, JsValue> {
        let s = self.state.borrow();
        match s.trainer.as_ref().ok_or_else(|| Error::Busy)? {
            Net::Aug(t) => Ok(t.model().tiny_param_count()),
            Net::Mf(t) => Ok(t.model().param_count()),
        }
    }

    /// Updates training options (camelCase `TrainConfig` fields; omitted ones keep their value).
    /// Throws `INVALID_CONFIG` naming the bad field; the previous config stays in force.
    pub fn configure(&self, train_config: JsValue) -> Result<(), JsValue> {
        let mut s = self.state.borrow_mut();
        let t = s.trainer.as_mut().ok_or_else(|| Error::Busy)?;
        let current = with_trainer!(&*t, t => t.config().clone());
        let cfg: TrainConfig = merge_patch(&current, train_config, "trainConfig")?;
        with_trainer!(t, t => t.set_config(cfg)).map_err(JsValue::from)
    }

    /// Updates the augmentation options of a `'mbv2-tiny'` model (camelCase `AugConfig`
    /// fields; omitted ones keep their value). `mode`, `alpha`, `stopWidthAug`, `sortChannels`,
    /// `seed` and `enabled: false` can change; `widthList`, `expandList`, `remap` and
    /// `remapForShift`, `remapFcGrad` shape the stored model and are fixed at creation. Throws
    /// `INVALID_CONFIG` (nothing changes) otherwise, or for an `'mfcnn'` model.
    #[wasm_bindgen(js_name = configureAug)]
    pub fn configure_aug(&self, aug: JsValue) -> Result<(), JsValue> {
        let mut s = self.state.borrow_mut();
        let net = s.trainer.as_mut().ok_or_else(|| Error::Busy)?;
        let Net::Aug(t) = net else {
            return Err(Error::Config(format!("augmentation options need a zoo model ({}); this is an 'mfcnn' model", zoo_names())).into());
        };
        let current = t.model().config.aug.clone();
        let new: AugConfig = merge_patch(&current, aug, "aug")?;
        new.validate()?;
        if new.width_list != current.width_list
            || new.expand_list != current.expand_list
            || new.remap != current.remap
            || new.remap_for_shift != current.remap_for_shift
            || new.remap_fc_grad != current.remap_fc_grad
        {
            return Err(Error::Config(
                "aug.widthList, expandList, remap, remapForShift and remapFcGrad are fixed when the model is created (pass them to createModel)".into(),
            ).into());
        }
        if new.enabled && !current.enabled {
            return Err(Error::Config(
                "this model was created without augmentation (aug.enabled: false); create it with aug to train augmented".into(),
            )
            .into());
        }
        t.map_model(|mut m| {
            m.config.aug = new;
            Ok(m)
        })
        .map_err(JsValue::from)
    }

    /// Starts re-estimating the BatchNorm statistics of the deployed model (a supernet's tiny
    /// model) on the first `images` training images (NetAug `reset_bn`), one batch per
    /// `resetBnStep`; returns the number of batches. Throws `INVALID_DATASET` before
    /// `setTrainingData`.
    #[wasm_bindgen(js_name = resetBnBegin)]
    pub fn reset_bn_begin(&self, images: usize) -> Result<usize, JsValue> {
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

    /// The deployed model (a zoo model's tiny model) as `{ json: string, safetensors:
    /// Uint8Array }` (docs/FORMAT.md).
    #[wasm_bindgen(js_name = exportModel)]
    pub fn export_model(&self) -> js_sys::Promise {
        let state = self.state.clone();
        future_to_promise(async move {
            let run = async {
                let net = Session::take(&state)?;
                let r = match &net {
                    Net::Aug(t) => crate::export::export_supernet(t.model()).await,
                    Net::Mf(t) => crate::export::export_mfcnn(t.model()).await,
                };
                state.borrow_mut().trainer = Some(net);
                let (json, bytes) = r?;
                let out = js_sys::Object::new();
                js_sys::Reflect::set(&out, &"json".into(), &json.into()).map_err(|_| Error::Backend("export object".into()))?;
                js_sys::Reflect::set(&out, &"safetensors".into(), &js_sys::Uint8Array::from(bytes.as_slice()).into())
                    .map_err(|_| Error::Backend("export object".into()))?;
                Ok::<JsValue, Error>(out.into())
            };
            run.await.map_err(JsValue::from)
        })
    }

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

    /// Loss and accuracy on `(x, y)` in eval mode: `{ loss, accuracy, count }`.
    pub fn evaluate(&self, x: Vec<f32>, y: Vec<i32>) -> js_sys::Promise {
        self.eval_promise(x, y, false)
    }

    /// Loss and accuracy on `(x, y)` of the model as it will be deployed, during training: its
    /// BN statistics are first re-estimated on a copy from `evalBnImages` training images (see
    /// `TrainConfig`). `{ loss, accuracy, count }`; rejects with
    /// `INVALID_DATASET` before `setTrainingData`.
    pub fn validate(&self, x: Vec<f32>, y: Vec<i32>) -> js_sys::Promise {
        self.eval_promise(x, y, true)
    }

    /// Test hook: panics inside an async call, as an out-of-memory abort would (the module
    /// traps and is unusable afterwards). Not part of the SDK's API.
    #[wasm_bindgen(js_name = testTrap)]
    pub fn test_trap(&self) -> js_sys::Promise {
        future_to_promise(async move { panic!("testTrap: deliberate trap") })
    }

    /// Class probabilities (`Float32Array` of `n * numClasses`) for `n` images in `x`.
    /// Rejects with `SHAPE_MISMATCH` when `x.length != n * c * h * w`, `NON_FINITE_INPUT` on NaN/Inf.
    pub fn predict(&self, x: Vec<f32>, n: usize) -> js_sys::Promise {
        let state = self.state.clone();
        future_to_promise(async move {
            let run = async {
                let t = Session::take(&state)?;
                let r = with_trainer!(&t, t => t.predict(&x, n).await);
                state.borrow_mut().trainer = Some(t);
                Ok::<_, Error>(js_sys::Float32Array::from(r?.as_slice()).into())
            };
            run.await.map_err(JsValue::from)
        })
    }
}
