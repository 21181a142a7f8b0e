use crate::aug::{AugConfig, AugNet, AugNetConfig, NetSpec};
use crate::data::Dataset;
use crate::engine::{BackendKind, cpu_device, init_seeded, webgpu_device};
use crate::error::{Error, Result};
use crate::models::{MfCnn, MfCnnConfig};
use crate::train::{TrainConfig, Trainer};
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

/// Runs `$body` with `$t` bound to the trainer, whatever its model type.
macro_rules! with_trainer {
    ($net:expr, $t:ident => $body:expr) => {
        match $net {
            Net::Mf($t) => $body,
            Net::Aug($t) => $body,
        }
    };
}

mod bn;
mod checkpoint;
mod epoch;
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
    bn: Option<bn::Estimate>,
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

/// An export (docs/FORMAT.md) as the SDK returns it: `{ json, safetensors: Uint8Array }`.
fn export_object(json: String, safetensors: &[u8]) -> Result<JsValue> {
    let out = js_sys::Object::new();
    let set = |k: &str, v: JsValue| js_sys::Reflect::set(&out, &k.into(), &v).map_err(|_| Error::Backend("export object".into()));
    set("json", json.into())?;
    set("safetensors", js_sys::Uint8Array::from(safetensors).into())?;
    Ok(out.into())
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
    /// `seed`, `subnets`, `subnetShrink`, `subnetAlpha`, `subnetDepth` and `enabled: false` can
    /// change; `widthList`, `expandList`, `remap`, `remapForShift`, `remapFcGrad` and
    /// `subnetKernels` shape the stored model and are fixed at creation. Throws
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
            || new.subnet_kernels != current.subnet_kernels
            || new.subnet_op_bn != current.subnet_op_bn
            || (current.subnet_op_bn && new.subnet_ops != current.subnet_ops)
        {
            return Err(Error::Config(
                "aug.widthList, expandList, remap, remapForShift, remapFcGrad, subnetKernels and subnetOpBn (with its subnetOps) are fixed when the model is created (pass them to createModel)".into(),
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
                export_object(json, &bytes)
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
