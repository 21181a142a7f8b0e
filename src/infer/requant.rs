//! The integer engine's requantisation: BatchNorm and activation of one output channel applied to
//! its `i32` sums, written once over [`IntLanes`] like the convolution kernels.

use super::kernels::Isa;
use super::lanes::IntLanes;
#[cfg(any(feature = "train", not(all(target_arch = "wasm32", target_feature = "simd128"))))]
use super::lanes::Scalar;

/// One output channel's requantisation in `i32`: with `t = (clamp(acc, acc_lo, acc_hi) − offset)
/// << pre` (wrapping), `y = clamp(((⌊t · m / 2^16⌋ + half) >> shift) + bias, lo, hi)` and `half =
/// 2^(shift − 1)` (0 for `shift = 0`), i.e. `t · m / 2^(16 + shift)` rounded half up, plus the bias.
/// `⌊t · m / 2^16⌋` is computed exactly from `t`'s 16-bit halves, so no step leaves `i32` when `|m|
/// < 2^15`, `shift <= 30`, `|bias| <= 2^29` and `lo <= hi` lie in the 16-bit range
/// ([`Requant16::new`] ensures it). The offset lets sums with a large mean (adder layers) be
/// centred first, so that the 15-bit multiplier's error scales with the output, not with the sum.
/// The window and the pre-shift serve multipliers of 1/2 or more ([`with_window`](Self::with_window)):
/// outside a window around the offset every output saturates, and inside it `t << pre` fits
/// `i32`, so the same 15-bit arithmetic reaches multipliers up to `2^15`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requant16 {
    acc_lo: i32,
    acc_hi: i32,
    offset: i32,
    pre: u32,
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
        Self {
            acc_lo: i32::MIN,
            acc_hi: i32::MAX,
            offset,
            pre: 0,
            m: m.clamp(-32767, 32767),
            shift: shift.min(30),
            bias: bias.clamp(-(1 << 29), 1 << 29),
            lo,
            hi: hi.max(lo),
        }
    }

    /// The sums clamped to `[acc_lo, acc_hi]` (swapped if reversed) and, after the offset is
    /// taken, shifted left by `pre` (at most 30; bits shifted out are lost, as in the lanes).
    pub fn with_window(self, acc_lo: i32, acc_hi: i32, pre: u32) -> Self {
        Self { acc_lo: acc_lo.min(acc_hi), acc_hi: acc_hi.max(acc_lo), pre: pre.min(30), ..self }
    }

    /// True when the window or the pre-shift does something.
    fn windowed(&self) -> bool {
        self.pre > 0 || self.acc_lo > i32::MIN || self.acc_hi < i32::MAX
    }

    /// One value, by the definition (the kernels give the same bits).
    pub fn apply(&self, acc: i32) -> i16 {
        let acc = acc.clamp(self.acc_lo, self.acc_hi).wrapping_sub(self.offset) << self.pre;
        let t = ((acc >> 16) * self.m + (((acc & 0xffff) * self.m) >> 16) + self.half()) >> self.shift;
        (t + self.bias).clamp(self.lo, self.hi) as i16
    }

    fn half(&self) -> i32 {
        if self.shift > 0 { 1 << (self.shift - 1) } else { 0 }
    }
}

/// `y[r·cols + j] = rq.apply(acc[r·pitch + j])` for every row `r` of `y` (`cols ≤ pitch`) on
/// `isa`, a vector at a time (a row's last partial group through the same vector operations on a
/// copy). One call per output plane: the constants are set up once.
pub fn requantize(isa: Isa, acc: &[i32], pitch: usize, y: &mut [i16], cols: usize, rq: &Requant16) {
    if rq.windowed() { requantize_on::<true>(isa, acc, pitch, y, cols, rq) } else { requantize_on::<false>(isa, acc, pitch, y, cols, rq) }
}

