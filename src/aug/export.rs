//! Export of the static tiny model as JSON (architecture) + safetensors (values), and the
//! matching loader. The format is specified in `docs/FORMAT.md`; in short:
//! - Shift layers store `sign` (i8, −1/0/+1) and `exponent` (i8, in [−15, 0]): the weight is
//!   `sign · 2^exponent`, exactly the DeepShift-Q value the tiny pass used;
//! - Add and Mult layers store `weight` (f32);
//! - every conv has `bn.gamma`, `bn.beta`, `bn.mean`, `bn.var` (f32, ε = 1e-5);
//! - SE blocks, the final conv (MobileNetV3) and a Mult classifier are f32 `[in, out]` weights
//!   with `[out]` biases; a Shift / Add classifier is the last conv layer (1×1, with BN).

use super::blocks::{Classifier, DynLinear, DynSe};
use super::config::AugNetConfig;
use super::dyn_layers::{DynBn, DynConvBn};
use super::net::AugNet;
use crate::error::{Error, Result};
use crate::models::Act;
use crate::nn::ConvKind;
use crate::ops::{min_exponent, pot_exponent};
use burn::module::{Param, RunningState};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Format identifier written into the JSON.
pub const FORMAT: &str = "shiftaddaug-tiny/2";

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
    /// Zero padding (both axes) = `kernel / 2`.
    pub padding: usize,
    /// Groups (= channels for depthwise).
    pub groups: usize,
    /// Activation after BN: `relu6`, `relu`, `hswish` or `none`.
    pub act: Act,
}

/// The JSON document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportJson {
    /// [`FORMAT`].
    pub format: String,
    /// The config that rebuilds the architecture (augmentation disabled, widths = tiny).
    pub config: AugNetConfig,
    /// Every convolution in forward order.
    pub layers: Vec<LayerInfo>,
    /// Input channels of the classifier (after global average pooling and the final conv).
    pub features: usize,
    /// Classes.
    pub classes: usize,
}

async fn read_f32<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    let d = t.into_data_async().await.map_err(|e| Error::Backend(format!("readback: {e:?}")))?;
    d.try_into_vec_as::<f32>().map_err(|e| Error::Backend(format!("readback dtype: {e:?}")))
}

