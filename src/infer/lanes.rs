//! `i32` vectors behind one trait, so that each integer kernel of the engine is written once and
//! instantiated for every instruction set: [`Scalar`] (portable, `[i32; 4]`), `Simd128`
//! (`core::arch::wasm32`, wasm builds with `+simd128`), `Sse2` (`core::arch::x86_64`, baseline on
//! every x86-64 CPU) and `Avx2` (eight lanes, where the CPU has it).
//!
//! Every operation is defined on two's-complement `i32` lanes with wrapping semantics, and every
//! implementation computes exactly that, so kernels built on them give the same bits; only speed
//! differs. (The engine's bounds keep its sums from wrapping; see `infer::int`.)

/// A vector of [`LANES`](Self::LANES) `i32` lanes. All loads and stores are unaligned; `n` below
/// is `LANES`.
pub trait IntLanes: Copy + Send + Sync + 'static {
    /// The vector type.
    type V: Copy;
    /// Lanes per vector: 4 or 8.
    const LANES: usize;
    /// Name used in tests and benchmark tables.
    const NAME: &'static str;
    /// Whether kernels on these lanes run inside a `#[target_feature]` function, into which every
    /// kernel step must inline (the never-inlined per-operator entries are skipped).
    const IN_TARGET_FEATURE: bool = false;
    /// Every lane `v`.
    fn splat(v: i32) -> Self::V;
    /// `s[0..n]`. Panics when `s` is shorter.
    fn load(s: &[i32]) -> Self::V;
    /// Stores into `s[0..n]`.
    fn store(s: &mut [i32], v: Self::V);
    /// `s[0..n]` sign-extended to `i32`.
    fn load16(s: &[i16]) -> Self::V;
    /// `s[0], s[2], …, s[2n − 2]` sign-extended (stride-2 rows); reads `s[0..2n]`.
    fn load16_even(s: &[i16]) -> Self::V;
    /// `a + b` (wrapping).
    fn add(a: Self::V, b: Self::V) -> Self::V;
    /// `a − b` (wrapping).
    fn sub(a: Self::V, b: Self::V) -> Self::V;
    /// The low 32 bits of `a · b`.
    fn mul(a: Self::V, b: Self::V) -> Self::V;
    /// `|a|` (wrapping: `|i32::MIN| = i32::MIN`).
    fn abs(a: Self::V) -> Self::V;
    /// `a << n`, `n` in `0..32`.
    fn shl(a: Self::V, n: u32) -> Self::V;
    /// `a >> n` arithmetic (floor), `n` in `0..32`.
    fn sar(a: Self::V, n: u32) -> Self::V;
    /// `a & b`.
    fn and(a: Self::V, b: Self::V) -> Self::V;
    /// Lane-wise minimum.
    fn min(a: Self::V, b: Self::V) -> Self::V;
    /// Lane-wise maximum.
    fn max(a: Self::V, b: Self::V) -> Self::V;
    /// Stores the lanes, saturated to `i16`, into `s[0..n]`.
    fn store16(s: &mut [i16], v: Self::V);
}

/// Portable implementation on `[i32; 4]`: the definition the vector ones are tested against.
#[derive(Debug, Clone, Copy)]
pub struct Scalar;

