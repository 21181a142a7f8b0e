use super::js_error;
use crate::data::Dataset;
use crate::engine::{BackendKind, cpu_device, webgpu_device};
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

struct State {
    trainer: Option<Trainer<MfCnn>>,
    data: Option<Dataset>,
    batches: Vec<Vec<usize>>,
    cursor: usize,
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
        return serde_wasm_bindgen::from_value(js_sys::Object::new().into())
            .map_err(|e| Error::Config(format!("{what}: {e}")));
    }
    serde_wasm_bindgen::from_value(v).map_err(|e| Error::Config(format!("{what}: {e}")))
}

fn labels_u32(y: &[i32]) -> Result<Vec<u32>> {
    y.iter()
        .map(|&l| u32::try_from(l).map_err(|_| Error::Dataset(format!("label {l} is negative"))))
        .collect()
}

impl Session {
    /// [`Session::create`] for Rust callers: resolves to the session itself.
    ///
    /// # Errors
    /// A JS `Error` with code `UNKNOWN_BACKEND`, `WEBGPU_UNAVAILABLE` or `INVALID_CONFIG`.
    pub async fn open(model_config: JsValue, train_config: JsValue, backend: &str) -> Result<Session, JsValue> {
        let inner = async {
            let kind: BackendKind = backend.parse()?;
            let mc: MfCnnConfig = parse_json(model_config, "modelConfig")?;
            let tc: TrainConfig = parse_json(train_config, "trainConfig")?;
            // Both configs are checked before the (possibly slow) WebGPU initialisation.
            mc.validate()?;
            tc.validate()?;
            let (device, name) = device_for(kind).await?;
            device.seed(tc.seed);
            let model = mc.init(&device.clone().autodiff())?;
            let trainer = Trainer::new(model, mc.num_classes, tc)?;
            Ok::<_, Error>(Session {
                state: Rc::new(RefCell::new(State { trainer: Some(trainer), data: None, batches: vec![], cursor: 0 })),
                backend: name,
                num_classes: mc.num_classes,
            })
        };
        inner.await.map_err(js_error)
    }

    /// Takes the trainer out for the duration of an async call (`BUSY` if already out).
    fn take(state: &Rc<RefCell<State>>) -> Result<Trainer<MfCnn>> {
        state.borrow_mut().trainer.take().ok_or(Error::Busy)
    }
}

#[wasm_bindgen]
impl Session {
    /// Creates a model from `modelConfig` (see `MfCnnConfig`, camelCase JSON) with the
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

    /// Number of parameters of the model.
    #[wasm_bindgen(js_name = numParams)]
    pub fn num_params(&self) -> Result<usize, JsValue> {
        let s = self.state.borrow();
        let t = s.trainer.as_ref().ok_or_else(|| js_error(Error::Busy))?;
        Ok(burn::module::Module::num_params(t.model()))
    }

    /// Updates training options (camelCase `TrainConfig` fields; omitted ones keep their value).
    /// Throws `INVALID_CONFIG` naming the bad field; the previous config stays in force.
    pub fn configure(&self, train_config: JsValue) -> Result<(), JsValue> {
        let mut s = self.state.borrow_mut();
        let t = s.trainer.as_mut().ok_or_else(|| js_error(Error::Busy))?;
        let patch: serde_json::Value = parse_json(train_config, "trainConfig").map_err(js_error)?;
        let mut merged = serde_json::to_value(t.config()).map_err(|e| js_error(Error::Config(e.to_string())))?;
        match (merged.as_object_mut(), patch) {
            (Some(m), serde_json::Value::Object(p)) => m.extend(p),
            (_, serde_json::Value::Null) => {}
            _ => return Err(js_error(Error::Config("trainConfig must be an object".into()))),
        }
        let cfg: TrainConfig = serde_json::from_value(merged).map_err(|e| js_error(Error::Config(format!("trainConfig: {e}"))))?;
        t.set_config(cfg).map_err(js_error)
    }

