//! The cost model's compute part (issue 14, METHOD.md §8.1–8.2): operation counts per layer by
//! kind (multiplications, shifts, additions, memory reads and writes), energy from 45 nm unit
//! energies, and peak activation memory, for one image.
//!
//! It reads a list of [`Layer`]s, so any description of a network can be costed; today the
//! layers come from a deployed export ([`layers_of_graph`]).
//!
//! Conventions ([`Convention`], METHOD.md §8.2):
//! - [`Convention::PerMac`] (ShiftAddNAS): one unit energy per multiply-accumulate, by the
//!   layer's operator (Mult: a multiply, Shift: a shift, Add: an addition); the accumulation is
//!   not charged.
//! - [`Convention::Physical`]: Mult = multiply + add, Shift = shift + add, Add = 2 adds (the
//!   subtraction and the accumulation; `|·|` is a sign flip, not charged).
//!
//! BatchNorm is folded and not charged. Memory counts are each input value, weight and output
//! value moved once (a lower bound on traffic); [`dataflow`] is the estimator of §8.3, with
//! accesses at every memory level and latency; [`latency`] times the integer engine's layers on
//! the machine it runs on.

pub mod dataflow;
pub mod latency;

use crate::error::{Error, Result};
use crate::infer::format::{self, Act, Graph, Node, Op};
use crate::infer::kernels::Geometry;

/// One layer to cost: a convolution (`k × k`, possibly grouped) or the dense classifier
/// (`k = 1`, a 1×1 input, `cin` features, `cout` classes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// Name, for reports.
    pub name: String,
    /// Operator.
    pub op: Op,
    /// Channels, kernel, stride, padding, groups and input size.
    pub geo: Geometry,
    /// The activation after it (h-swish costs time in the integer engine; the others are its
    /// requantisation's clamp). Not counted in MACs or energy.
    pub act: Act,
    /// How the latency table times it.
    pub timing: Timing,
    /// The per-output parameters after its weights.
    pub affine: Affine,
}

/// The per-output parameters after a layer's weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Affine {
    /// BatchNorm's scale and shift, two per output channel: convolutions and an MF classifier.
    #[default]
    BatchNorm,
    /// A bias, one per output: dense layers (squeeze-and-excitation, the final conv, a Mult
    /// classifier).
    Bias,
}

/// How [`latency::LatencyTable`] times a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Timing {
    /// On its own, then its activation.
    #[default]
    Own,
    /// A squeeze-and-excitation's reduce FC, timed with its whole block: the mean of each of
    /// `cin` channels over `plane` values, both FCs, and each value times its channel's gate.
    SeBlock {
        /// Values per channel of the gated tensor.
        plane: usize,
    },
    /// A squeeze-and-excitation's expand FC: timed with its block's reduce FC.
    InSeBlock,
}

impl Layer {
    /// A layer without activation, timed on its own.
    pub fn new(name: String, op: Op, geo: Geometry) -> Self {
        Self { name, op, geo, act: Act::None, timing: Timing::Own, affine: Affine::BatchNorm }
    }
    /// With a bias instead of a BatchNorm (a dense layer).
    pub fn with_bias(self) -> Self {
        Self { affine: Affine::Bias, ..self }
    }
    /// With the activation `act`.
    pub fn with_act(self, act: Act) -> Self {
        Self { act, ..self }
    }
    /// With the timing `timing`.
    pub fn timed(self, timing: Timing) -> Self {
        Self { timing, ..self }
    }
    /// Output `(height, width)`.
    pub fn out(&self) -> (usize, usize) {
        self.geo.out()
    }
    /// Weights (no bias, no BatchNorm).
    pub fn weights(&self) -> u64 {
        (self.geo.cout * self.geo.fan_in()) as u64
    }
    /// Learnable parameters: the weights, then a bias or a BatchNorm's scale and shift per output.
    pub fn params(&self) -> u64 {
        let per_output = match self.affine {
            Affine::BatchNorm => 2,
            Affine::Bias => 1,
        };
        self.weights() + (per_output * self.geo.cout) as u64
    }
    /// Multiply-accumulates: `H_out · W_out · C_out · (C_in / g) · k²`.
    pub fn macs(&self) -> u64 {
        let (ho, wo) = self.out();
        (ho * wo) as u64 * self.weights()
    }
}

