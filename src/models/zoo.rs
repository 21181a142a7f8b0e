//! The tiny-model zoo as MBConv specs (METHOD.md Appendix A): MobileNetV2-Tiny, MCUNet and
//! ProxylessNAS-0.35. The ShiftAddAug supernet ([`crate::aug::AugNet`]) is built from a spec.

use super::{BlockSpec, MBV2_TINY_BLOCKS};

/// An MBConv tiny model: stem output, DS-block output, MBConv blocks, optional head conv.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NetSpec {
    /// Stem 3×3 conv output channels.
    pub stem: usize,
    /// Depthwise-separable block output channels.
    pub ds: usize,
    /// MBConv blocks.
    pub blocks: Vec<BlockSpec>,
    /// 1×1 head conv output channels (None: pool the last block directly).
    pub head: Option<usize>,
}

impl NetSpec {
    /// MobileNetV2-Tiny (METHOD.md Appendix A).
    pub fn mbv2_tiny() -> Self {
        Self { stem: 16, ds: 8, blocks: MBV2_TINY_BLOCKS.to_vec(), head: Some(448) }
    }

    /// MCUNet (ImageNet r176 model of METHOD.md Appendix A): no head conv, the head MBConv
    /// 96→480→160 feeds the pooled classifier.
    pub fn mcunet() -> Self {
        let (s, b) = (BlockSpec::stage_start, BlockSpec::new);
        Self {
            stem: 16,
            ds: 8,
            blocks: vec![
                s(7, 2, 8, 24, 16), b(3, 1, 16, 80, 16), b(7, 1, 16, 80, 16), b(5, 1, 16, 64, 16),
                s(5, 2, 16, 80, 24), b(5, 1, 24, 120, 24), b(5, 1, 24, 120, 24),
                s(3, 2, 24, 120, 40), b(7, 1, 40, 240, 40), b(5, 1, 40, 160, 40),
                s(5, 1, 40, 200, 48), b(7, 1, 48, 240, 48), b(3, 1, 48, 240, 48),
                s(3, 2, 48, 288, 96), b(7, 1, 96, 480, 96), b(3, 1, 96, 384, 96),
                s(7, 1, 96, 480, 160),
            ],
            head: None,
        }
    }

    /// ProxylessNAS-Mobile w0.35 (r160): stages of (kernel, expand) with widths
    /// 16, 16, 32, 32, 64 and strides 2, 2, 2, 1, 2; head MBConv k7 e6 → 112, conv 112 → 1280.
    pub fn proxyless_035() -> Self {
        let stages: [(usize, usize, &[(usize, usize)]); 5] = [
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
        Self { stem: 16, ds: 8, blocks, head: Some(1280) }
    }
}

