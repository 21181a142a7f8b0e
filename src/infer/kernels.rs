//! The integer engine's convolution kernels: one output channel's accumulator plane from 16-bit
//! activations, written once over [`IntLanes`] and instantiated for every instruction set
//! ([`Isa`]). Each tap's weight is applied to a whole plane of outputs, row by row, so the inner
//! loops run over contiguous (or stride-2) inputs with one weight.
//!
//! The sums are `i32` with wrapping arithmetic, which is associative and commutative, so every
//! summation order, and every instruction set, gives the bits of the per-output reference
//! ([`accumulate_reference`]). `infer::int` chooses scales that keep the sums from wrapping.

use super::lanes::{IntLanes, Scalar};

/// Shape of one convolution over one `[cin, h, w]` input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Input channels.
    pub cin: usize,
    /// Output channels.
    pub cout: usize,
    /// Square kernel size.
    pub k: usize,
    /// Stride (both axes), ≥ 1.
    pub stride: usize,
    /// Zero padding (both axes).
    pub pad: usize,
    /// 1 (dense) or `cin` (= `cout`, depthwise).
    pub groups: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
}

impl Geometry {
    /// Output `(height, width)`.
    pub fn out(&self) -> (usize, usize) {
        ((self.h + 2 * self.pad - self.k) / self.stride + 1, (self.w + 2 * self.pad - self.k) / self.stride + 1)
    }
    /// Weights per output channel.
    pub fn fan_in(&self) -> usize {
        self.cin / self.groups * self.k * self.k
    }
}

/// The weights of one convolution in integers, `[cout, cin/groups, k, k]`.
#[derive(Debug, Clone, Copy)]
pub enum Taps<'a> {
    /// Term `sign · (x << s)` for `s >= 0`, `sign · (x >> −s)` (floor) for `s < 0`; `s` in `[−31, 31]`.
    Shift {
        /// Shift amounts.
        shifts: &'a [i32],
        /// Signs in {−1, 0, 1}.
        signs: &'a [i8],
    },
    /// Term `−|(x << guard[oc]) − w|` (padding reads `x = 0`); `guard[oc]` in `0..32`.
    Add {
        /// Weights at the input's scale times `2^guard`.
        weights: &'a [i32],
        /// Guard bits per output channel.
        guard: &'a [u32],
    },
    /// Term `x · w`.
    Mult {
        /// Integer weights.
        weights: &'a [i32],
    },
}

/// An instruction set the kernels run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// Portable `[i32; 4]` code.
    Scalar,
    /// WebAssembly SIMD128.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    Simd128,
    /// x86-64 SSE2.
    #[cfg(target_arch = "x86_64")]
    Sse2,
}

impl Isa {
    /// The fastest set this build supports (the one the engine uses).
    pub fn best() -> Self {
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        return Isa::Simd128;
        #[cfg(target_arch = "x86_64")]
        return Isa::Sse2;
        #[allow(unreachable_code)]
        Isa::Scalar
    }
    /// Every set this build supports (the conformance check runs each).
    pub fn available() -> Vec<Self> {
        let mut v = vec![Isa::Scalar];
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        v.push(Isa::Simd128);
        #[cfg(target_arch = "x86_64")]
        v.push(Isa::Sse2);
        v
    }
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => Scalar::NAME,
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Isa::Simd128 => super::lanes::Simd128::NAME,
            #[cfg(target_arch = "x86_64")]
            Isa::Sse2 => super::lanes::Sse2::NAME,
        }
    }
}

/// Output channel `oc`'s accumulators (`out()` plane, row-major) on `isa`: `acc` is overwritten.
/// `x` is the `[cin, h, w]` input.
///
/// # Panics
/// When `x`, `acc` or the taps are shorter than the geometry says.
pub fn accumulate(isa: Isa, g: &Geometry, taps: &Taps, x: &[i16], oc: usize, acc: &mut [i32]) {
    match isa {
        Isa::Scalar => plane::<Scalar>(g, taps, x, oc, acc),
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        Isa::Simd128 => plane::<super::lanes::Simd128>(g, taps, x, oc, acc),
        #[cfg(target_arch = "x86_64")]
        Isa::Sse2 => plane::<super::lanes::Sse2>(g, taps, x, oc, acc),
    }
}

/// Output indices `o` in `0..n_out` whose input `o · stride + tap − pad` lies in `0..n_in`.
fn valid(n_in: usize, n_out: usize, stride: usize, tap: usize, pad: usize) -> std::ops::Range<usize> {
    // o · stride ≥ pad − tap, and o · stride + tap − pad ≤ n_in − 1.
    let lo = pad.saturating_sub(tap).div_ceil(stride);
    let hi = if n_in + pad > tap { ((n_in + pad - tap - 1) / stride + 1).min(n_out) } else { 0 };
    lo..hi.max(lo)
}