impl IntLanes for Scalar {
    type V = [i32; 4];
    const LANES: usize = 4;
    const NAME: &'static str = "scalar";
    #[inline(always)]
    fn splat(v: i32) -> Self::V {
        [v; 4]
    }
    #[inline(always)]
    fn load(s: &[i32]) -> Self::V {
        [s[0], s[1], s[2], s[3]]
    }
    #[inline(always)]
    fn store(s: &mut [i32], v: Self::V) {
        s[..4].copy_from_slice(&v);
    }
    #[inline(always)]
    fn load16(s: &[i16]) -> Self::V {
        [s[0] as i32, s[1] as i32, s[2] as i32, s[3] as i32]
    }
    #[inline(always)]
    fn load16_even(s: &[i16]) -> Self::V {
        let s = &s[..8];
        [s[0] as i32, s[2] as i32, s[4] as i32, s[6] as i32]
    }
    #[inline(always)]
    fn add(a: Self::V, b: Self::V) -> Self::V {
        std::array::from_fn(|l| a[l].wrapping_add(b[l]))
    }
    #[inline(always)]
    fn sub(a: Self::V, b: Self::V) -> Self::V {
        std::array::from_fn(|l| a[l].wrapping_sub(b[l]))
    }
    #[inline(always)]
    fn mul(a: Self::V, b: Self::V) -> Self::V {
        std::array::from_fn(|l| a[l].wrapping_mul(b[l]))
    }
    #[inline(always)]
    fn abs(a: Self::V) -> Self::V {
        a.map(i32::wrapping_abs)
    }
    #[inline(always)]
    fn shl(a: Self::V, n: u32) -> Self::V {
        a.map(|v| v << n)
    }
    #[inline(always)]
    fn sar(a: Self::V, n: u32) -> Self::V {
        a.map(|v| v >> n)
    }
    #[inline(always)]
    fn and(a: Self::V, b: Self::V) -> Self::V {
        std::array::from_fn(|l| a[l] & b[l])
    }
    #[inline(always)]
    fn min(a: Self::V, b: Self::V) -> Self::V {
        std::array::from_fn(|l| a[l].min(b[l]))
    }
    #[inline(always)]
    fn max(a: Self::V, b: Self::V) -> Self::V {
        std::array::from_fn(|l| a[l].max(b[l]))
    }
    #[inline(always)]
    fn store16(s: &mut [i16], v: Self::V) {
        let s = &mut s[..4];
        for (s, v) in s.iter_mut().zip(v) {
            *s = v.clamp(i16::MIN as i32, i16::MAX as i32) as i16;
        }
    }
}

/// WebAssembly SIMD128 (`v128` as `i32x4`), compiled when the wasm build enables `+simd128`.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[derive(Debug, Clone, Copy)]
pub struct Simd128;

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
impl IntLanes for Simd128 {
    type V = core::arch::wasm32::v128;
    const LANES: usize = 4;
    const NAME: &'static str = "simd128";
    #[inline(always)]
    fn splat(v: i32) -> Self::V {
        core::arch::wasm32::i32x4_splat(v)
    }
    #[inline(always)]
    fn load(s: &[i32]) -> Self::V {
        let s = &s[..4];
        // SAFETY: `s` holds 4 initialised i32 (16 bytes); wasm loads need no alignment.
        unsafe { core::arch::wasm32::v128_load(s.as_ptr().cast()) }
    }
    #[inline(always)]
    fn store(s: &mut [i32], v: Self::V) {
        let s = &mut s[..4];
        // SAFETY: `s` holds 4 writable i32 (16 bytes); wasm stores need no alignment.
        unsafe { core::arch::wasm32::v128_store(s.as_mut_ptr().cast(), v) }
    }
    #[inline(always)]
    fn load16(s: &[i16]) -> Self::V {
        let s = &s[..4];
        // SAFETY: `s` holds 4 initialised i16 (8 bytes); wasm loads need no alignment.
        unsafe { core::arch::wasm32::i32x4_load_extend_i16x4(s.as_ptr()) }
    }
    #[inline(always)]
    fn load16_even(s: &[i16]) -> Self::V {
        use core::arch::wasm32::{i32x4_shl, i32x4_shr, v128_load};
        let s = &s[..8];
        // SAFETY: `s` holds 8 initialised i16 (16 bytes); wasm loads need no alignment.
        let v = unsafe { v128_load(s.as_ptr().cast()) };
        // Each i32 lane holds (s[2j], s[2j + 1]) little-endian: the low half, sign-extended.
        i32x4_shr(i32x4_shl(v, 16), 16)
    }
    #[inline(always)]
    fn add(a: Self::V, b: Self::V) -> Self::V {
        core::arch::wasm32::i32x4_add(a, b)
    }
    #[inline(always)]
    fn sub(a: Self::V, b: Self::V) -> Self::V {
        core::arch::wasm32::i32x4_sub(a, b)
    }
    #[inline(always)]
    fn mul(a: Self::V, b: Self::V) -> Self::V {
        core::arch::wasm32::i32x4_mul(a, b)
    }
    #[inline(always)]
    fn abs(a: Self::V) -> Self::V {
        core::arch::wasm32::i32x4_abs(a)
    }
    #[inline(always)]
    fn shl(a: Self::V, n: u32) -> Self::V {
        core::arch::wasm32::i32x4_shl(a, n)
    }
    #[inline(always)]
    fn sar(a: Self::V, n: u32) -> Self::V {
        core::arch::wasm32::i32x4_shr(a, n)
    }
    #[inline(always)]
    fn and(a: Self::V, b: Self::V) -> Self::V {
        core::arch::wasm32::v128_and(a, b)
    }
    #[inline(always)]
    fn min(a: Self::V, b: Self::V) -> Self::V {
        core::arch::wasm32::i32x4_min(a, b)
    }
    #[inline(always)]
    fn max(a: Self::V, b: Self::V) -> Self::V {
        core::arch::wasm32::i32x4_max(a, b)
    }
    #[inline(always)]
    fn store16(s: &mut [i16], v: Self::V) {
        use core::arch::wasm32::{i16x8_narrow_i32x4, v128_store64_lane};
        let s = &mut s[..4];
        // SAFETY: `s` holds 4 writable i16 (8 bytes, what lane 0 of the narrowed vector stores).
        unsafe { v128_store64_lane::<0>(i16x8_narrow_i32x4(v, v), s.as_mut_ptr().cast()) }
    }
}