/// How operations are charged (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Convention {
    /// One unit energy per MAC by operator (ShiftAddNAS).
    #[default]
    PerMac,
    /// Mult = multiply + add, Shift = shift + add, Add = 2 adds.
    Physical,
}

impl Convention {
    /// Names for the CLI.
    pub const NAMES: [&'static str; 2] = ["per-mac", "physical"];

    /// The convention called `name`.
    ///
    /// # Errors
    /// [`Error::Config`] naming the valid values.
    pub fn by_name(name: &str) -> Result<Self> {
        match name {
            "per-mac" => Ok(Self::PerMac),
            "physical" => Ok(Self::Physical),
            _ => Err(Error::Config(format!("cost convention {name:?}; valid: {}", Self::NAMES.join(", ")))),
        }
    }
}

/// Unit energies in pJ (METHOD.md §8.1: Horowitz ISSCC'14, 45 nm; shift from ShiftAddNet).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UnitEnergies {
    /// A multiplication.
    pub mult: f64,
    /// An addition.
    pub add: f64,
    /// A shift.
    pub shift: f64,
}

impl UnitEnergies {
    /// 32-bit operands (FP32 multiply and add, FIX32 shift).
    pub const BITS_32: Self = Self { mult: 3.7, add: 0.9, shift: 0.13 };
    /// 8-bit operands (INT8 multiply and add, FIX8 shift).
    pub const BITS_8: Self = Self { mult: 0.2, add: 0.03, shift: 0.024 };

    /// The table for `bits` (32 or 8).
    ///
    /// # Errors
    /// [`Error::Config`] for other widths.
    pub fn for_bits(bits: u32) -> Result<Self> {
        match bits {
            32 => Ok(Self::BITS_32),
            8 => Ok(Self::BITS_8),
            _ => Err(Error::Config(format!("unit energies for {bits}-bit operands; valid: 32, 8"))),
        }
    }
}

/// Operation and memory counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Multiplications.
    pub mults: u64,
    /// Additions (and subtractions).
    pub adds: u64,
    /// Shifts.
    pub shifts: u64,
    /// Values read: input activations and weights.
    pub reads: u64,
    /// Values written: output activations.
    pub writes: u64,
}

impl std::ops::Add for Counts {
    type Output = Counts;
    fn add(self, o: Counts) -> Counts {
        Counts {
            mults: self.mults + o.mults,
            adds: self.adds + o.adds,
            shifts: self.shifts + o.shifts,
            reads: self.reads + o.reads,
            writes: self.writes + o.writes,
        }
    }
}

impl Counts {
    /// Compute energy in pJ.
    pub fn energy_pj(&self, e: &UnitEnergies) -> f64 {
        self.mults as f64 * e.mult + self.adds as f64 * e.add + self.shifts as f64 * e.shift
    }
}

/// One layer's cost.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerCost {
    /// The layer's name.
    pub name: String,
    /// Its operator.
    pub op: Op,
    /// Multiply-accumulates.
    pub macs: u64,
    /// Counts under the convention.
    pub counts: Counts,
    /// Compute energy, pJ.
    pub energy_pj: f64,
}

/// Counts of one layer under `c`.
pub fn counts(l: &Layer, c: Convention) -> Counts {
    let m = l.macs();
    let (ho, wo) = l.out();
    let (mults, adds, shifts) = match (l.op, c) {
        (Op::Mult, Convention::PerMac) => (m, 0, 0),
        (Op::Shift, Convention::PerMac) => (0, 0, m),
        (Op::Add, Convention::PerMac) => (0, m, 0),
        (Op::Mult, Convention::Physical) => (m, m, 0),
        (Op::Shift, Convention::Physical) => (0, m, m),
        (Op::Add, Convention::Physical) => (0, 2 * m, 0),
    };
    let g = &l.geo;
    Counts { mults, adds, shifts, reads: (g.cin * g.h * g.w) as u64 + l.weights(), writes: (g.cout * ho * wo) as u64 }
}