    /// Sets the training data: `x` holds `n` images of the model's input shape, `y` `n` labels.
    /// Throws `SHAPE_MISMATCH`, `NON_FINITE_INPUT` or `INVALID_DATASET`.
    #[wasm_bindgen(js_name = setTrainingData)]
    pub fn set_training_data(&self, x: Vec<f32>, y: Vec<i32>) -> Result<(), JsValue> {
        let inner = || -> Result<Dataset> {
            let s = self.state.borrow();
            let t = s.trainer.as_ref().ok_or(Error::Busy)?;
            let shape = crate::train::ImageClassifier::input_shape(t.model());
            Dataset::new(x, labels_u32(&y)?, shape, self.num_classes)
        };
        let d = inner().map_err(js_error)?;
        let mut s = self.state.borrow_mut();
        s.data = Some(d);
        s.batches.clear();
        s.cursor = 0;
        Ok(())
    }

    /// Starts epoch `epoch` (shuffle seeded by `seed + epoch`); returns the number of batches.
    #[wasm_bindgen(js_name = beginEpoch)]
    pub fn begin_epoch(&self, epoch: u32) -> Result<usize, JsValue> {
        let mut s = self.state.borrow_mut();
        let t = s.trainer.as_ref().ok_or_else(|| js_error(Error::Busy))?;
        let (bs, seed) = (t.config().batch_size, t.config().seed);
        let data = s.data.as_ref().ok_or_else(|| js_error(Error::Dataset("call setTrainingData first".into())))?;
        let batches = data.epoch_batches(bs, seed.wrapping_add(epoch as u64));
        let n = batches.len();
        s.batches = batches;
        s.cursor = 0;
        Ok(n)
    }

    /// Trains on the next batch of the epoch. Resolves to `{ step, loss, accuracy }` when
    /// `readMetrics` (one async readback), else `null`; rejects when the epoch is exhausted.
    #[wasm_bindgen(js_name = trainNext)]
    pub fn train_next(&self, read_metrics: bool) -> js_sys::Promise {
        let state = self.state.clone();
        future_to_promise(async move {
            let run = async {
                let (x, y) = {
                    let mut s = state.borrow_mut();
                    let i = s.cursor;
                    let idx = s.batches.get(i).cloned().ok_or_else(|| Error::Dataset("no batch left: call beginEpoch".into()))?;
                    s.cursor += 1;
                    s.data.as_ref().ok_or_else(|| Error::Dataset("no training data".into()))?.gather(&idx)
                };
                let mut t = Session::take(&state)?;
                let r = t.train_batch(&x, &y, read_metrics).await;
                state.borrow_mut().trainer = Some(t);
                let m = r?;
                serde_wasm_bindgen::to_value(&m).map_err(|e| Error::Backend(e.to_string()))
            };
            run.await.map_err(js_error)
        })
    }

    /// Loss and accuracy on `(x, y)` in eval mode: `{ loss, accuracy, count }`.
    pub fn evaluate(&self, x: Vec<f32>, y: Vec<i32>) -> js_sys::Promise {
        let state = self.state.clone();
        let classes = self.num_classes;
        future_to_promise(async move {
            let run = async {
                let t = Session::take(&state)?;
                let shape = crate::train::ImageClassifier::input_shape(t.model());
                let r = async {
                    let d = Dataset::new(x, labels_u32(&y)?, shape, classes)?;
                    t.evaluate(&d).await
                }
                .await;
                state.borrow_mut().trainer = Some(t);
                serde_wasm_bindgen::to_value(&r?).map_err(|e| Error::Backend(e.to_string()))
            };
            run.await.map_err(js_error)
        })
    }

    /// Class probabilities (`Float32Array` of `n * numClasses`) for `n` images in `x`.
    /// Rejects with `SHAPE_MISMATCH` when `x.length != n * c * h * w`, `NON_FINITE_INPUT` on NaN/Inf.
    pub fn predict(&self, x: Vec<f32>, n: usize) -> js_sys::Promise {
        let state = self.state.clone();
        future_to_promise(async move {
            let run = async {
                let t = Session::take(&state)?;
                let r = t.predict(&x, n).await;
                state.borrow_mut().trainer = Some(t);
                Ok::<_, Error>(js_sys::Float32Array::from(r?.as_slice()).into())
            };
            run.await.map_err(js_error)
        })
    }
}