/// `f(acc[j..j + 4], x[j · stride ..])` over a row, four outputs at a time; the last partial group
/// goes through the same vector operation on a zero-filled copy (so the tail has the same bits).
/// Strides 1 and 2 load directly, other strides gather.
#[inline(always)]
fn row<L: IntLanes>(acc: &mut [i32], x: &[i16], stride: usize, f: impl Fn(L::V, L::V) -> L::V) {
    let n = acc.len();
    let (mut j, mut xi) = (0, 0);
    if stride == 1 {
        while j + 4 <= n {
            let v = f(L::load(&acc[j..j + 4]), L::load16(&x[xi..xi + 4]));
            L::store(&mut acc[j..j + 4], v);
            j += 4;
            xi += 4;
        }
    } else if stride == 2 {
        while j + 4 <= n && xi + 8 <= x.len() {
            let v = f(L::load(&acc[j..j + 4]), L::load16_even(&x[xi..xi + 8]));
            L::store(&mut acc[j..j + 4], v);
            j += 4;
            xi += 8;
        }
    }
    while j < n {
        let m = (n - j).min(4);
        let (mut a, mut v) = ([0i32; 4], [0i16; 4]);
        a[..m].copy_from_slice(&acc[j..j + m]);
        for t in v.iter_mut().take(m) {
            *t = x[xi];
            xi += stride;
        }
        let r = f(L::load(&a), L::load16(&v));
        L::store(&mut a, r);
        acc[j..j + m].copy_from_slice(&a[..m]);
        j += m;
    }
}

/// Shift layers, one output row of one tap: `acc[j] ± (x[j · stride] << shift)` (`>> −shift` when
/// negative). Shifts, additions and subtractions only: `tests/infer_wasm.rs` reads the compiled
/// inference wasm and fails on any multiply inside this function's loops.
#[inline(never)]
fn shift_acc_row<L: IntLanes>(acc: &mut [i32], x: &[i16], stride: usize, shift: i32, negative: bool) {
    let (left, right) = (shift.max(0) as u32, (-shift).max(0) as u32);
    match (negative, right > 0) {
        (false, false) => row::<L>(acc, x, stride, |a, v| L::add(a, L::shl(v, left))),
        (true, false) => row::<L>(acc, x, stride, |a, v| L::sub(a, L::shl(v, left))),
        (false, true) => row::<L>(acc, x, stride, |a, v| L::add(a, L::sar(v, right))),
        (true, true) => row::<L>(acc, x, stride, |a, v| L::sub(a, L::sar(v, right))),
    }
}

/// Add layers, one output row of one tap: `acc[j] += |w| − |(x[j · stride] << guard) − w|` (the
/// `|w|` undoes the zero-padding term subtracted from every output first). No multiply inside its
/// loops, as for [`shift_acc_row`].
#[inline(never)]
fn add_acc_row<L: IntLanes>(acc: &mut [i32], x: &[i16], stride: usize, w: i32, guard: u32) {
    let (pad_term, wv) = (L::splat(w.wrapping_abs()), L::splat(w));
    row::<L>(acc, x, stride, |a, v| L::add(a, L::sub(pad_term, L::abs(L::sub(L::shl(v, guard), wv)))));
}

/// Mult layers, one output row of one tap: `acc[j] += x[j · stride] · w`.
#[inline(never)]
fn mult_acc_row<L: IntLanes>(acc: &mut [i32], x: &[i16], stride: usize, w: i32) {
    let wv = L::splat(w);
    row::<L>(acc, x, stride, |a, v| L::add(a, L::mul(v, wv)));
}

fn plane<L: IntLanes>(g: &Geometry, taps: &Taps, x: &[i16], oc: usize, acc: &mut [i32]) {
    let (ho, wo) = g.out();
    let (h, w, k, stride, pad) = (g.h, g.w, g.k, g.stride, g.pad);
    let (cg, fan) = (g.cin / g.groups, g.fan_in());
    let acc = &mut acc[..ho * wo];
    acc.fill(0);
    let g0 = if g.groups == 1 { 0 } else { oc };
    // A 1×1, stride-1, unpadded kernel reads the plane as one row.
    let whole = k == 1 && stride == 1 && pad == 0;
    for ic in 0..cg {
        let plane = &x[(g0 + ic) * h * w..(g0 + ic + 1) * h * w];
        for ky in 0..k {
            for kx in 0..k {
                let t = oc * fan + (ic * k + ky) * k + kx;
                let apply = |acc: &mut [i32], x: &[i16]| match *taps {
                    Taps::Shift { shifts, signs } => shift_acc_row::<L>(acc, x, stride, shifts[t], signs[t] < 0),
                    Taps::Add { weights, guard } => add_acc_row::<L>(acc, x, stride, weights[t], guard[oc]),
                    Taps::Mult { weights } => mult_acc_row::<L>(acc, x, stride, weights[t]),
                };
                match *taps {
                    Taps::Shift { signs, .. } if signs[t] == 0 => continue,
                    // Zero padding reads 0: −|0 − w| everywhere, corrected where the tap is inside.
                    Taps::Add { weights, .. } => {
                        let pad_term = weights[t].wrapping_abs();
                        acc.iter_mut().for_each(|a| *a = a.wrapping_sub(pad_term));
                    }
                    _ => {}
                }
                if whole {
                    apply(acc, plane);
                    continue;
                }
                let (rows, cols) = (valid(h, ho, stride, ky, pad), valid(w, wo, stride, kx, pad));
                if cols.is_empty() {
                    continue;
                }
                let x0 = cols.start * stride + kx - pad;
                for oy in rows {
                    let iy = oy * stride + ky - pad;
                    apply(&mut acc[oy * wo..(oy + 1) * wo][cols.clone()], &plane[iy * w + x0..(iy + 1) * w]);
                }
            }
        }
    }
}

