//! The cost model on exports (issue 14): the layers read back from an exported MobileNetV2-Tiny
//! have the MACs, weights and peak memory that its spec gives when counted by hand, per operator.

use burn::tensor::Device;
use shiftaddaug::aug::{AugConfig, AugNetConfig};
use shiftaddaug::cost::{self, Convention, UnitEnergies};
use shiftaddaug::engine::block_on;
use shiftaddaug::export::export_supernet;
use shiftaddaug::infer::format::{self, Op};
use shiftaddaug::models::NetSpec;
use shiftaddaug::nn::ConvKind;

/// MACs of MobileNetV2-Tiny on `hw × hw` (stem stride 1), by operator `[Mult, Shift, Add]` with the
/// MF operator `mf` everywhere but the Mult stem and classifier; and the weights.
fn by_hand(hw: usize, mf: usize) -> ([u64; 3], u64) {
    let spec = NetSpec::mbv2_tiny();
    let (mut macs, mut weights) = ([0u64; 3], 0u64);
    let mut add = |op: usize, cin: usize, cout: usize, k: usize, groups: usize, out: usize| {
        let w = (cout * cin / groups * k * k) as u64;
        macs[op] += w * (out * out) as u64;
        weights += w;
    };
    let mut s = hw;
    add(0, 1, spec.stem, 3, 1, s);
    add(mf, spec.stem, spec.stem, 3, spec.stem, s);
    add(mf, spec.stem, spec.ds, 1, 1, s);
    for b in &spec.blocks {
        let [i, m, o] = b.channels;
        add(mf, i, m, 1, 1, s);
        s = (s + 2 * (b.kernel / 2) - b.kernel) / b.stride + 1;
        add(mf, m, m, b.kernel, m, s);
        add(mf, m, o, 1, 1, s);
    }
    let last = spec.blocks.last().unwrap().channels[2];
    let head = spec.head.unwrap();
    add(mf, last, head, 1, 1, s);
    add(0, head, 10, 1, 1, 1);
    (macs, weights)
}

#[test]
fn mobilenet_export_costs_match_the_spec_counted_by_hand() {
    let device = Device::flex();
    device.seed(1);
    for (conv, mf) in [(ConvKind::Shift, 1), (ConvKind::Add, 2)] {
        let cfg = AugNetConfig { aug: AugConfig::direct(), ..AugNetConfig::new([1, 32, 32], 10, conv) };
        let (json, bytes) = block_on(export_supernet(&cfg.init(&device).unwrap())).unwrap();
        let g = format::parse(&json, &bytes).unwrap();
        let s = cost::summary_of_graph(&g, Convention::PerMac, &UnitEnergies::BITS_32).unwrap();
        let (macs, weights) = by_hand(32, mf);
        assert_eq!(s.macs, macs, "{conv:?}");
        assert_eq!(s.weights, weights, "{conv:?}");
        assert_eq!(macs.iter().sum::<u64>(), 4_072_000);
        let unit = [3.7, 0.13, 0.9];
        let want: f64 = macs.iter().zip(unit).map(|(&m, e)| m as f64 * e).sum();
        assert!((s.energy_pj - want).abs() < 1e-6 * want, "{conv:?}: {} pJ, by hand {want}", s.energy_pj);
        // Peak: the first block's depthwise conv reads 48 × 32 × 32 and writes 48 × 16 × 16 (no
        // shortcut pending: the block has stride 2).
        assert_eq!(s.peak_activation, 48 * 1024 + 48 * 256);
        let layers = cost::layers_of_graph(&g).unwrap();
        assert_eq!(layers.iter().filter(|l| l.op == Op::Mult).count(), 2, "stem and classifier");
    }
}
