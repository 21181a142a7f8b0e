//! The tiny-model zoo as MBConv specs (METHOD.md Appendix A): MobileNetV2-Tiny, MCUNet,
//! ProxylessNAS-0.35 and MobileNetV3-0.35. The ShiftAddAug supernet ([`crate::aug::AugNet`]) is
//! built from a spec.

use super::{Act, BlockSpec, MBV2_TINY_BLOCKS};

/// An MBConv tiny model: stem output, DS-block output, MBConv blocks, optional head conv.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetSpec {
    /// Stem 3×3 conv output channels.
    pub stem: usize,
    /// Depthwise-separable block output channels.
    pub ds: usize,
    /// MBConv blocks.
    pub blocks: Vec<BlockSpec>,
    /// 1×1 head conv output channels (None: pool the last block directly).
    pub head: Option<usize>,
    /// Activation of the stem and the head conv (default ReLU6).
    #[serde(default, skip_serializing_if = "Act::is_relu6")]
    pub stem_act: Act,
    /// Activation of the DS block's depthwise conv (default ReLU6).
    #[serde(default, skip_serializing_if = "Act::is_relu6")]
    pub ds_act: Act,
    /// Whether the DS block adds its input to its output (needs stem = ds; MobileNetV3).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ds_shortcut: bool,
    /// Width of a multiplicative 1×1 conv with bias and h-swish, no BN, between pooling and the
    /// classifier (MobileNetV3's 1280).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_conv: Option<usize>,
}

