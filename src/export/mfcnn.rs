//! Export and import of the small MF CNN (family `mfcnn`): convolutions `stem`, `layers.{i}`
//! (each BN + ReLU), the config's head (flatten or global average pooling), then the Mult
//! classifier `classifier.weight` `[features, classes]` and `classifier.bias`.

use super::{ExportJson, FORMAT, Family, LayerInfo, Tensors, Writer};
use crate::error::{Error, Result};
use crate::models::{Act, MfCnn, MfCnnConfig};
use crate::nn::{AdderConv2d, ConvKind, ConvSlot, DynBn, ShiftConv2d, ShiftWeight};
use burn::module::Param;
use burn::nn::Linear;
use burn::nn::conv::Conv2d;
use burn::tensor::{Device, Tensor, TensorData};

/// The convolutions with their tensor-name prefixes and BatchNorms, in forward order.
fn convs(model: &MfCnn) -> Vec<(String, &ConvSlot, &DynBn)> {
    let names = std::iter::once("stem".to_string()).chain((0..model.layers.len()).map(|i| format!("layers.{i}")));
    names.zip(std::iter::once(&model.stem).chain(&model.layers)).zip(&model.norms).map(|((n, s), b)| (n, s, b)).collect()
}

/// The weights a slot's forward pass uses (powers of two for Shift) and the smallest exponent.
fn slot_weight(slot: &ConvSlot) -> Result<(Tensor<4>, i32)> {
    match (&slot.mult, &slot.shift, &slot.add) {
        (Some(c), _, _) => Ok((c.weight.val(), 0)),
        (_, Some(c), _) => Ok((c.quantized_weight()?, c.weight.p_min)),
        (_, _, Some(c)) => Ok((c.weight.val(), 0)),
        _ => Err(Error::Config("empty conv slot".into())),
    }
}

/// Serialises `model`: returns `(json, safetensors bytes)`.
///
/// # Errors
/// [`Error::Backend`] when a readback fails.
pub async fn export_mfcnn(model: &MfCnn) -> Result<(String, Vec<u8>)> {
    let mut w = Writer::default();
    let mut layers = Vec::new();
    for (name, slot, bn) in convs(model) {
        let (weight, p_min) = slot_weight(slot)?;
        let [o, i, k, _] = weight.dims();
        let g = slot.geometry;
        let (kind, act) = (slot.kind(), Act::Relu);
        layers.push(LayerInfo {
            name: name.clone(),
            kind,
            channels: [i * g.groups, o],
            kernel: k,
            stride: g.stride[0],
            padding: g.padding[0],
            groups: g.groups,
            act,
        });
        w.conv(&name, kind, weight, p_min, bn).await?;
    }
    let c = &model.classifier;
    let bias = c.bias.as_ref().ok_or_else(|| Error::Config("the classifier has no bias".into()))?;
    w.f32("classifier.weight".into(), c.weight.val()).await?;
    w.f32("classifier.bias".into(), bias.val()).await?;
    let config = serde_json::to_value(&model.config).map_err(|e| Error::Backend(format!("json: {e}")))?;
    let [features, classes] = c.weight.dims();
    let doc = ExportJson { format: FORMAT.into(), model: Family::Mfcnn, config, layers, features, classes };
    w.finish(&doc)
}

/// Rebuilds the model of `config` from `t`.
pub(super) fn import(config: &MfCnnConfig, t: &Tensors, device: &Device) -> Result<MfCnn> {
    let template = config.init(device)?;
    // Build every replacement first; the model is assembled only when all succeeded.
    let mut loaded = Vec::new();
    for (name, slot, bn) in convs(&template) {
        let dims = slot_weight(slot)?.0.dims();
        let param = |w: Tensor<4>| Param::from_tensor(w);
        let slot = match (&slot.mult, &slot.shift, &slot.add) {
            (Some(c), _, _) => ConvSlot {
                mult: Some(Conv2d { weight: param(t.f32(&format!("{name}.weight"), dims)?), ..c.clone() }),
                shift: None,
                add: None,
                geometry: slot.geometry,
            },
            (_, Some(c), _) => {
                let (s, e) = t.shift(&name, dims)?;
                let p_min = c.weight.p_min;
                if s.iter().zip(&e).any(|(s, e)| *s != 0.0 && *e < p_min as f32) {
                    return Err(Error::Config(format!("tensor {name}.exponent: a non-zero weight has an exponent below {p_min}")));
                }
                let tensor = |v: Vec<f32>| Param::from_tensor(Tensor::from_data(TensorData::new(v, dims), device));
                // The stored parameterisation reproduces `sign · 2^exponent` exactly: Q rounds
                // a power of two to itself, PS rounds an integer shift to itself.
                let weight = if c.weight.weight.is_some() {
                    let v = s.iter().zip(&e).map(|(s, e)| s * 2f32.powi(*e as i32)).collect();
                    ShiftWeight { weight: Some(tensor(v)), shift: None, sign: None, p_min }
                } else {
                    ShiftWeight { weight: None, shift: Some(tensor(e)), sign: Some(tensor(s)), p_min }
                };
                ConvSlot { mult: None, shift: Some(ShiftConv2d { weight, ..c.clone() }), add: None, geometry: slot.geometry }
            }
            (_, _, Some(c)) => {
                let weight = param(t.conv_weight(&name, ConvKind::Add, dims)?);
                ConvSlot { mult: None, shift: None, add: Some(AdderConv2d { weight, ..c.clone() }), geometry: slot.geometry }
            }
            _ => return Err(Error::Config("empty conv slot".into())),
        };
        loaded.push((slot, t.bn(&name, dims[0], bn)?));
    }
    let dims = template.classifier.weight.dims();
    let classifier = Linear {
        weight: Param::from_tensor(t.f32("classifier.weight", dims)?),
        bias: Some(Param::from_tensor(t.f32("classifier.bias", [dims[1]])?)),
    };
    let (mut slots, norms): (Vec<ConvSlot>, Vec<DynBn>) = loaded.into_iter().unzip();
    let stem = slots.remove(0);
    Ok(MfCnn { stem, layers: slots, norms, classifier, ..template })
}
