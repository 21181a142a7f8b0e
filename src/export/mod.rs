//! The deployed model as two files, `model.json` (architecture) + `model.safetensors` (values),
//! and the matching loader. The format is specified in `docs/FORMAT.md`; in short:
//! - `model.json` names the model family (`supernet`: a zoo model's static tiny network;
//!   `mfcnn`: the small MF CNN), its config, and every convolution in forward order;
//! - Shift layers store `sign` (i8, −1/0/+1) and `exponent` (i8, in [−15, 0]): the weight is
//!   `sign · 2^exponent`, exactly the value the forward pass used;
//! - Add and Mult layers store `weight` (f32);
//! - every conv has `bn.gamma`, `bn.beta`, `bn.mean`, `bn.var` (f32, ε = 1e-5);
//! - linear layers are f32 `[in, out]` weights with `[out]` biases.
//!
//! [`export_supernet`] / [`export_mfcnn`] write; [`import`] reads either family (and files of
//! the previous format version, which only held supernets).

mod mfcnn;
mod supernet;

pub use mfcnn::export_mfcnn;
pub use supernet::export_supernet;

use crate::aug::AugNet;
use crate::error::{Error, Result};
use crate::models::MfCnn;
use crate::nn::{ConvKind, DynBn};
use crate::ops::pot_exponent;
use burn::module::{Param, RunningState};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Format identifier written into the JSON and the safetensors metadata.
pub const FORMAT: &str = "shiftaddaug-tiny/3";
/// The previous version: supernets only, no `model` field. Still read.
pub const FORMAT_V2: &str = "shiftaddaug-tiny/2";

/// Which model family a file holds; the family fixes the meaning of `config` and the forward
/// pass around the `layers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// The static tiny network of a zoo supernet (`config`: `AugNetConfig`).
    #[default]
    Supernet,
    /// The small MF CNN (`config`: `MfCnnConfig`).
    Mfcnn,
}

/// One convolution of the exported model, in forward order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerInfo {
    /// Tensor-name prefix, e.g. `blocks.3.expand`.
    pub name: String,
    /// `mult`, `shift` or `add`.
    pub kind: ConvKind,
    /// `[in, out]` channels.
    pub channels: [usize; 2],
    /// Square kernel size.
    pub kernel: usize,
    /// Stride (both axes).
    pub stride: usize,
    /// Zero padding (both axes).
    pub padding: usize,
    /// Groups (= channels for depthwise).
    pub groups: usize,
    /// Activation after BN: `relu6`, `relu`, `hswish` or `none`.
    pub act: crate::models::Act,
}

/// The JSON document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportJson {
    /// [`FORMAT`] (or [`FORMAT_V2`] in older files).
    pub format: String,
    /// The model family (absent in [`FORMAT_V2`] files: supernet).
    #[serde(default)]
    pub model: Family,
    /// The config that rebuilds the architecture: `AugNetConfig` (augmentation disabled,
    /// widths = tiny) or `MfCnnConfig`, per [`model`](Self::model).
    pub config: serde_json::Value,
    /// Every convolution in forward order.
    pub layers: Vec<LayerInfo>,
    /// Input width of the classifier.
    pub features: usize,
    /// Classes.
    pub classes: usize,
}

/// A model read back by [`import`], on the device given there.
#[derive(Debug)]
pub enum Deployed {
    /// A zoo model's static tiny network.
    Supernet(AugNet),
    /// The small MF CNN.
    Mfcnn(MfCnn),
}

/// Rebuilds the model from an export's `model.json` text and `model.safetensors` bytes on
/// `device`.
///
/// # Errors
/// [`Error::Config`] when the JSON or the safetensors are malformed, the format is unknown, a
/// tensor is missing or has another shape or dtype than the architecture needs; nothing is
/// half-loaded.
pub fn import(json: &str, bytes: &[u8], device: &Device) -> Result<Deployed> {
    let doc: ExportJson = serde_json::from_str(json).map_err(|e| Error::Config(format!("export json: {e}")))?;
    if doc.format != FORMAT && !(doc.format == FORMAT_V2 && doc.model == Family::Supernet) {
        return Err(Error::Config(format!("format {:?}; this build reads {FORMAT:?} and {FORMAT_V2:?}", doc.format)));
    }
    let config = |what: &str| Error::Config(format!("export json: config is not a valid {what}"));
    let tensors = Tensors::parse(bytes, device.clone())?;
    Ok(match doc.model {
        Family::Supernet => Deployed::Supernet(supernet::import(
            &serde_json::from_value(doc.config).map_err(|_| config("AugNetConfig"))?,
            &tensors,
            device,
        )?),
        Family::Mfcnn => {
            Deployed::Mfcnn(mfcnn::import(&serde_json::from_value(doc.config).map_err(|_| config("MfCnnConfig"))?, &tensors, device)?)
        }
    })
}