/// [`requantize`] with the window and pre-shift applied (`WINDOW`) or known to be no-ops.
#[inline(always)]
fn requantize_on<const WINDOW: bool>(isa: Isa, acc: &[i32], pitch: usize, y: &mut [i16], cols: usize, rq: &Requant16) {
    match isa {
        #[cfg(any(feature = "train", not(all(target_arch = "wasm32", target_feature = "simd128"))))]
        Isa::Scalar => requant_plane::<Scalar, WINDOW>(acc, pitch, y, cols, rq),
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        Isa::Simd128 => requant_plane::<super::lanes::Simd128, WINDOW>(acc, pitch, y, cols, rq),
        #[cfg(target_arch = "x86_64")]
        Isa::Sse2 => requant_plane::<super::lanes::Sse2, WINDOW>(acc, pitch, y, cols, rq),
        // SAFETY: `Isa::Avx2` exists only where the CPU has AVX2 (`Isa::available`).
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { requant_avx2::<WINDOW>(acc, pitch, y, cols, rq) },
    }
}

/// [`requant_plane`] on AVX2, compiled with it so that its lanes inline.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn requant_avx2<const WINDOW: bool>(acc: &[i32], pitch: usize, y: &mut [i16], cols: usize, rq: &Requant16) {
    requant_plane::<super::lanes::Avx2, WINDOW>(acc, pitch, y, cols, rq)
}

/// A requantisation's constants in vectors.
struct Consts<L: IntLanes> {
    m: L::V,
    half: L::V,
    bias: L::V,
    lo: L::V,
    hi: L::V,
    low: L::V,
    offset: L::V,
    acc_lo: L::V,
    acc_hi: L::V,
    pre: u32,
    shift: u32,
}

impl<L: IntLanes> Consts<L> {
    #[inline(always)]
    fn new(rq: &Requant16) -> Self {
        Self {
            m: L::splat(rq.m),
            half: L::splat(rq.half()),
            bias: L::splat(rq.bias),
            lo: L::splat(rq.lo),
            hi: L::splat(rq.hi),
            low: L::splat(0xffff),
            offset: L::splat(rq.offset),
            acc_lo: L::splat(rq.acc_lo),
            acc_hi: L::splat(rq.acc_hi),
            pre: rq.pre,
            shift: rq.shift,
        }
    }

    /// [`Requant16::apply`] on every lane. A method, not a closure: inlined into an AVX2 caller,
    /// it runs with the caller's target features (a closure would not).
    #[inline(always)]
    fn apply<const WINDOW: bool>(&self, a: L::V) -> L::V {
        let a = if WINDOW {
            L::shl(L::sub(L::min(L::max(a, self.acc_lo), self.acc_hi), self.offset), self.pre)
        } else {
            L::sub(a, self.offset)
        };
        let t = L::add(L::add(L::mul(L::sar(a, 16), self.m), L::sar(L::mul(L::and(a, self.low), self.m), 16)), self.half);
        L::min(L::max(L::add(L::sar(t, self.shift), self.bias), self.lo), self.hi)
    }
}

#[inline(always)]
fn requant_plane<L: IntLanes, const WINDOW: bool>(acc: &[i32], pitch: usize, y: &mut [i16], cols: usize, rq: &Requant16) {
    assert!(cols <= pitch && cols > 0, "requantize: {cols} columns in rows of {pitch}");
    let c = Consts::<L>::new(rq);
    let n = L::LANES;
    for (y, acc) in y.chunks_exact_mut(cols).zip(acc.chunks(pitch)) {
        let mut j = 0;
        while j + n <= cols {
            L::store16(&mut y[j..j + n], c.apply::<WINDOW>(L::load(&acc[j..j + n])));
            j += n;
        }
        if j < cols {
            let (mut a, mut out) = ([0i32; 8], [0i16; 8]);
            a[..cols - j].copy_from_slice(&acc[j..cols]);
            L::store16(&mut out, c.apply::<WINDOW>(L::load(&a)));
            y[j..cols].copy_from_slice(&out[..cols - j]);
        }
    }
}