/// Per-layer costs under `c` with unit energies `e`.
pub fn layer_costs(layers: &[Layer], c: Convention, e: &UnitEnergies) -> Vec<LayerCost> {
    layers
        .iter()
        .map(|l| {
            let counts = counts(l, c);
            LayerCost { name: l.name.clone(), op: l.op, macs: l.macs(), counts, energy_pj: counts.energy_pj(e) }
        })
        .collect()
}

/// A whole network's cost for one image.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Multiply-accumulates by operator: `[Mult, Shift, Add]`.
    pub macs: [u64; 3],
    /// Counts summed over the layers.
    pub counts: Counts,
    /// Compute energy, pJ.
    pub energy_pj: f64,
    /// Weights.
    pub weights: u64,
    /// Peak activation values alive at once (the layer's input and output, and the inputs of
    /// pending shortcuts).
    pub peak_activation: u64,
    /// Each layer's cost, in forward order.
    pub layers: Vec<LayerCost>,
}

/// The cost of the deployed model `g`.
///
/// # Errors
/// [`Error::Config`] when `g`'s layers do not chain (see [`format::shapes`]).
pub fn summary_of_graph(g: &Graph, c: Convention, e: &UnitEnergies) -> Result<Summary> {
    let layers = layers_of_graph(g)?;
    let costs = layer_costs(&layers, c, e);
    let mut macs = [0u64; 3];
    for (l, cost) in layers.iter().zip(&costs) {
        macs[op_index(l.op)] += cost.macs;
    }
    Ok(Summary {
        macs,
        counts: costs.iter().fold(Counts::default(), |a, l| a + l.counts),
        energy_pj: costs.iter().map(|l| l.energy_pj).sum(),
        weights: layers.iter().map(Layer::weights).sum(),
        peak_activation: peak_activation(g)?,
        layers: costs,
    })
}

/// The index of `op` in [`Summary::macs`]: Mult 0, Shift 1, Add 2.
pub fn op_index(op: Op) -> usize {
    match op {
        Op::Mult => 0,
        Op::Shift => 1,
        Op::Add => 2,
    }
}

/// The layers of a deployed model in forward order, with their input sizes; its dense layers
/// (squeeze-and-excitation, MobileNetV3's final conv, the classifier when the export has one)
/// as Mult 1×1 layers on one pixel. The excitation's per-value products and h-swish are not
/// counted.
///
/// # Errors
/// [`Error::Config`] when `g`'s layers do not chain.
pub fn layers_of_graph(g: &Graph) -> Result<Vec<Layer>> {
    let shapes = format::shapes(g)?;
    let mut out = Vec::new();
    let dense = |name: String, c: &format::Linear| {
        let geo = Geometry { cin: c.features, cout: c.classes, k: 1, stride: 1, pad: 0, groups: 1, h: 1, w: 1 };
        Layer::new(name, Op::Mult, geo).with_bias()
    };
    for (i, node) in g.nodes.iter().enumerate() {
        let s = if i == 0 { g.input } else { shapes[i - 1] };
        match *node {
            Node::Conv(l) => {
                let c = &g.layers[l];
                out.push(Layer::new(c.name.clone(), c.op, c.geometry(s[1], s[2])).with_act(c.act));
            }
            Node::Se(j) => {
                out.push(dense(format!("se.{j}.reduce"), &g.se[j].reduce).timed(Timing::SeBlock { plane: s[1] * s[2] }));
                out.push(dense(format!("se.{j}.expand"), &g.se[j].expand).timed(Timing::InSeBlock));
            }
            Node::Final => out.extend(g.final_conv.as_ref().map(|f| dense("final".into(), f).with_act(Act::Hswish))),
            _ => {}
        }
    }
    out.extend(g.classifier.as_ref().map(|c| dense("classifier".into(), c)));
    Ok(out)
}