async fn read_f32<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    let d = t.into_data_async().await.map_err(|e| Error::Backend(format!("readback: {e:?}")))?;
    d.try_into_vec_as::<f32>().map_err(|e| Error::Backend(format!("readback dtype: {e:?}")))
}

/// One tensor to write.
struct Entry {
    dtype: &'static str,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

/// The tensors of a file being written, by name.
#[derive(Default)]
struct Writer(BTreeMap<String, Entry>);

impl Writer {
    async fn f32<const D: usize>(&mut self, name: String, t: Tensor<D>) -> Result<()> {
        let shape = t.dims().to_vec();
        let bytes = read_f32(t).await?.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.0.insert(name, Entry { dtype: "F32", shape, bytes });
        Ok(())
    }

    async fn i8<const D: usize>(&mut self, name: String, t: Tensor<D>) -> Result<()> {
        let shape = t.dims().to_vec();
        let bytes = read_f32(t).await?.iter().map(|&x| x as i8 as u8).collect();
        self.0.insert(name, Entry { dtype: "I8", shape, bytes });
        Ok(())
    }

    /// A convolution of `kind` with the weights its forward pass uses (`w`: powers of two for
    /// Shift) and its BatchNorm.
    async fn conv(&mut self, name: &str, kind: ConvKind, w: Tensor<4>, p_min: i32, bn: &DynBn) -> Result<()> {
        let w = w.detach();
        if kind == ConvKind::Shift {
            self.i8(format!("{name}.sign"), w.clone().sign()).await?;
            self.i8(format!("{name}.exponent"), pot_exponent(w, p_min)).await?;
        } else {
            self.f32(format!("{name}.weight"), w).await?;
        }
        let (g, b) = (bn.gamma.val(), bn.beta.val());
        let (m, v) = (bn.running_mean.value(), bn.running_var.value());
        for (k, t) in [("gamma", g), ("beta", b), ("mean", m), ("var", v)] {
            self.f32(format!("{name}.bn.{k}"), t).await?;
        }
        Ok(())
    }

    /// `(json, safetensors)` of `doc` and these tensors.
    fn finish(self, doc: &ExportJson) -> Result<(String, Vec<u8>)> {
        let json = serde_json::to_string_pretty(doc).map_err(|e| Error::Backend(format!("json: {e}")))?;
        let mut header = serde_json::Map::new();
        let mut offset = 0usize;
        for (name, e) in &self.0 {
            header.insert(
                name.clone(),
                serde_json::json!({ "dtype": e.dtype, "shape": e.shape, "data_offsets": [offset, offset + e.bytes.len()] }),
            );
            offset += e.bytes.len();
        }
        header.insert("__metadata__".into(), serde_json::json!({ "format": FORMAT }));
        let mut h = serde_json::to_vec(&serde_json::Value::Object(header)).expect("json of plain values");
        while !h.len().is_multiple_of(8) {
            h.push(b' ');
        }
        let mut out = (h.len() as u64).to_le_bytes().to_vec();
        out.extend(h);
        for e in self.0.values() {
            out.extend(&e.bytes);
        }
        Ok((json, out))
    }
}

/// A parsed safetensors file: name → (dtype, shape, bytes), and the device to load onto.
struct Tensors<'a> {
    map: BTreeMap<String, (String, Vec<usize>, &'a [u8])>,
    device: Device,
}

impl<'a> Tensors<'a> {
    fn parse(bytes: &'a [u8], device: Device) -> Result<Self> {
        let bad = |m: String| Error::Config(format!("safetensors: {m}"));
        let n = u64::from_le_bytes(bytes.get(..8).ok_or_else(|| bad("shorter than 8 bytes".into()))?.try_into().expect("8 bytes"));
        let n = usize::try_from(n).map_err(|_| bad(format!("header length {n} is too large")))?;
        let header = bytes.get(8..8usize.saturating_add(n)).ok_or_else(|| bad(format!("header of {n} bytes exceeds the file")))?;
        let data = &bytes[8 + n..];
        let v: serde_json::Value = serde_json::from_slice(header).map_err(|e| bad(format!("header: {e}")))?;
        let obj = v.as_object().ok_or_else(|| bad("header is not an object".into()))?;
        let mut map = BTreeMap::new();
        for (name, e) in obj {
            if name == "__metadata__" {
                continue;
            }
            let dtype = e["dtype"].as_str().ok_or_else(|| bad(format!("{name}: no dtype")))?.to_string();
            let shape: Vec<usize> = serde_json::from_value(e["shape"].clone()).map_err(|_| bad(format!("{name}: bad shape")))?;
            let off: [usize; 2] =
                serde_json::from_value(e["data_offsets"].clone()).map_err(|_| bad(format!("{name}: bad data_offsets")))?;
            let slice = data.get(off[0]..off[1]).ok_or_else(|| bad(format!("{name}: data_offsets {off:?} outside the data")))?;
            map.insert(name.clone(), (dtype, shape, slice));
        }
        Ok(Self { map, device })
    }

