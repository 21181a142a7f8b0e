//! Export and import of a zoo supernet's static tiny network (family `supernet`).

use super::{ExportJson, FORMAT, Family, LayerInfo, Tensors, Writer};
use crate::aug::blocks::DynLinear;
use crate::aug::dyn_layers::{DynConv, DynConvBn, SHARED_SHIFT_BITS};
use crate::aug::plan::PlannedLayer;
use crate::aug::{AugNet, AugNetConfig};
use crate::error::{Error, Result};
use crate::ops::min_exponent;
use burn::module::Param;
use burn::tensor::Device;

/// The dense layers (SE, final conv, Mult classifier) of `net`'s tiny model with their
/// tensor-name prefixes, in plan order.
fn linear_list(net: &AugNet) -> Vec<(String, &DynLinear)> {
    let plan = net.config.plan(&net.config.tiny_arch());
    plan.iter().filter_map(|p| Some((p.slot.name(), net.linear_at(p.slot)?))).collect()
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
    config.validate()?;
    let tiny = config.tiny_arch();
    if config.max_arch() != tiny {
        return Err(Error::Config("export config must have augmentation disabled (widths = tiny)".into()));
    }
    let conv = |p: &PlannedLayer| {
        let name = p.slot.name();
        let l = config.conv_template(p, device);
        let weight = t.conv_weight(&name, l.conv.kind, l.conv.weight.dims())?;
        let bn = t.bn(&name, p.io[1], &l.bn)?;
        Ok(DynConvBn::new(DynConv { weight: Param::from_tensor(weight), ..l.conv }, bn))
    };
    let linear = |p: &PlannedLayer| {
        let name = p.slot.name();
        let weight = Param::from_tensor(t.f32(&format!("{name}.weight"), p.io)?);
        Ok(DynLinear { weight, bias: Param::from_tensor(t.f32(&format!("{name}.bias"), [p.io[1]])?) })
    };
    AugNet::assemble(config.clone(), &config.plan(&tiny), conv, linear)
}