/// x86-64 SSE2 (`__m128i` as `i32x4`): present on every x86-64 CPU, so no runtime detection.
#[cfg(target_arch = "x86_64")]
#[derive(Debug, Clone, Copy)]
pub struct Sse2;

#[cfg(target_arch = "x86_64")]
impl IntLanes for Sse2 {
    type V = core::arch::x86_64::__m128i;
    const LANES: usize = 4;
    const NAME: &'static str = "sse2";
    #[inline(always)]
    fn splat(v: i32) -> Self::V {
        // SAFETY: SSE2 is part of the x86-64 baseline.
        unsafe { core::arch::x86_64::_mm_set1_epi32(v) }
    }
    #[inline(always)]
    fn load(s: &[i32]) -> Self::V {
        let s = &s[..4];
        // SAFETY: `s` holds 4 initialised i32 (16 bytes); `loadu` needs no alignment.
        unsafe { core::arch::x86_64::_mm_loadu_si128(s.as_ptr().cast()) }
    }
    #[inline(always)]
    fn store(s: &mut [i32], v: Self::V) {
        let s = &mut s[..4];
        // SAFETY: `s` holds 4 writable i32 (16 bytes); `storeu` needs no alignment.
        unsafe { core::arch::x86_64::_mm_storeu_si128(s.as_mut_ptr().cast(), v) }
    }
    #[inline(always)]
    fn load16(s: &[i16]) -> Self::V {
        use core::arch::x86_64::{_mm_loadl_epi64, _mm_srai_epi32, _mm_unpacklo_epi16};
        let s = &s[..4];
        // SAFETY: `s` holds 4 initialised i16 (8 bytes, what `loadl_epi64` reads); SSE2 is baseline.
        unsafe {
            let v = _mm_loadl_epi64(s.as_ptr().cast());
            // (s[j], s[j]) in each i32 lane: the high copy shifted down, sign-extended.
            _mm_srai_epi32(_mm_unpacklo_epi16(v, v), 16)
        }
    }
    #[inline(always)]
    fn load16_even(s: &[i16]) -> Self::V {
        use core::arch::x86_64::{_mm_loadu_si128, _mm_slli_epi32, _mm_srai_epi32};
        let s = &s[..8];
        // SAFETY: `s` holds 8 initialised i16 (16 bytes); `loadu` needs no alignment.
        unsafe { _mm_srai_epi32(_mm_slli_epi32(_mm_loadu_si128(s.as_ptr().cast()), 16), 16) }
    }
    #[inline(always)]
    fn add(a: Self::V, b: Self::V) -> Self::V {
        // SAFETY: SSE2 is part of the x86-64 baseline.
        unsafe { core::arch::x86_64::_mm_add_epi32(a, b) }
    }
    #[inline(always)]
    fn sub(a: Self::V, b: Self::V) -> Self::V {
        // SAFETY: SSE2 is part of the x86-64 baseline.
        unsafe { core::arch::x86_64::_mm_sub_epi32(a, b) }
    }
    #[inline(always)]
    fn mul(a: Self::V, b: Self::V) -> Self::V {
        use core::arch::x86_64::{_mm_mul_epu32, _mm_shuffle_epi32, _mm_srli_si128, _mm_unpacklo_epi32};
        // SSE2 has no 32-bit `mullo`: the unsigned 32×32→64 products of lanes 0, 2 and of lanes
        // 1, 3, whose low halves are the wrapping signed products, interleaved back.
        // SAFETY: SSE2 is part of the x86-64 baseline.
        unsafe {
            let even = _mm_mul_epu32(a, b);
            let odd = _mm_mul_epu32(_mm_srli_si128(a, 4), _mm_srli_si128(b, 4));
            _mm_unpacklo_epi32(_mm_shuffle_epi32(even, 0b10_00_10_00), _mm_shuffle_epi32(odd, 0b10_00_10_00))
        }
    }
    #[inline(always)]
    fn abs(a: Self::V) -> Self::V {
        use core::arch::x86_64::{_mm_srai_epi32, _mm_sub_epi32, _mm_xor_si128};
        // SAFETY: SSE2 is part of the x86-64 baseline.
        unsafe {
            let sign = _mm_srai_epi32(a, 31);
            _mm_sub_epi32(_mm_xor_si128(a, sign), sign)
        }
    }
    #[inline(always)]
    fn shl(a: Self::V, n: u32) -> Self::V {
        use core::arch::x86_64::{_mm_cvtsi32_si128, _mm_sll_epi32};
        // SAFETY: SSE2 is part of the x86-64 baseline.
        unsafe { _mm_sll_epi32(a, _mm_cvtsi32_si128(n as i32)) }
    }
    #[inline(always)]
    fn sar(a: Self::V, n: u32) -> Self::V {
        use core::arch::x86_64::{_mm_cvtsi32_si128, _mm_sra_epi32};
        // SAFETY: SSE2 is part of the x86-64 baseline.
        unsafe { _mm_sra_epi32(a, _mm_cvtsi32_si128(n as i32)) }
    }
    #[inline(always)]
    fn and(a: Self::V, b: Self::V) -> Self::V {
        // SAFETY: SSE2 is part of the x86-64 baseline.
        unsafe { core::arch::x86_64::_mm_and_si128(a, b) }
    }
    #[inline(always)]
    fn min(a: Self::V, b: Self::V) -> Self::V {
        use core::arch::x86_64::{_mm_and_si128, _mm_andnot_si128, _mm_cmpgt_epi32, _mm_or_si128};
        // SSE2 has no `pminsd`: `b` where `a > b`, else `a`.
        // SAFETY: SSE2 is part of the x86-64 baseline.
        unsafe {
            let gt = _mm_cmpgt_epi32(a, b);
            _mm_or_si128(_mm_and_si128(gt, b), _mm_andnot_si128(gt, a))
        }
    }
    #[inline(always)]
    fn max(a: Self::V, b: Self::V) -> Self::V {
        use core::arch::x86_64::{_mm_and_si128, _mm_andnot_si128, _mm_cmpgt_epi32, _mm_or_si128};
        // SAFETY: SSE2 is part of the x86-64 baseline.
        unsafe {
            let gt = _mm_cmpgt_epi32(a, b);
            _mm_or_si128(_mm_and_si128(gt, a), _mm_andnot_si128(gt, b))
        }
    }
    #[inline(always)]
    fn store16(s: &mut [i16], v: Self::V) {
        use core::arch::x86_64::{_mm_packs_epi32, _mm_storel_epi64};
        let s = &mut s[..4];
        // SAFETY: `s` holds 4 writable i16 (8 bytes, what `storel_epi64` writes); SSE2 is baseline.
        unsafe { _mm_storel_epi64(s.as_mut_ptr().cast(), _mm_packs_epi32(v, v)) }
    }
}