    /// The bytes of `name`, which must be `dtype` with `shape`.
    fn get(&self, name: &str, dtype: &str, shape: &[usize]) -> Result<&'a [u8]> {
        let (d, s, b) = self.map.get(name).ok_or_else(|| Error::Config(format!("tensor {name} is missing")))?;
        if d != dtype || s != shape {
            return Err(Error::Config(format!("tensor {name} is {d} {s:?}; expected {dtype} {shape:?}")));
        }
        Ok(b)
    }

    /// The f32 tensor `name` of shape `dims`.
    fn f32<const D: usize>(&self, name: &str, dims: [usize; D]) -> Result<Tensor<D>> {
        let v: Vec<f32> =
            self.get(name, "F32", &dims)?.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect();
        Ok(Tensor::from_data(TensorData::new(v, dims), &self.device))
    }

    /// The i8 tensor `name` of shape `dims`, as f32 values.
    fn i8<const D: usize>(&self, name: &str, dims: [usize; D]) -> Result<Vec<f32>> {
        Ok(self.get(name, "I8", &dims)?.iter().map(|&b| (b as i8) as f32).collect())
    }

    /// The weights of conv `name` as its forward pass uses them (`sign · 2^exponent` for
    /// Shift), shape `dims`.
    fn conv_weight(&self, name: &str, kind: ConvKind, dims: [usize; 4]) -> Result<Tensor<4>> {
        if kind != ConvKind::Shift {
            return self.f32(&format!("{name}.weight"), dims);
        }
        let (s, e) = self.shift(name, dims)?;
        let v: Vec<f32> = s.iter().zip(&e).map(|(s, e)| s * 2f32.powi(*e as i32)).collect();
        Ok(Tensor::from_data(TensorData::new(v, dims), &self.device))
    }

    /// `(sign, exponent)` of shift conv `name`, checked: signs in {−1, 0, 1}, exponents in [−15, 0].
    fn shift(&self, name: &str, dims: [usize; 4]) -> Result<(Vec<f32>, Vec<f32>)> {
        let s = self.i8(&format!("{name}.sign"), dims)?;
        let e = self.i8(&format!("{name}.exponent"), dims)?;
        if s.iter().any(|v| v.abs() > 1.0) || e.iter().any(|v| !(-15.0..=0.0).contains(v)) {
            return Err(Error::Config(format!("tensor {name}.sign / .exponent: signs must be in {{-1, 0, 1}}, exponents in [-15, 0]")));
        }
        Ok((s, e))
    }

    /// The BatchNorm of conv `name` with `out` channels; `like` supplies momentum and mode.
    fn bn(&self, name: &str, out: usize, like: &DynBn) -> Result<DynBn> {
        let t = |k: &str| self.f32(&format!("{name}.bn.{k}"), [out]);
        Ok(DynBn {
            gamma: Param::from_tensor(t("gamma")?),
            beta: Param::from_tensor(t("beta")?),
            running_mean: RunningState::new(t("mean")?),
            running_var: RunningState::new(t("var")?),
            momentum: like.momentum,
            mode: like.mode,
        })
    }
}
