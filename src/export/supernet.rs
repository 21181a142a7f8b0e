//! Export and import of a zoo supernet's static tiny network (family `supernet`).

use super::{ExportJson, FORMAT, Family, LayerInfo, Tensors, Writer};
use crate::aug::blocks::{Classifier, DynLinear, DynMbConv, DynSe};
use crate::aug::dyn_layers::{DynConv, DynConvBn, SHARED_SHIFT_BITS};
use crate::aug::{AugNet, AugNetConfig};
use crate::error::{Error, Result};
use crate::ops::min_exponent;
use burn::module::Param;
use burn::tensor::Device;

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
pub async fn export_supernet(net: &AugNet) -> Result<(String, Vec<u8>)> {
    let net = net.export_tiny();
    let p_min = min_exponent(SHARED_SHIFT_BITS)?;
    let mut w = Writer::default();
    let mut layers = Vec::new();
    for (name, l, act, [i, o]) in net.tiny_layers() {
        let groups = if l.conv.depthwise { o } else { 1 };
        let c = &l.conv;
        layers.push(LayerInfo {
            name: name.clone(),
            kind: c.kind,
            channels: [i, o],
            kernel: c.kernel,
            stride: c.stride,
            padding: c.kernel / 2,
            groups,
            act,
        });
        // The raw weights: for Shift, `pot_exponent` of them is the exponent the tiny pass used.
        w.conv(&name, c.kind, c.weight.val(), p_min, &l.bn).await?;
    }
    for (name, l) in linear_list(&net) {
        w.f32(format!("{name}.weight"), l.weight.val()).await?;
        w.f32(format!("{name}.bias"), l.bias.val()).await?;
    }
    let config = serde_json::to_value(&net.config).map_err(|e| Error::Backend(format!("json: {e}")))?;
    let doc = ExportJson {
        format: FORMAT.into(),
        model: Family::Supernet,
        config,
        layers,
        features: net.tiny_features(),
        classes: net.config.num_classes,
    };
    w.finish(&doc)
}

/// Rebuilds the static tiny model of `config` from `t`.
pub(super) fn import(config: &AugNetConfig, t: &Tensors, device: &Device) -> Result<AugNet> {
    let template = config.init(device)?;
    if template.config.max_arch() != template.config.tiny_arch() {
        return Err(Error::Config("export config must have augmentation disabled (widths = tiny)".into()));
    }
    // Build every replacement first; the model is assembled only when all succeeded.
    let mut loaded = Vec::new();
    for (name, l, _, [_, o]) in template.tiny_layers() {
        let w = t.conv_weight(&name, l.conv.kind, l.conv.weight.dims())?;
        loaded.push((w, t.bn(&name, o, &l.bn)?));
    }
    let mut linears = Vec::new();
    for (name, l) in linear_list(&template) {
        let dims = l.weight.dims();
        let weight = Param::from_tensor(t.f32(&format!("{name}.weight"), dims)?);
        linears.push(DynLinear { weight, bias: Param::from_tensor(t.f32(&format!("{name}.bias"), [dims[1]])?) });
    }
    let mut it = loaded.into_iter();
    let mut set = |l: DynConvBn| {
        let (w, bn) = it.next().expect("one entry per layer");
        DynConvBn { conv: DynConv { weight: Param::from_tensor(w), ..l.conv }, bn }
    };
    let mut lin = linears.into_iter();
    let mut next_linear = || lin.next().expect("one entry per linear layer");
    let stem = set(template.stem);
    let ds_dw = set(template.ds_dw);
    let ds_pw = set(template.ds_pw);
    let mut blocks = Vec::new();
    for b in template.blocks {
        let se = b.se.map(|_| DynSe { reduce: next_linear(), expand: next_linear() });
        blocks.push(DynMbConv { expand: set(b.expand), depthwise: set(b.depthwise), se, project: set(b.project) });
    }
    let head = template.head.map(&mut set);
    let final_conv = template.final_conv.map(|_| next_linear());
    let classifier = match template.classifier {
        Classifier::Mult(_) => Classifier::Mult(next_linear()),
        Classifier::Mf(l) => Classifier::Mf(set(l)),
    };
    Ok(AugNet { stem, ds_dw, ds_pw, blocks, head, final_conv, classifier, config: template.config })
}