/// Peak activation values of one image through `g`: at each node, its input and output plus the
/// saved shortcut inputs.
///
/// # Errors
/// [`Error::Config`] when `g`'s layers do not chain.
pub fn peak_activation(g: &Graph) -> Result<u64> {
    let shapes = format::shapes(g)?;
    let size = |s: [usize; 3]| s.iter().product::<usize>() as u64;
    let (mut saved, mut peak) = (Vec::new(), size(g.input));
    for (i, node) in g.nodes.iter().enumerate() {
        let input = if i == 0 { g.input } else { shapes[i - 1] };
        match node {
            Node::Save => saved.push(size(input)),
            Node::AddSaved => {
                saved.pop();
            }
            _ => {}
        }
        peak = peak.max(size(input) + size(shapes[i]) + saved.iter().sum::<u64>());
    }
    Ok(peak)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A square `k × k` layer on a square input, padding `k / 2` (also used by `dataflow`'s tests).
    pub(super) fn conv(op: Op, cin: usize, cout: usize, k: usize, stride: usize, groups: usize, hw: usize) -> Layer {
        Layer::new("t".into(), op, Geometry { cin, cout, k, stride, pad: k / 2, groups, h: hw, w: hw })
    }

    /// Counts and energies of a few layers, computed by hand.
    #[test]
    fn hand_counted_layers() {
        // 3×3, 8 → 16, 10×10, stride 1, pad 1: 16 · 10 · 10 · 8 · 9 = 115 200 MACs.
        let l = conv(Op::Shift, 8, 16, 3, 1, 1, 10);
        assert_eq!(l.macs(), 115_200);
        let c = counts(&l, Convention::PerMac);
        assert_eq!((c.mults, c.adds, c.shifts), (0, 0, 115_200));
        // Reads: 8 · 100 inputs + 1 152 weights; writes 16 · 100.
        assert_eq!((c.reads, c.writes), (1_952, 1_600));
        assert!((c.energy_pj(&UnitEnergies::BITS_32) - 115_200.0 * 0.13).abs() < 1e-6);
        let p = counts(&l, Convention::Physical);
        assert_eq!((p.mults, p.adds, p.shifts), (0, 115_200, 115_200));
        assert!((p.energy_pj(&UnitEnergies::BITS_32) - 115_200.0 * (0.9 + 0.13)).abs() < 1e-6);
        // Depthwise 3×3 stride 2 on 16×16, 48 channels: out 8×8, 48 · 64 · 9 = 27 648 MACs.
        let dw = conv(Op::Add, 48, 48, 3, 2, 48, 16);
        assert_eq!((dw.out(), dw.macs()), ((8, 8), 27_648));
        let p = counts(&dw, Convention::Physical);
        assert_eq!((p.mults, p.adds, p.shifts), (0, 55_296, 0));
        assert!((p.energy_pj(&UnitEnergies::BITS_8) - 55_296.0 * 0.03).abs() < 1e-9);
        // Pointwise Mult 16 → 96 on 8×8: 64 · 96 · 16 = 98 304 MACs; 8-bit: 98 304 · 0.2 pJ.
        let pw = conv(Op::Mult, 16, 96, 1, 1, 1, 8);
        assert_eq!(pw.macs(), 98_304);
        assert!((counts(&pw, Convention::PerMac).energy_pj(&UnitEnergies::BITS_8) - 98_304.0 * 0.2).abs() < 1e-9);
        assert!((counts(&pw, Convention::Physical).energy_pj(&UnitEnergies::BITS_8) - 98_304.0 * 0.23).abs() < 1e-9);
    }

    #[test]
    fn bad_names_list_the_valid_values() {
        assert!(Convention::by_name("mac").unwrap_err().to_string().contains("per-mac, physical"));
        assert!(UnitEnergies::for_bits(16).unwrap_err().to_string().contains("32, 8"));
    }
}