struct Entry {
    dtype: &'static str,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

fn f32_entry(v: &[f32], shape: Vec<usize>) -> Entry {
    Entry { dtype: "F32", shape, bytes: v.iter().flat_map(|x| x.to_le_bytes()).collect() }
}

fn i8_entry(v: &[i8], shape: Vec<usize>) -> Entry {
    Entry { dtype: "I8", shape, bytes: v.iter().map(|&x| x as u8).collect() }
}

/// The linear layers (SE, final conv, Mult classifier) with their tensor-name prefixes.
fn linear_list(net: &AugNet) -> Vec<(String, &DynLinear)> {
    let mut v = Vec::new();
    for (i, b) in net.blocks.iter().enumerate() {
        if let Some(se) = &b.se {
            v.push((format!("blocks.{i}.se.reduce"), &se.reduce));
            v.push((format!("blocks.{i}.se.expand"), &se.expand));
        }
    }
    if let Some(f) = &net.final_conv {
        v.push(("final".to_string(), f));
    }
    if let Classifier::Mult(l) = &net.classifier {
        v.push(("classifier".to_string(), l));
    }
    v
}

/// Serialises the static tiny model of `net` (`net.export_tiny()` is applied first, so any
/// supernet can be passed): returns `(json, safetensors bytes)`.
///
/// # Errors
/// [`Error::Backend`] when a readback fails.
pub async fn export(net: &AugNet) -> Result<(String, Vec<u8>)> {
    let net = net.export_tiny();
    let mut tensors: BTreeMap<String, Entry> = BTreeMap::new();
    let mut layers = Vec::new();
    for (name, l, act, [i, o]) in net.tiny_layers() {
        let dims = l.conv.weight.dims();
        let groups = if l.conv.depthwise { o } else { 1 };
        layers.push(LayerInfo {
            name: name.clone(),
            kind: l.conv.kind,
            channels: [i, o],
            kernel: l.conv.kernel,
            stride: l.conv.stride,
            padding: l.conv.kernel / 2,
            groups,
            act,
        });
        let w = l.conv.weight.val();
        if l.conv.kind == ConvKind::Shift {
            let p_min = min_exponent(super::dyn_layers::SHARED_SHIFT_BITS)?;
            let sign: Vec<i8> = read_f32(w.clone().sign()).await?.iter().map(|&s| s as i8).collect();
            let exp: Vec<i8> = read_f32(pot_exponent(w, p_min)).await?.iter().map(|&p| p as i8).collect();
            tensors.insert(format!("{name}.sign"), i8_entry(&sign, dims.to_vec()));
            tensors.insert(format!("{name}.exponent"), i8_entry(&exp, dims.to_vec()));
        } else {
            tensors.insert(format!("{name}.weight"), f32_entry(&read_f32(w).await?, dims.to_vec()));
        }
        for (k, t) in
            [("gamma", l.bn.gamma.val()), ("beta", l.bn.beta.val()), ("mean", l.bn.running_mean.value()), ("var", l.bn.running_var.value())]
        {
            tensors.insert(format!("{name}.bn.{k}"), f32_entry(&read_f32(t).await?, vec![o]));
        }
    }
    for (name, l) in linear_list(&net) {
        let w = l.weight.val();
        let dims = w.dims();
        tensors.insert(format!("{name}.weight"), f32_entry(&read_f32(w).await?, dims.to_vec()));
        tensors.insert(format!("{name}.bias"), f32_entry(&read_f32(l.bias.val()).await?, vec![dims[1]]));
    }
    let doc = ExportJson {
        format: FORMAT.into(),
        config: net.config.clone(),
        layers,
        features: net.tiny_features(),
        classes: net.config.num_classes,
    };
    let json = serde_json::to_string_pretty(&doc).map_err(|e| Error::Backend(format!("json: {e}")))?;
    Ok((json, safetensors(&tensors)))
}

fn safetensors(tensors: &BTreeMap<String, Entry>) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let mut offset = 0usize;
    for (name, e) in tensors {
        header.insert(
            name.clone(),
            serde_json::json!({ "dtype": e.dtype, "shape": e.shape, "data_offsets": [offset, offset + e.bytes.len()] }),
        );
        offset += e.bytes.len();
    }
    header.insert("__metadata__".into(), serde_json::json!({ "format": FORMAT }));
    let mut h = serde_json::to_vec(&serde_json::Value::Object(header)).expect("json of plain values");
    while h.len() % 8 != 0 {
        h.push(b' ');
    }
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend(h);
    for e in tensors.values() {
        out.extend(&e.bytes);
    }
    out
}

/// A parsed safetensors file: name → (dtype, shape, bytes).
fn parse_safetensors(bytes: &[u8]) -> Result<BTreeMap<String, (String, Vec<usize>, &[u8])>> {
    let bad = |m: String| Error::Config(format!("safetensors: {m}"));
    let n = u64::from_le_bytes(bytes.get(..8).ok_or_else(|| bad("shorter than 8 bytes".into()))?.try_into().expect("8 bytes")) as usize;
    let header = bytes.get(8..8 + n).ok_or_else(|| bad(format!("header of {n} bytes exceeds the file")))?;
    let data = &bytes[8 + n..];
    let v: serde_json::Value = serde_json::from_slice(header).map_err(|e| bad(format!("header: {e}")))?;
    let obj = v.as_object().ok_or_else(|| bad("header is not an object".into()))?;
    let mut out = BTreeMap::new();
    for (name, e) in obj {
        if name == "__metadata__" {
            continue;
        }
        let dtype = e["dtype"].as_str().ok_or_else(|| bad(format!("{name}: no dtype")))?.to_string();
        let shape: Vec<usize> = serde_json::from_value(e["shape"].clone()).map_err(|_| bad(format!("{name}: bad shape")))?;
        let off: [usize; 2] = serde_json::from_value(e["data_offsets"].clone()).map_err(|_| bad(format!("{name}: bad data_offsets")))?;
        let slice = data.get(off[0]..off[1]).ok_or_else(|| bad(format!("{name}: data_offsets {off:?} outside the data")))?;
        out.insert(name.clone(), (dtype, shape, slice));
    }
    Ok(out)
}