/// x86-64 AVX2 (`__m256i` as `i32x8`). Its methods execute AVX2 instructions: the kernels call
/// them inside `#[target_feature(enable = "avx2")]` functions, reached only through
/// [`Isa::Avx2`](super::kernels::Isa::Avx2), which exists where the CPU has AVX2.
#[cfg(target_arch = "x86_64")]
#[derive(Debug, Clone, Copy)]
pub struct Avx2;

// SAFETY (every `unsafe` block of this impl): the intrinsics need AVX2, which the CPU has
// wherever this type is used (see its comment); loads and stores are unaligned and bounded by
// the slice indexing before them.
#[cfg(target_arch = "x86_64")]
impl IntLanes for Avx2 {
    type V = core::arch::x86_64::__m256i;
    const LANES: usize = 8;
    const NAME: &'static str = "avx2";
    const IN_TARGET_FEATURE: bool = true;
    #[inline(always)]
    fn splat(v: i32) -> Self::V {
        unsafe { core::arch::x86_64::_mm256_set1_epi32(v) }
    }
    #[inline(always)]
    fn load(s: &[i32]) -> Self::V {
        let s = &s[..8];
        unsafe { core::arch::x86_64::_mm256_loadu_si256(s.as_ptr().cast()) }
    }
    #[inline(always)]
    fn store(s: &mut [i32], v: Self::V) {
        let s = &mut s[..8];
        unsafe { core::arch::x86_64::_mm256_storeu_si256(s.as_mut_ptr().cast(), v) }
    }
    #[inline(always)]
    fn load16(s: &[i16]) -> Self::V {
        let s = &s[..8];
        unsafe { core::arch::x86_64::_mm256_cvtepi16_epi32(core::arch::x86_64::_mm_loadu_si128(s.as_ptr().cast())) }
    }
    #[inline(always)]
    fn load16_even(s: &[i16]) -> Self::V {
        use core::arch::x86_64::{_mm256_loadu_si256, _mm256_slli_epi32, _mm256_srai_epi32};
        let s = &s[..16];
        // Lane j holds (s[2j], s[2j + 1]): the low half shifted up and back, sign-extended.
        unsafe { _mm256_srai_epi32(_mm256_slli_epi32(_mm256_loadu_si256(s.as_ptr().cast()), 16), 16) }
    }
    #[inline(always)]
    fn add(a: Self::V, b: Self::V) -> Self::V {
        unsafe { core::arch::x86_64::_mm256_add_epi32(a, b) }
    }
    #[inline(always)]
    fn sub(a: Self::V, b: Self::V) -> Self::V {
        unsafe { core::arch::x86_64::_mm256_sub_epi32(a, b) }
    }
    #[inline(always)]
    fn mul(a: Self::V, b: Self::V) -> Self::V {
        unsafe { core::arch::x86_64::_mm256_mullo_epi32(a, b) }
    }
    #[inline(always)]
    fn abs(a: Self::V) -> Self::V {
        // `vpabsd` leaves `i32::MIN` as it is: the wrapping absolute value.
        unsafe { core::arch::x86_64::_mm256_abs_epi32(a) }
    }
    #[inline(always)]
    fn shl(a: Self::V, n: u32) -> Self::V {
        use core::arch::x86_64::{_mm_cvtsi32_si128, _mm256_sll_epi32};
        unsafe { _mm256_sll_epi32(a, _mm_cvtsi32_si128(n as i32)) }
    }
    #[inline(always)]
    fn sar(a: Self::V, n: u32) -> Self::V {
        use core::arch::x86_64::{_mm_cvtsi32_si128, _mm256_sra_epi32};
        unsafe { _mm256_sra_epi32(a, _mm_cvtsi32_si128(n as i32)) }
    }
    #[inline(always)]
    fn and(a: Self::V, b: Self::V) -> Self::V {
        unsafe { core::arch::x86_64::_mm256_and_si256(a, b) }
    }
    #[inline(always)]
    fn min(a: Self::V, b: Self::V) -> Self::V {
        unsafe { core::arch::x86_64::_mm256_min_epi32(a, b) }
    }
    #[inline(always)]
    fn max(a: Self::V, b: Self::V) -> Self::V {
        unsafe { core::arch::x86_64::_mm256_max_epi32(a, b) }
    }
    #[inline(always)]
    fn store16(s: &mut [i16], v: Self::V) {
        use core::arch::x86_64::{_mm_storeu_si128, _mm256_castsi256_si128, _mm256_packs_epi32, _mm256_permute4x64_epi64};
        let s = &mut s[..8];
        // `packs` saturates within each 128-bit half (lanes 0–3 twice, then 4–7 twice); the
        // permutation brings lanes 0–3 and 4–7 together into the low half.
        unsafe {
            let p = _mm256_permute4x64_epi64(_mm256_packs_epi32(v, v), 0b00_00_10_00);
            _mm_storeu_si128(s.as_mut_ptr().cast(), _mm256_castsi256_si128(p))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every operation of every vector set gives the scalar definition's lanes, edge values
    /// included (an eight-lane set against the definition on each half).
    #[test]
    fn vector_lanes_match_the_scalar_definition() {
        fn check<L: IntLanes>() {
            let mut rng = crate::data::Rng::new(3);
            let edges = [0, 1, -1, i32::MAX, i32::MIN, 32767, -32768, 1 << 30];
            for round in 0..500 {
                let mut r = || {
                    let v = rng.next_u64();
                    if round % 5 == 0 { edges[(v % 8) as usize] } else { v as i32 >> (v >> 59) }
                };
                let (a, b): ([i32; 8], [i32; 8]) = (std::array::from_fn(|_| r()), std::array::from_fn(|_| r()));
                let h: [i16; 16] = std::array::from_fn(|_| r() as i16);
                let n = (r() as u32) % 32;
                let k = L::LANES;
                let out = |v: L::V| {
                    let mut s = [0; 8];
                    L::store(&mut s, v);
                    s[..k].to_vec()
                };
                // The definition on the first `k` lanes, four at a time.
                let def = |f: &dyn Fn(usize) -> [i32; 4]| (0..k / 4).flat_map(f).collect::<Vec<i32>>();
                let q = |x: &[i32; 8], i: usize| [x[4 * i], x[4 * i + 1], x[4 * i + 2], x[4 * i + 3]];
                let (va, vb) = (L::load(&a), L::load(&b));
                let name = L::NAME;
                assert_eq!(out(L::add(va, vb)), def(&|i| Scalar::add(q(&a, i), q(&b, i))), "{name} add");
                assert_eq!(out(L::sub(va, vb)), def(&|i| Scalar::sub(q(&a, i), q(&b, i))), "{name} sub");
                assert_eq!(out(L::mul(va, vb)), def(&|i| Scalar::mul(q(&a, i), q(&b, i))), "{name} mul");
                assert_eq!(out(L::abs(va)), def(&|i| Scalar::abs(q(&a, i))), "{name} abs");
                assert_eq!(out(L::shl(va, n)), def(&|i| Scalar::shl(q(&a, i), n)), "{name} shl {n}");
                assert_eq!(out(L::sar(va, n)), def(&|i| Scalar::sar(q(&a, i), n)), "{name} sar {n}");
                assert_eq!(out(L::splat(a[0])), def(&|_| Scalar::splat(a[0])), "{name} splat");
                assert_eq!(out(L::load16(&h)), def(&|i| Scalar::load16(&h[4 * i..])), "{name} load16");
                assert_eq!(out(L::load16_even(&h)), def(&|i| Scalar::load16_even(&h[8 * i..])), "{name} load16_even");
                assert_eq!(out(L::and(va, vb)), def(&|i| Scalar::and(q(&a, i), q(&b, i))), "{name} and");
                assert_eq!(out(L::min(va, vb)), def(&|i| Scalar::min(q(&a, i), q(&b, i))), "{name} min");
                assert_eq!(out(L::max(va, vb)), def(&|i| Scalar::max(q(&a, i), q(&b, i))), "{name} max");
                let (mut got, mut want) = ([0i16; 8], [0i16; 8]);
                L::store16(&mut got, va);
                for i in 0..k / 4 {
                    Scalar::store16(&mut want[4 * i..], q(&a, i));
                }
                assert_eq!(got[..k], want[..k], "{name} store16");
            }
        }
        check::<Scalar>();
        #[cfg(target_arch = "x86_64")]
        check::<Sse2>();
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            check::<Avx2>();
        }
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        check::<Simd128>();
    }
}
