//! Reads an export (`model.json` + `model.safetensors`, docs/FORMAT.md) into a plain layer graph
//! for the inference engines, without burn (the inference-only build has no tensor library).
//!
//! Every malformed input is an [`Error::Config`] naming what is wrong; nothing is half-built.

use crate::error::{Error, Result};
use serde_json::Value;
use std::collections::BTreeMap;

/// The operator of a convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `Σ P · W`.
    Mult,
    /// `Σ P · sign · 2^exponent`.
    Shift,
    /// `−Σ |P − W|`.
    Add,
}

/// What follows a layer's BatchNorm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Act {
    /// Identity.
    None,
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, 0), 6)`.
    Relu6,
    /// `x · relu6(x + 3) / 6` (MobileNetV3).
    Hswish,
}

/// Inference BatchNorm: `gamma · (x − mean) / sqrt(var + 1e-5) + beta` per channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Bn {
    /// Scale.
    pub gamma: Vec<f32>,
    /// Shift.
    pub beta: Vec<f32>,
    /// Running mean.
    pub mean: Vec<f32>,
    /// Running variance.
    pub var: Vec<f32>,
}

/// BatchNorm's epsilon in the export format.
pub const BN_EPS: f32 = 1e-5;

/// One convolution with its BatchNorm and activation.
#[derive(Debug, Clone, PartialEq)]
pub struct Conv {
    /// Tensor-name prefix.
    pub name: String,
    /// Operator.
    pub op: Op,
    /// Input channels.
    pub cin: usize,
    /// Output channels.
    pub cout: usize,
    /// Square kernel size.
    pub k: usize,
    /// Stride (both axes).
    pub stride: usize,
    /// Zero padding (both axes).
    pub pad: usize,
    /// 1 (dense) or `cout` (= `cin`, depthwise).
    pub groups: usize,
    /// Activation after the BatchNorm.
    pub act: Act,
    /// `[cout, cin/groups, k, k]` weights (Mult and Add); for Shift `sign · 2^exponent`.
    pub weight: Vec<f32>,
    /// Shift layers: signs in {−1, 0, 1} and exponents in [−15, 0], same layout.
    pub shift: Option<(Vec<i8>, Vec<i8>)>,
    /// Its BatchNorm.
    pub bn: Bn,
}

impl Conv {
    /// Weights per output channel (`cin/groups · k · k`).
    pub fn fan_in(&self) -> usize {
        self.cin / self.groups * self.k * self.k
    }

    /// Its shape over an `h × w` input.
    pub fn geometry(&self, h: usize, w: usize) -> super::kernels::Geometry {
        super::kernels::Geometry {
            cin: self.cin,
            cout: self.cout,
            k: self.k,
            stride: self.stride,
            pad: self.pad,
            groups: self.groups,
            h,
            w,
        }
    }
}

/// A dense layer `y = x · weight + bias` (`weight` is `[features, classes]`, row-major).
#[derive(Debug, Clone, PartialEq)]
pub struct Linear {
    /// Inputs.
    pub features: usize,
    /// Outputs.
    pub classes: usize,
    /// `[features, classes]`.
    pub weight: Vec<f32>,
    /// `[classes]`.
    pub bias: Vec<f32>,
}

/// Squeeze-and-excitation (MobileNetV3): `x · hsigmoid(expand(relu(reduce(mean_hw(x)))))` per
/// channel, with `hsigmoid(v) = relu6(v + 3) / 6`.
#[derive(Debug, Clone, PartialEq)]
pub struct Se {
    /// `[channels, hidden]`.
    pub reduce: Linear,
    /// `[hidden, channels]`.
    pub expand: Linear,
}

/// One step of the forward pass, applied to the current activation `[c, h, w]` of one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    /// Convolution `layers[i]` (with its BatchNorm and activation).
    Conv(usize),
    /// Remember the current activation (the input of a shortcut).
    Save,
    /// Add the last remembered activation (and forget it).
    AddSaved,
    /// Mean over `(h, w)`: `[c, h, w]` → `[c, 1, 1]`.
    AvgPool,
    /// Squeeze-and-excitation `se[i]` (keeps the shape).
    Se(usize),
    /// MobileNetV3's final conv on the pooled features: `hswish(x · weight + bias)`,
    /// `[c, 1, 1]` → `[final, 1, 1]`.
    Final,
}

/// A deployed model as the inference engines run it.
#[derive(Debug, Clone, PartialEq)]
pub struct Graph {
    /// `[c, h, w]` of one input image.
    pub input: [usize; 3],
    /// Output classes.
    pub classes: usize,
    /// Every convolution, in forward order.
    pub layers: Vec<Conv>,
    /// The forward pass up to the classifier input.
    pub nodes: Vec<Node>,
    /// The squeeze-and-excitation blocks [`Node::Se`] refers to.
    pub se: Vec<Se>,
    /// The final conv of [`Node::Final`].
    pub final_conv: Option<Linear>,
    /// The Mult classifier on the flattened result of `nodes`; `None` when the last `Conv` node is
    /// the classifier (a Shift or Add classifier, a 1×1 conv on the pooled features).
    pub classifier: Option<Linear>,
}

fn bad(m: impl Into<String>) -> Error {
    Error::Config(format!("model: {}", m.into()))
}

/// The safetensors tensors: name → (dtype, shape, bytes).
struct Tensors<'a>(BTreeMap<String, (String, Vec<usize>, &'a [u8])>);

impl<'a> Tensors<'a> {
    fn parse(bytes: &'a [u8]) -> Result<Self> {
        let head = bytes.get(..8).ok_or_else(|| bad("safetensors: shorter than its 8-byte header length"))?;
        let n = u64::from_le_bytes(head.try_into().expect("8 bytes"));
        let end = usize::try_from(n).ok().and_then(|n| n.checked_add(8)).filter(|&e| e <= bytes.len());
        let end = end.ok_or_else(|| bad(format!("safetensors: header of {n} bytes exceeds the file ({} bytes)", bytes.len())))?;
        let data = &bytes[end..];
        let v: Value = serde_json::from_slice(&bytes[8..end]).map_err(|e| bad(format!("safetensors header: {e}")))?;
        let obj = v.as_object().ok_or_else(|| bad("safetensors header is not an object"))?;
        let mut map = BTreeMap::new();
        for (name, e) in obj.iter().filter(|(k, _)| *k != "__metadata__") {
            let dtype = e["dtype"].as_str().ok_or_else(|| bad(format!("tensor {name}: no dtype")))?.to_string();
            let shape: Vec<usize> = serde_json::from_value(e["shape"].clone()).map_err(|_| bad(format!("tensor {name}: bad shape")))?;
            let off: [usize; 2] =
                serde_json::from_value(e["data_offsets"].clone()).map_err(|_| bad(format!("tensor {name}: bad data_offsets")))?;
            let slice = data
                .get(off[0]..off[1])
                .ok_or_else(|| bad(format!("tensor {name}: data_offsets {off:?} outside the {} data bytes", data.len())))?;
            map.insert(name.clone(), (dtype, shape, slice));
        }
        Ok(Self(map))
    }

    fn get(&self, name: &str, dtype: &str, shape: &[usize]) -> Result<&'a [u8]> {
        let (d, s, b) = self.0.get(name).ok_or_else(|| bad(format!("tensor {name} is missing")))?;
        let size = if dtype == "F32" { 4 } else { 1 };
        let bytes = shape.iter().try_fold(size, |n: usize, &d| n.checked_mul(d));
        if d != dtype || s != shape || Some(b.len()) != bytes {
            return Err(bad(format!("tensor {name} is {d} {s:?} ({} bytes); expected {dtype} {shape:?}", b.len())));
        }
        Ok(b)
    }

    /// The shape `name` declares (its dtype and bytes are checked when it is read).
    fn shape(&self, name: &str) -> Result<&[usize]> {
        self.0.get(name).map(|(_, s, _)| s.as_slice()).ok_or_else(|| bad(format!("tensor {name} is missing")))
    }

    /// `{name}.weight` `[inputs, outputs]` and `{name}.bias` `[outputs]`, `inputs` known.
    fn linear(&self, name: &str, inputs: usize) -> Result<Linear> {
        let w = format!("{name}.weight");
        let outputs = match self.shape(&w)? {
            &[i, o] if i == inputs && o > 0 => o,
            s => return Err(bad(format!("tensor {w} has shape {s:?}; expected [{inputs}, outputs]"))),
        };
        Ok(Linear {
            features: inputs,
            classes: outputs,
            weight: self.f32(&w, &[inputs, outputs])?,
            bias: self.f32(&format!("{name}.bias"), &[outputs])?,
        })
    }

    fn f32(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let v: Vec<f32> =
            self.get(name, "F32", shape)?.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect();
        if v.iter().any(|x| !x.is_finite()) {
            return Err(bad(format!("tensor {name} holds NaN or Inf")));
        }
        Ok(v)
    }

    fn i8(&self, name: &str, shape: &[usize]) -> Result<Vec<i8>> {
        Ok(self.get(name, "I8", shape)?.iter().map(|&b| b as i8).collect())
    }
}

fn usize_of(v: &Value, what: &str) -> Result<usize> {
    v.as_u64().and_then(|x| usize::try_from(x).ok()).ok_or_else(|| bad(format!("{what} must be a non-negative integer, got {v}")))
}

fn conv(e: &Value, t: &Tensors) -> Result<Conv> {
    let name = e["name"].as_str().ok_or_else(|| bad("a layer has no name"))?.to_string();
    let field = |k: &str| usize_of(&e[k], &format!("layer {name}: {k}"));
    let op = match e["kind"].as_str() {
        Some("mult") => Op::Mult,
        Some("shift") => Op::Shift,
        Some("add") => Op::Add,
        k => return Err(bad(format!("layer {name}: unknown kind {k:?}; valid: mult, shift, add"))),
    };
    let act = match e["act"].as_str() {
        Some("none") => Act::None,
        Some("relu") => Act::Relu,
        Some("relu6") => Act::Relu6,
        Some("hswish") => Act::Hswish,
        a => return Err(bad(format!("layer {name}: unknown act {a:?}; valid: relu6, relu, hswish, none"))),
    };
    let ch = e["channels"].as_array().filter(|a| a.len() == 2).ok_or_else(|| bad(format!("layer {name}: channels must be [in, out]")))?;
    let (cin, cout) = (usize_of(&ch[0], "channels")?, usize_of(&ch[1], "channels")?);
    let (k, stride, pad, groups) = (field("kernel")?, field("stride")?, field("padding")?, field("groups")?);
    if cin == 0
        || cout == 0
        || k == 0
        || k > 15
        || stride == 0
        || stride > 4
        || pad >= k
        || !(groups == 1 || (groups == cin && cin == cout))
    {
        return Err(bad(format!(
            "layer {name}: channels [{cin}, {cout}], kernel {k}, stride {stride}, padding {pad}, groups {groups} is not a supported convolution"
        )));
    }
    let shape = [cout, cin / groups, k, k];
    let (weight, shift) = if op == Op::Shift {
        let s = t.i8(&format!("{name}.sign"), &shape)?;
        let x = t.i8(&format!("{name}.exponent"), &shape)?;
        if s.iter().any(|v| !(-1..=1).contains(v)) || x.iter().any(|v| !(-15..=0).contains(v)) {
            return Err(bad(format!("tensor {name}.sign / .exponent: signs must be in {{-1, 0, 1}}, exponents in [-15, 0]")));
        }
        (s.iter().zip(&x).map(|(&s, &e)| s as f32 * 2f32.powi(e as i32)).collect(), Some((s, x)))
    } else {
        (t.f32(&format!("{name}.weight"), &shape)?, None)
    };
    let b = |k: &str| t.f32(&format!("{name}.bn.{k}"), &[cout]);
    let bn = Bn { gamma: b("gamma")?, beta: b("beta")?, mean: b("mean")?, var: b("var")? };
    if bn.var.iter().any(|&v| v < 0.0) {
        return Err(bad(format!("tensor {name}.bn.var has a negative variance")));
    }
    Ok(Conv { name, op, cin, cout, k, stride, pad, groups, act, weight, shift, bn })
}

/// The memory limit of [`parse`]: 512 MiB.
pub const DEFAULT_MEMORY_LIMIT: usize = 512 << 20;

/// Largest activation (values per image) any model may have: 2^26.
const MAX_ACTIVATION: usize = 1 << 26;

/// Bytes the engines need for `g`, an upper estimate: per parameter its f32 copy in the graph and
/// in the quantised model and the kernels' layout (36 bytes), per value of the largest activation
/// its f32, 16-bit, padded and accumulator copies (24 bytes).
pub fn memory_estimate(g: &Graph) -> usize {
    let dense = |c: &Linear| c.weight.len() + c.bias.len();
    let params: usize = g.layers.iter().map(|l| l.weight.len() + 4 * l.cout).sum::<usize>()
        + g.classifier.iter().chain(&g.final_conv).map(dense).sum::<usize>()
        + g.se.iter().map(|s| dense(&s.reduce) + dense(&s.expand)).sum::<usize>();
    let largest = shapes(g).unwrap_or_default().iter().chain([&g.input]).map(|s| s.iter().product::<usize>()).max().unwrap_or(0);
    params.saturating_mul(36).saturating_add(largest.saturating_mul(24))
}

/// [`parse_limited`] with [`DEFAULT_MEMORY_LIMIT`].
///
/// # Errors
/// As [`parse_limited`].
pub fn parse(json: &str, safetensors: &[u8]) -> Result<Graph> {
    parse_limited(json, safetensors, DEFAULT_MEMORY_LIMIT)
}

/// Parses an export whose engines need at most `memory_limit` bytes ([`memory_estimate`]).
///
/// # Errors
/// [`Error::Config`] for a malformed or truncated file, an unknown format, layer kind or
/// activation, a tensor of another dtype or shape than the architecture needs, non-finite values,
/// layers that do not chain, an activation of more than 2^26 values, or a model needing more than
/// `memory_limit` bytes.
pub fn parse_limited(json: &str, safetensors: &[u8], memory_limit: usize) -> Result<Graph> {
    let graph = parse_graph(json, safetensors)?;
    let need = memory_estimate(&graph);
    if need > memory_limit {
        return Err(bad(format!("the engines would need about {} MiB; the memory limit is {} MiB", need >> 20, memory_limit >> 20)));
    }
    Ok(graph)
}

fn parse_graph(json: &str, safetensors: &[u8]) -> Result<Graph> {
    let doc: Value = serde_json::from_str(json).map_err(|e| bad(format!("model.json: {e}")))?;
    let format = doc["format"].as_str().unwrap_or_default();
    if format != "shiftaddaug-tiny/3" {
        return Err(bad(format!("model.json: format {format:?}; this engine reads 'shiftaddaug-tiny/3'")));
    }
    let t = Tensors::parse(safetensors)?;
    let cfg = &doc["config"];
    let input: Vec<usize> = serde_json::from_value(cfg["inputShape"].clone()).map_err(|_| bad("config.inputShape must be [c, h, w]"))?;
    let input: [usize; 3] = input.try_into().map_err(|_| bad("config.inputShape must be [c, h, w]"))?;
    if input.contains(&0) || input.iter().try_fold(1usize, |n, &d| n.checked_mul(d)).is_none_or(|n| n > 1 << 24) {
        return Err(bad(format!("config.inputShape {input:?} is empty or too large")));
    }
    let classes = usize_of(&doc["classes"], "classes")?;
    let features = usize_of(&doc["features"], "features")?;
    if classes == 0 || features == 0 {
        return Err(bad(format!("classes ({classes}) and features ({features}) must be at least 1")));
    }
    let entries = doc["layers"].as_array().ok_or_else(|| bad("model.json: layers must be a list"))?;
    let layers = entries.iter().map(|e| conv(e, &t)).collect::<Result<Vec<_>>>()?;
    let index: BTreeMap<&str, usize> = layers.iter().enumerate().map(|(i, l)| (l.name.as_str(), i)).collect();
    let at = |n: &str| index.get(n).copied().ok_or_else(|| bad(format!("layer {n} is missing from model.json")));
    let linear = |name: &str| -> Result<Linear> {
        let weight = t.f32(&format!("{name}.weight"), &[features, classes])?;
        Ok(Linear { features, classes, bias: t.f32(&format!("{name}.bias"), &[classes])?, weight })
    };
    let (mut nodes, mut se, mut final_conv) = (Vec::new(), Vec::new(), None);
    let classifier = match doc["model"].as_str() {
        Some("mfcnn") => {
            nodes.extend((0..layers.len()).map(Node::Conv));
            if cfg["head"].as_str() == Some("avgpool") {
                nodes.push(Node::AvgPool);
            }
            Some(linear("classifier")?)
        }
        Some("supernet") => {
            let spec = &cfg["spec"];
            nodes.push(Node::Conv(at("stem")?));
            let ds_shortcut = spec["dsShortcut"].as_bool().unwrap_or(false);
            if ds_shortcut {
                nodes.push(Node::Save);
            }
            nodes.extend([Node::Conv(at("ds.dw")?), Node::Conv(at("ds.pw")?)]);
            if ds_shortcut {
                nodes.push(Node::AddSaved);
            }
            let blocks = spec["blocks"].as_array().ok_or_else(|| bad("config.spec.blocks must be a list"))?;
            for (i, b) in blocks.iter().enumerate() {
                let ch: Vec<usize> = serde_json::from_value(b["channels"].clone()).map_err(|_| bad(format!("block {i}: bad channels")))?;
                let stride = usize_of(&b["stride"], &format!("block {i}: stride"))?;
                let shortcut = b["shortcut"].as_bool() != Some(false) && stride == 1 && ch.len() == 3 && ch[0] == ch[2];
                if shortcut {
                    nodes.push(Node::Save);
                }
                if let Some(&e) = index.get(format!("blocks.{i}.expand").as_str()) {
                    nodes.push(Node::Conv(e));
                }
                let dw = at(&format!("blocks.{i}.depthwise"))?;
                nodes.push(Node::Conv(dw));
                if b["se"].as_bool().unwrap_or(false) {
                    let c = layers[dw].cout;
                    let reduce = t.linear(&format!("blocks.{i}.se.reduce"), c)?;
                    let expand = t.linear(&format!("blocks.{i}.se.expand"), reduce.classes)?;
                    if expand.classes != c {
                        return Err(bad(format!(
                            "tensor blocks.{i}.se.expand.weight has {} outputs; the block has {c} channels",
                            expand.classes
                        )));
                    }
                    nodes.push(Node::Se(se.len()));
                    se.push(Se { reduce, expand });
                }
                nodes.push(Node::Conv(at(&format!("blocks.{i}.project"))?));
                if shortcut {
                    nodes.push(Node::AddSaved);
                }
            }
            if let Some(&h) = index.get("head") {
                nodes.push(Node::Conv(h));
            }
            nodes.push(Node::AvgPool);
            if let Some(f) = spec.get("finalConv").filter(|f| !f.is_null()) {
                let width = usize_of(f, "config.spec.finalConv")?;
                let pooled = t.shape("final.weight")?.first().copied().unwrap_or(0);
                let fc = t.linear("final", pooled)?;
                if fc.classes != width {
                    return Err(bad(format!("tensor final.weight has {} outputs; config.spec.finalConv is {width}", fc.classes)));
                }
                nodes.push(Node::Final);
                final_conv = Some(fc);
            }
            match index.get("classifier") {
                Some(&c) => {
                    nodes.push(Node::Conv(c));
                    None
                }
                None => Some(linear("classifier")?),
            }
        }
        m => return Err(bad(format!("model.json: model {m:?}; valid: 'supernet', 'mfcnn'"))),
    };
    let graph = Graph { input, classes, layers, nodes, se, final_conv, classifier };
    check_chain(&graph, features)?;
    Ok(graph)
}

/// The shape after each node, checked: every layer reads the channels the previous one wrote,
/// shortcuts add equal shapes, the classifier gets `features` values. Returns the final shape.
pub fn shapes(g: &Graph) -> Result<Vec<[usize; 3]>> {
    let mut s = g.input;
    let mut saved = Vec::new();
    let mut out = Vec::with_capacity(g.nodes.len());
    for n in &g.nodes {
        match *n {
            Node::Conv(i) => {
                let l = &g.layers[i];
                if l.cin != s[0] || s[1] + 2 * l.pad < l.k || s[2] + 2 * l.pad < l.k {
                    return Err(bad(format!("layer {} reads {} channels of {}×{}; it gets {s:?}", l.name, l.cin, l.k, l.k)));
                }
                s = [l.cout, (s[1] + 2 * l.pad - l.k) / l.stride + 1, (s[2] + 2 * l.pad - l.k) / l.stride + 1];
                if s.iter().try_fold(1usize, |n, &d| n.checked_mul(d)).is_none_or(|n| n > MAX_ACTIVATION) {
                    return Err(bad(format!("layer {} outputs {s:?}, more than {MAX_ACTIVATION} values", l.name)));
                }
            }
            Node::Save => saved.push(s),
            Node::AddSaved => {
                if saved.pop() != Some(s) {
                    return Err(bad(format!("a shortcut adds tensors of different shapes (at {s:?})")));
                }
            }
            Node::AvgPool => s = [s[0], 1, 1],
            Node::Se(i) => {
                let se = g.se.get(i).ok_or_else(|| bad(format!("squeeze-and-excitation {i} does not exist")))?;
                if se.reduce.features != s[0] || se.expand.classes != s[0] || se.expand.features != se.reduce.classes {
                    return Err(bad(format!("a squeeze-and-excitation of {} channels gets {s:?}", se.reduce.features)));
                }
            }
            Node::Final => {
                let f = g.final_conv.as_ref().ok_or_else(|| bad("the final conv does not exist"))?;
                if s != [f.features, 1, 1] {
                    return Err(bad(format!("the final conv reads {} pooled values; it gets {s:?}", f.features)));
                }
                s = [f.classes, 1, 1];
            }
        }
        out.push(s);
    }
    Ok(out)
}

fn check_chain(g: &Graph, features: usize) -> Result<()> {
    let last = shapes(g)?.last().copied().unwrap_or(g.input);
    let flat = last.iter().product::<usize>();
    let want = if g.classifier.is_some() { features } else { g.classes };
    if flat != want {
        return Err(bad(format!("the layers end in {last:?} ({flat} values); the classifier needs {want}")));
    }
    Ok(())
}