/// The plain per-output definition: every output sums its receptive field, zero padded.
pub fn accumulate_reference(g: &Geometry, taps: &Taps, x: &[i16], oc: usize) -> Vec<i32> {
    let (ho, wo) = g.out();
    let (cg, fan) = (g.cin / g.groups, g.fan_in());
    let g0 = if g.groups == 1 { 0 } else { oc };
    let mut out = Vec::with_capacity(ho * wo);
    for oy in 0..ho {
        for ox in 0..wo {
            let mut acc = 0i32;
            for ic in 0..cg {
                for ky in 0..g.k {
                    for kx in 0..g.k {
                        let (iy, ix) = ((oy * g.stride + ky) as isize - g.pad as isize, (ox * g.stride + kx) as isize - g.pad as isize);
                        let inside = iy >= 0 && ix >= 0 && iy < g.h as isize && ix < g.w as isize;
                        let p = if inside { x[((g0 + ic) * g.h + iy as usize) * g.w + ix as usize] as i32 } else { 0 };
                        let t = oc * fan + (ic * g.k + ky) * g.k + kx;
                        let term = match *taps {
                            Taps::Shift { shifts, signs } => {
                                let s = shifts[t];
                                let v = if s >= 0 { p << s } else { p >> -s };
                                v.wrapping_mul(signs[t] as i32)
                            }
                            Taps::Add { weights, guard } => (p << guard[oc]).wrapping_sub(weights[t]).wrapping_abs().wrapping_neg(),
                            Taps::Mult { weights } => p.wrapping_mul(weights[t]),
                        };
                        acc = acc.wrapping_add(term);
                    }
                }
            }
            out.push(acc);
        }
    }
    out
}

/// Runs `cases` random convolutions (operator, kernel size 1/3/5, stride 1/2/3, padding,
/// dense or depthwise, odd sizes, full-range 16-bit inputs and weights) through [`accumulate`] on
/// `isa` and through [`accumulate_reference`]. Returns the number of outputs compared, or the
/// first case that differs. The native, Node and Chromium test tiers call it for every [`Isa`].
pub fn conformance(isa: Isa, seed: u64, cases: usize) -> Result<usize, String> {
    let mut rng = crate::data::Rng::new(seed);
    let mut r = |n: u64| (rng.next_u64() % n) as usize;
    let mut compared = 0;
    for case in 0..cases {
        let k = [1, 3, 5][r(3)];
        let (stride, pad) = (1 + r(3), r(k as u64));
        let depthwise = r(2) == 0;
        let cin = 1 + r(5);
        let (cout, groups) = if depthwise { (cin, cin) } else { (1 + r(5), 1) };
        let g = Geometry { cin, cout, k, stride, pad, groups, h: k + r(12), w: k + r(12) };
        let n = cout * g.fan_in();
        let x: Vec<i16> = (0..cin * g.h * g.w).map(|_| r(65536) as i16).collect();
        let wide: Vec<i32> = (0..n).map(|_| r(1 << 24) as i32 - (1 << 23)).collect();
        let narrow: Vec<i32> = (0..n).map(|_| r(65536) as i32 - 32768).collect();
        let shifts: Vec<i32> = (0..n).map(|_| r(47) as i32 - 31).collect();
        let signs: Vec<i8> = (0..n).map(|_| r(3) as i8 - 1).collect();
        let guard: Vec<u32> = (0..cout).map(|_| r(9) as u32).collect();
        let (ho, wo) = g.out();
        let mut acc = vec![0i32; ho * wo];
        for (op, taps) in [
            ("shift", Taps::Shift { shifts: &shifts, signs: &signs }),
            ("add", Taps::Add { weights: &wide, guard: &guard }),
            ("mult", Taps::Mult { weights: &narrow }),
        ] {
            for oc in 0..cout {
                accumulate(isa, &g, &taps, &x, oc, &mut acc);
                if acc != accumulate_reference(&g, &taps, &x, oc) {
                    return Err(format!("{}: case {case} ({op}, {g:?}), output channel {oc} differs from the reference", isa.name()));
                }
                compared += acc.len();
            }
        }
    }
    Ok(compared)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every instruction set's plane kernel gives the per-output reference's bits.
    #[test]
    fn every_isa_matches_the_per_output_reference() {
        assert_eq!(Isa::available().last(), Some(&Isa::best()));
        for isa in Isa::available() {
            let n = conformance(isa, 17, 300).unwrap_or_else(|e| panic!("{e}"));
            assert!(n > 50_000, "{}: only {n} outputs compared", isa.name());
        }
    }
}