/// Rebuilds the static tiny model from [`export`]'s output on `device`.
///
/// # Errors
/// [`Error::Config`] when the JSON or the safetensors are malformed, a tensor is missing or
/// has another shape or dtype than the architecture needs; nothing is half-loaded.
pub fn import(json: &str, bytes: &[u8], device: &Device) -> Result<AugNet> {
    let doc: ExportJson = serde_json::from_str(json).map_err(|e| Error::Config(format!("export json: {e}")))?;
    if doc.format != FORMAT {
        return Err(Error::Config(format!("format {:?}; this build reads {FORMAT:?}", doc.format)));
    }
    let t = parse_safetensors(bytes)?;
    let get = |name: &str, dtype: &str, shape: &[usize]| -> Result<&[u8]> {
        let (d, s, b) = t.get(name).ok_or_else(|| Error::Config(format!("tensor {name} is missing")))?;
        if d != dtype || s != shape {
            return Err(Error::Config(format!("tensor {name} is {d} {s:?}; expected {dtype} {shape:?}")));
        }
        Ok(b)
    };
    let f32s = |b: &[u8]| -> Vec<f32> { b.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect() };
    let tensor = |v: Vec<f32>, shape: &[usize]| -> Tensor<4> {
        let s: [usize; 4] = shape.try_into().expect("conv weights are 4-D");
        Tensor::from_data(TensorData::new(v, s), device)
    };
    let vec1 = |v: Vec<f32>| -> Tensor<1> {
        let n = v.len();
        Tensor::from_data(TensorData::new(v, [n]), device)
    };
    let template = doc.config.init(device)?;
    if template.config.max_arch() != template.config.tiny_arch() {
        return Err(Error::Config("export config must have augmentation disabled (widths = tiny)".into()));
    }
    // Build every replacement first; the model is assembled only when all succeeded.
    let mut loaded = Vec::new();
    for (name, l, _, [_, o]) in template.tiny_layers() {
        let dims = l.conv.weight.dims();
        let w = if l.conv.kind == ConvKind::Shift {
            let s = get(&format!("{name}.sign"), "I8", &dims)?;
            let e = get(&format!("{name}.exponent"), "I8", &dims)?;
            let v: Vec<f32> = s.iter().zip(e).map(|(&s, &e)| (s as i8) as f32 * 2f32.powi((e as i8) as i32)).collect();
            tensor(v, &dims)
        } else {
            tensor(f32s(get(&format!("{name}.weight"), "F32", &dims)?), &dims)
        };
        let bn = |k: &str| -> Result<Tensor<1>> { Ok(vec1(f32s(get(&format!("{name}.bn.{k}"), "F32", &[o])?))) };
        let bn = DynBn {
            gamma: Param::from_tensor(bn("gamma")?),
            beta: Param::from_tensor(bn("beta")?),
            running_mean: RunningState::new(bn("mean")?),
            running_var: RunningState::new(bn("var")?),
            momentum: l.bn.momentum,
            mode: l.bn.mode,
        };
        loaded.push((w, bn));
    }
    let mut linears = Vec::new();
    for (name, l) in linear_list(&template) {
        let dims = l.weight.dims();
        let w = f32s(get(&format!("{name}.weight"), "F32", &dims)?);
        let b = vec1(f32s(get(&format!("{name}.bias"), "F32", &[dims[1]])?));
        linears.push(DynLinear {
            weight: Param::from_tensor(Tensor::from_data(TensorData::new(w, dims), device)),
            bias: Param::from_tensor(b),
        });
    }
    let mut it = loaded.into_iter();
    let mut set = |l: DynConvBn| {
        let (w, bn) = it.next().expect("one entry per layer");
        DynConvBn { conv: super::dyn_layers::DynConv { weight: Param::from_tensor(w), ..l.conv }, bn }
    };
    let mut lin = linears.into_iter();
    let mut next_linear = || lin.next().expect("one entry per linear layer");
    let stem = set(template.stem);
    let ds_dw = set(template.ds_dw);
    let ds_pw = set(template.ds_pw);
    let mut blocks = Vec::new();
    for b in template.blocks {
        let se = b.se.map(|_| DynSe { reduce: next_linear(), expand: next_linear() });
        blocks.push(super::net::DynMbConv { expand: set(b.expand), depthwise: set(b.depthwise), se, project: set(b.project) });
    }
    let head = template.head.map(&mut set);
    let final_conv = template.final_conv.map(|_| next_linear());
    let classifier = match template.classifier {
        Classifier::Mult(_) => Classifier::Mult(next_linear()),
        Classifier::Mf(l) => Classifier::Mf(set(l)),
    };
    Ok(AugNet { stem, ds_dw, ds_pw, blocks, head, final_conv, classifier, config: template.config })
}
