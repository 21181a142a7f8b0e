//! The integer engine's requantisation: BatchNorm and activation of one output channel applied to
//! its `i32` sums, written once over [`IntLanes`] like the convolution kernels.

use super::kernels::Isa;
use super::lanes::IntLanes;
#[cfg(any(feature = "train", not(all(target_arch = "wasm32", target_feature = "simd128"))))]
use super::lanes::Scalar;

/// One output channel's requantisation in `i32`: with `t = acc − offset` (wrapping),
/// `y = clamp(((⌊t · m / 2^16⌋ + half) >> shift) + bias, lo, hi)` and `half = 2^(shift − 1)` (0
/// for `shift = 0`), i.e. `t · m / 2^(16 + shift)` rounded half up, plus the bias. `⌊t · m /
/// 2^16⌋` is computed exactly from `t`'s 16-bit halves, so no step leaves `i32` when `|m| < 2^15`,
/// `shift <= 30`, `|bias| <= 2^29` and `lo <= hi` lie in the 16-bit range ([`Requant16::new`]
/// ensures it). The offset lets sums with a large mean (adder layers) be centred first, so that
/// the 15-bit multiplier's error scales with the output, not with the sum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requant16 {
    offset: i32,
    m: i32,
    shift: u32,
    bias: i32,
    lo: i32,
    hi: i32,
}

impl Requant16 {
    /// The requantisation, with its parameters clamped into the ranges above.
    pub fn new(offset: i32, m: i32, shift: u32, bias: i32, lo: i32, hi: i32) -> Self {
        let (lo, hi) = (lo.clamp(i16::MIN as i32, i16::MAX as i32), hi.clamp(i16::MIN as i32, i16::MAX as i32));
        Self { offset, m: m.clamp(-32767, 32767), shift: shift.min(30), bias: bias.clamp(-(1 << 29), 1 << 29), lo, hi: hi.max(lo) }
    }

    /// One value, by the definition (the kernels give the same bits).
    pub fn apply(&self, acc: i32) -> i16 {
        let acc = acc.wrapping_sub(self.offset);
        let t = ((acc >> 16) * self.m + (((acc & 0xffff) * self.m) >> 16) + self.half()) >> self.shift;
        (t + self.bias).clamp(self.lo, self.hi) as i16
    }

    fn half(&self) -> i32 {
        if self.shift > 0 { 1 << (self.shift - 1) } else { 0 }
    }
}

/// `y[r·cols + j] = rq.apply(acc[r·pitch + j])` for every row `r` of `y` (`cols ≤ pitch`) on
/// `isa`, four at a time (a row's last partial group through the same vector operations on a
/// copy). One call per output plane: the constants are set up once.
pub fn requantize(isa: Isa, acc: &[i32], pitch: usize, y: &mut [i16], cols: usize, rq: &Requant16) {
    match isa {
        #[cfg(any(feature = "train", not(all(target_arch = "wasm32", target_feature = "simd128"))))]
        Isa::Scalar => requant_plane::<Scalar>(acc, pitch, y, cols, rq),
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        Isa::Simd128 => requant_plane::<super::lanes::Simd128>(acc, pitch, y, cols, rq),
        #[cfg(target_arch = "x86_64")]
        Isa::Sse2 => requant_plane::<super::lanes::Sse2>(acc, pitch, y, cols, rq),
    }
}

#[inline(always)]
fn requant_plane<L: IntLanes>(acc: &[i32], pitch: usize, y: &mut [i16], cols: usize, rq: &Requant16) {
    assert!(cols <= pitch && cols > 0, "requantize: {cols} columns in rows of {pitch}");
    let (m, half, bias, lo, hi, low) =
        (L::splat(rq.m), L::splat(rq.half()), L::splat(rq.bias), L::splat(rq.lo), L::splat(rq.hi), L::splat(0xffff));
    let offset = L::splat(rq.offset);
    let f = |a: L::V| {
        let a = L::sub(a, offset);
        let t = L::add(L::add(L::mul(L::sar(a, 16), m), L::sar(L::mul(L::and(a, low), m), 16)), half);
        L::min(L::max(L::add(L::sar(t, rq.shift), bias), lo), hi)
    };
    for (y, acc) in y.chunks_exact_mut(cols).zip(acc.chunks(pitch)) {
        let mut j = 0;
        while j + 4 <= cols {
            L::store16(&mut y[j..j + 4], f(L::load(&acc[j..j + 4])));
            j += 4;
        }
        if j < cols {
            let (mut a, mut out) = ([0i32; 4], [0i16; 4]);
            a[..cols - j].copy_from_slice(&acc[j..cols]);
            L::store16(&mut out, f(L::load(&a)));
            y[j..cols].copy_from_slice(&out[..cols - j]);
        }
    }
}