impl NetSpec {
    /// Names accepted by [`by_name`](Self::by_name) (CLI `--model`, SDK `model`).
    pub const NAMES: [&'static str; 4] = ["mbv2-tiny", "mcunet", "proxyless-0.35", "mobilenetv3-0.35"];

    /// The zoo spec called `name` (one of [`NAMES`](Self::NAMES)).
    pub fn by_name(name: &str) -> Option<Self> {
        match name {
            "mbv2-tiny" => Some(Self::mbv2_tiny()),
            "mcunet" => Some(Self::mcunet()),
            "proxyless-0.35" => Some(Self::proxyless_035()),
            "mobilenetv3-0.35" => Some(Self::mobilenet_v3_035()),
            _ => None,
        }
    }

    /// MobileNetV2-Tiny (METHOD.md Appendix A).
    pub fn mbv2_tiny() -> Self {
        Self::plain(16, 8, MBV2_TINY_BLOCKS.to_vec(), Some(448))
    }

    /// The spec with every width (stem, DS block, each block's input, middle and output, head
    /// conv) multiplied by `factor` and rounded by NetAug's `make_divisible` (multiples of 8,
    /// at least 8); the final conv keeps its width, as in OFA. Identity shortcuts stay where the
    /// spec has them and nowhere else (rounding can make widths equal that were not).
    ///
    /// # Errors
    /// [`crate::Error::Config`] when `factor` is not in `(0, 8]`.
    pub fn scaled(&self, factor: f32) -> crate::Result<Self> {
        if !(factor > 0.0 && factor <= 8.0) {
            return Err(crate::Error::Config(format!("width multiplier {factor}; valid: (0, 8]")));
        }
        if factor == 1.0 {
            return Ok(self.clone());
        }
        let w = |c: usize| crate::aug::make_divisible(c as f32 * factor);
        let blocks = self
            .blocks
            .iter()
            .map(|b| BlockSpec { channels: b.channels.map(w), shortcut: if b.has_shortcut() { None } else { Some(false) }, ..*b })
            .collect();
        Ok(Self { stem: w(self.stem), ds: w(self.ds), blocks, head: self.head.map(w), ..self.clone() })
    }

    /// A spec with ReLU6 everywhere, no DS shortcut and no final conv.
    pub fn plain(stem: usize, ds: usize, blocks: Vec<BlockSpec>, head: Option<usize>) -> Self {
        Self { stem, ds, blocks, head, stem_act: Act::Relu6, ds_act: Act::Relu6, ds_shortcut: false, final_conv: None }
    }

    /// MobileNetV3-Large w0.35 (r160, METHOD.md Appendix A): stem 3×3 s2 → 8 (h-swish); DS block
    /// 8 → 8 with shortcut (ReLU); stages of widths 8, 16, 32, 40, 56 (strides 2, 2, 2, 1, 2;
    /// kernels 3, 5, 3, 3, 5; ReLU in the first two, h-swish after; SE in stages 2, 4, 5); head
    /// conv 56 → 336 (h-swish); after pooling a 336 → 1280 conv with bias (h-swish); classifier.
    pub fn mobilenet_v3_035() -> Self {
        // (output width, stride, kernel, activation, SE, middle widths of the stage's blocks)
        type Stage = (usize, usize, usize, Act, bool, &'static [usize]);
        let stages: [Stage; 5] = [
            (8, 2, 3, Act::Relu, false, &[24, 24]),
            (16, 2, 5, Act::Relu, true, &[24, 40, 40]),
            (32, 2, 3, Act::Hswish, false, &[88, 72, 64, 64]),
            (40, 1, 3, Act::Hswish, true, &[168, 232]),
            (56, 2, 5, Act::Hswish, true, &[232, 336, 336]),
        ];
        let mut blocks = Vec::new();
        let mut cur = 8;
        for (out, stride, k, act, se, mids) in stages {
            for (j, &mid) in mids.iter().enumerate() {
                let b = if j == 0 { BlockSpec::stage_start(k, stride, cur, mid, out) } else { BlockSpec::new(k, 1, cur, mid, out) };
                blocks.push(b.with(act, se));
                cur = out;
            }
        }
        Self {
            stem: 8,
            ds: 8,
            blocks,
            head: Some(336),
            stem_act: Act::Hswish,
            ds_act: Act::Relu,
            ds_shortcut: true,
            final_conv: Some(1280),
        }
    }

    /// MCUNet (ImageNet r176 model of METHOD.md Appendix A): no head conv, the head MBConv
    /// 96→480→160 feeds the pooled classifier.
    pub fn mcunet() -> Self {
        let (s, b) = (BlockSpec::stage_start, BlockSpec::new);
        Self {
            stem: 16,
            ds: 8,
            blocks: vec![
                s(7, 2, 8, 24, 16),
                b(3, 1, 16, 80, 16),
                b(7, 1, 16, 80, 16),
                b(5, 1, 16, 64, 16),
                s(5, 2, 16, 80, 24),
                b(5, 1, 24, 120, 24),
                b(5, 1, 24, 120, 24),
                s(3, 2, 24, 120, 40),
                b(7, 1, 40, 240, 40),
                b(5, 1, 40, 160, 40),
                s(5, 1, 40, 200, 48),
                b(7, 1, 48, 240, 48),
                b(3, 1, 48, 240, 48),
                s(3, 2, 48, 288, 96),
                b(7, 1, 96, 480, 96),
                b(3, 1, 96, 384, 96),
                s(7, 1, 96, 480, 160),
            ],
            head: None,
            ..Self::mbv2_tiny()
        }
    }

    /// ProxylessNAS-Mobile w0.35 (r160): stages of (kernel, expand) with widths
    /// 16, 16, 32, 32, 64 and strides 2, 2, 2, 1, 2; head MBConv k7 e6 → 112, conv 112 → 1280.
    pub fn proxyless_035() -> Self {
        // (output width, stride, (kernel, expand) of the stage's blocks)
        type Stage = (usize, usize, &'static [(usize, usize)]);
        let stages: [Stage; 5] = [
            (16, 2, &[(5, 3), (3, 3)]),
            (16, 2, &[(7, 3), (3, 3), (5, 3), (5, 3)]),
            (32, 2, &[(7, 6), (5, 3), (5, 3), (5, 3)]),
            (32, 1, &[(5, 6), (5, 3), (5, 3), (5, 3)]),
            (64, 2, &[(7, 6), (7, 6), (7, 3), (7, 3)]),
        ];
        let mut blocks = Vec::new();
        let mut cur = 8;
        for (out, stride, ks) in stages {
            for (j, &(k, e)) in ks.iter().enumerate() {
                let mid = crate::aug::make_divisible((cur * e) as f32);
                blocks.push(if j == 0 { BlockSpec::stage_start(k, stride, cur, mid, out) } else { BlockSpec::new(k, 1, cur, mid, out) });
                cur = out;
            }
        }
        blocks.push(BlockSpec::stage_start(7, 1, cur, crate::aug::make_divisible((cur * 6) as f32), 112));
        Self::plain(16, 8, blocks, Some(1280))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::ConvKind;

    /// A plan names operators per block; they survive a JSON round trip, a block without them
    /// writes none, and an unknown field of the spec or of a block is refused by name.
    #[test]
    fn plans_carry_operators_per_block_and_refuse_unknown_fields() {
        let mut spec = NetSpec::mbv2_tiny();
        spec.blocks[1].conv = Some(ConvKind::Mult);
        spec.blocks[2].depthwise = Some(ConvKind::Add);
        let text = serde_json::to_string(&spec).unwrap();
        assert_eq!(serde_json::from_str::<NetSpec>(&text).unwrap(), spec);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["blocks"][1]["conv"], "mult");
        assert_eq!(v["blocks"][2]["depthwise"], "add");
        assert!(v["blocks"][0].get("conv").is_none() && v["blocks"][0].get("depthwise").is_none());
        assert_eq!(spec.blocks[1].ops(ConvKind::Add, Some(ConvKind::Shift)), (ConvKind::Mult, ConvKind::Mult));
        assert_eq!(spec.blocks[2].ops(ConvKind::Add, Some(ConvKind::Shift)), (ConvKind::Add, ConvKind::Add));
        assert_eq!(spec.blocks[0].ops(ConvKind::Add, Some(ConvKind::Shift)), (ConvKind::Add, ConvKind::Shift));
        assert_eq!(spec.blocks[0].ops(ConvKind::Shift, None), (ConvKind::Shift, ConvKind::Shift));
        for (path, bad) in [("/blocks/0", "op"), ("", "depth")] {
            let mut v = v.clone();
            v.pointer_mut(path).unwrap().as_object_mut().unwrap().insert(bad.into(), 1.into());
            let e = serde_json::from_value::<NetSpec>(v).unwrap_err().to_string();
            assert!(e.contains(&format!("unknown field `{bad}`")), "{e}");
        }
    }
}
