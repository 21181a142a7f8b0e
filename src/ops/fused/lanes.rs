//! f32 vectors behind one trait, so that each CPU kernel is written once and instantiated for
//! every instruction set. Four lanes: [`Scalar`] (portable, `[f32; 4]`), `Simd128`
//! (`core::arch::wasm32`, wasm builds with `+simd128`) and [`Sse2`] (`core::arch::x86_64`,
//! baseline on every x86-64 CPU). Wider, x86-64 only and only inside functions compiled with
//! the feature after runtime detection (see [`super::cpu::CpuIsa`]): `Avx2` (8 lanes) and
//! `Avx512` (16 lanes), used by the adder's patch-matrix tiles.
//!
//! Every implementation performs the same IEEE operations lane by lane, so kernels built on
//! them give bit-identical results; only speed differs. (Reductions across lanes differ with
//! the width; kernels that reduce fix one order for every width, see
//! [`super::tiles`].)

/// A vector of [`Lanes::W`] f32 lanes. All loads and stores are unaligned.
pub trait Lanes: Copy + Send + Sync + 'static {
    /// The vector type.
    type V: Copy;
    /// Lanes per vector.
    const W: usize = 4;
    /// Name used in tests and benchmark tables.
    const NAME: &'static str;
    /// Every lane `x`.
    fn splat(x: f32) -> Self::V;
    /// Loads `s[0..W]`. Panics when `s` is shorter (callers pass exact slices).
    fn load(s: &[f32]) -> Self::V;
    /// Stores into `s[0..W]`.
    fn store(s: &mut [f32], v: Self::V);
    /// `a + b`.
    fn add(a: Self::V, b: Self::V) -> Self::V;
    /// `a - b`.
    fn sub(a: Self::V, b: Self::V) -> Self::V;
    /// `a * b`.
    fn mul(a: Self::V, b: Self::V) -> Self::V;
    /// `|a|`.
    fn abs(a: Self::V) -> Self::V;
    /// `clamp(a, -1, 1)` (HardTanh).
    fn hardtanh(a: Self::V) -> Self::V;
    /// `((l0 + l1) + (l2 + l3))`.
    fn hsum(a: Self::V) -> f32;
    /// `dy` in the lanes where `z > lo`, else `+0` (a mask, not a branch).
    fn gate_above(z: Self::V, dy: Self::V, lo: Self::V) -> Self::V;
    /// `dy` in the lanes where `lo < z < hi`, else `+0` (a mask, not a branch).
    fn gate_between(z: Self::V, dy: Self::V, lo: Self::V, hi: Self::V) -> Self::V;
}

/// Portable implementation on `[f32; 4]` (the reference for the vector ones; LLVM
/// vectorises it where it can).
#[derive(Debug, Clone, Copy)]
pub struct Scalar;

impl Lanes for Scalar {
    type V = [f32; 4];
    const NAME: &'static str = "scalar";
    #[inline(always)]
    fn splat(x: f32) -> Self::V {
        [x; 4]
    }
    #[inline(always)]
    fn load(s: &[f32]) -> Self::V {
        [s[0], s[1], s[2], s[3]]
    }
    #[inline(always)]
    fn store(s: &mut [f32], v: Self::V) {
        s[..4].copy_from_slice(&v);
    }
    #[inline(always)]
    fn add(a: Self::V, b: Self::V) -> Self::V {
        [a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3]]
    }
    #[inline(always)]
    fn sub(a: Self::V, b: Self::V) -> Self::V {
        [a[0] - b[0], a[1] - b[1], a[2] - b[2], a[3] - b[3]]
    }
    #[inline(always)]
    fn mul(a: Self::V, b: Self::V) -> Self::V {
        [a[0] * b[0], a[1] * b[1], a[2] * b[2], a[3] * b[3]]
    }
    #[inline(always)]
    fn abs(a: Self::V) -> Self::V {
        a.map(f32::abs)
    }
    #[inline(always)]
    fn hardtanh(a: Self::V) -> Self::V {
        // max then min, as the vector versions do (NaN handling is not relied upon).
        a.map(|v| v.clamp(-1.0, 1.0))
    }
    #[inline(always)]
    fn hsum(a: Self::V) -> f32 {
        (a[0] + a[1]) + (a[2] + a[3])
    }
    #[inline(always)]
    fn gate_above(z: Self::V, dy: Self::V, lo: Self::V) -> Self::V {
        std::array::from_fn(|l| if z[l] > lo[l] { dy[l] } else { 0.0 })
    }
    #[inline(always)]
    fn gate_between(z: Self::V, dy: Self::V, lo: Self::V, hi: Self::V) -> Self::V {
        std::array::from_fn(|l| if z[l] > lo[l] && z[l] < hi[l] { dy[l] } else { 0.0 })
    }
}

/// WebAssembly SIMD128 (`v128`), compiled when the wasm build enables `+simd128`.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[derive(Debug, Clone, Copy)]
pub struct Simd128;

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
impl Lanes for Simd128 {
    type V = core::arch::wasm32::v128;
    const NAME: &'static str = "simd128";
    #[inline(always)]
    fn splat(x: f32) -> Self::V {
        core::arch::wasm32::f32x4_splat(x)
    }
    #[inline(always)]
    fn load(s: &[f32]) -> Self::V {
        let s = &s[..4];
        // SAFETY: `s` holds 4 initialised f32 (16 bytes); wasm loads need no alignment.
        unsafe { core::arch::wasm32::v128_load(s.as_ptr().cast()) }
    }
    #[inline(always)]
    fn store(s: &mut [f32], v: Self::V) {
        let s = &mut s[..4];
        // SAFETY: `s` holds 4 writable f32 (16 bytes); wasm stores need no alignment.
        unsafe { core::arch::wasm32::v128_store(s.as_mut_ptr().cast(), v) }
    }
    #[inline(always)]
    fn add(a: Self::V, b: Self::V) -> Self::V {
        core::arch::wasm32::f32x4_add(a, b)
    }
    #[inline(always)]
    fn sub(a: Self::V, b: Self::V) -> Self::V {
        core::arch::wasm32::f32x4_sub(a, b)
    }
    #[inline(always)]
    fn mul(a: Self::V, b: Self::V) -> Self::V {
        core::arch::wasm32::f32x4_mul(a, b)
    }
    #[inline(always)]
    fn abs(a: Self::V) -> Self::V {
        core::arch::wasm32::f32x4_abs(a)
    }
    #[inline(always)]
    fn hardtanh(a: Self::V) -> Self::V {
        use core::arch::wasm32::{f32x4_pmax, f32x4_pmin, f32x4_splat};
        // pmax(b, a) = a < b ? b : a, i.e. max for non-NaN input.
        f32x4_pmin(f32x4_splat(1.0), f32x4_pmax(f32x4_splat(-1.0), a))
    }
    #[inline(always)]
    fn hsum(a: Self::V) -> f32 {
        use core::arch::wasm32::f32x4_extract_lane as e;
        (e::<0>(a) + e::<1>(a)) + (e::<2>(a) + e::<3>(a))
    }
    #[inline(always)]
    fn gate_above(z: Self::V, dy: Self::V, lo: Self::V) -> Self::V {
        use core::arch::wasm32::{f32x4_gt, v128_and};
        v128_and(dy, f32x4_gt(z, lo))
    }
    #[inline(always)]
    fn gate_between(z: Self::V, dy: Self::V, lo: Self::V, hi: Self::V) -> Self::V {
        use core::arch::wasm32::{f32x4_gt, f32x4_lt, v128_and};
        v128_and(dy, v128_and(f32x4_gt(z, lo), f32x4_lt(z, hi)))
    }
}

/// x86-64 SSE2 (`__m128`), part of the x86-64 baseline, so no runtime detection is needed.
#[cfg(target_arch = "x86_64")]
#[derive(Debug, Clone, Copy)]
pub struct Sse2;

#[cfg(target_arch = "x86_64")]
impl Lanes for Sse2 {
    type V = core::arch::x86_64::__m128;
    const NAME: &'static str = "sse2";
    #[inline(always)]
    fn splat(x: f32) -> Self::V {
        // SAFETY (all SSE calls below): SSE/SSE2 are part of the x86-64 baseline.
        unsafe { core::arch::x86_64::_mm_set1_ps(x) }
    }
    #[inline(always)]
    fn load(s: &[f32]) -> Self::V {
        let s = &s[..4];
        // SAFETY: `s` holds 4 initialised f32; `loadu` needs no alignment.
        unsafe { core::arch::x86_64::_mm_loadu_ps(s.as_ptr()) }
    }
    #[inline(always)]
    fn store(s: &mut [f32], v: Self::V) {
        let s = &mut s[..4];
        // SAFETY: `s` holds 4 writable f32; `storeu` needs no alignment.
        unsafe { core::arch::x86_64::_mm_storeu_ps(s.as_mut_ptr(), v) }
    }
    #[inline(always)]
    fn add(a: Self::V, b: Self::V) -> Self::V {
        unsafe { core::arch::x86_64::_mm_add_ps(a, b) }
    }
    #[inline(always)]
    fn sub(a: Self::V, b: Self::V) -> Self::V {
        unsafe { core::arch::x86_64::_mm_sub_ps(a, b) }
    }
    #[inline(always)]
    fn mul(a: Self::V, b: Self::V) -> Self::V {
        unsafe { core::arch::x86_64::_mm_mul_ps(a, b) }
    }
    #[inline(always)]
    fn abs(a: Self::V) -> Self::V {
        use core::arch::x86_64::{_mm_andnot_ps, _mm_set1_ps};
        unsafe { _mm_andnot_ps(_mm_set1_ps(-0.0), a) }
    }
    #[inline(always)]
    fn hardtanh(a: Self::V) -> Self::V {
        use core::arch::x86_64::{_mm_max_ps, _mm_min_ps, _mm_set1_ps};
        unsafe { _mm_min_ps(_mm_max_ps(a, _mm_set1_ps(-1.0)), _mm_set1_ps(1.0)) }
    }
    #[inline(always)]
    fn hsum(a: Self::V) -> f32 {
        let mut v = [0.0f32; 4];
        Self::store(&mut v, a);
        (v[0] + v[1]) + (v[2] + v[3])
    }
    #[inline(always)]
    fn gate_above(z: Self::V, dy: Self::V, lo: Self::V) -> Self::V {
        use core::arch::x86_64::{_mm_and_ps, _mm_cmpgt_ps};
        unsafe { _mm_and_ps(dy, _mm_cmpgt_ps(z, lo)) }
    }
    #[inline(always)]
    fn gate_between(z: Self::V, dy: Self::V, lo: Self::V, hi: Self::V) -> Self::V {
        use core::arch::x86_64::{_mm_and_ps, _mm_cmpgt_ps, _mm_cmplt_ps};
        unsafe { _mm_and_ps(dy, _mm_and_ps(_mm_cmpgt_ps(z, lo), _mm_cmplt_ps(z, hi))) }
    }
}

/// x86-64 AVX2 (`__m256`, 8 lanes). Its methods execute AVX instructions: they are only
/// called inside `#[target_feature(enable = "avx2")]` functions, which run only where
/// [`super::cpu::CpuIsa::available`] detected AVX2.
#[cfg(target_arch = "x86_64")]
#[derive(Debug, Clone, Copy)]
pub(crate) struct Avx2;

// SAFETY (every `unsafe` block of this impl): the intrinsics need AVX, which the callers'
// `#[target_feature(enable = "avx2")]` guarantees (see the type's comment); loads and stores
// are unaligned and bounded by the slice indexing before them.
#[cfg(target_arch = "x86_64")]
impl Lanes for Avx2 {
    type V = core::arch::x86_64::__m256;
    const W: usize = 8;
    const NAME: &'static str = "avx2";
    #[inline(always)]
    fn splat(x: f32) -> Self::V {
        unsafe { core::arch::x86_64::_mm256_set1_ps(x) }
    }
    #[inline(always)]
    fn load(s: &[f32]) -> Self::V {
        let s = &s[..8];
        unsafe { core::arch::x86_64::_mm256_loadu_ps(s.as_ptr()) }
    }
    #[inline(always)]
    fn store(s: &mut [f32], v: Self::V) {
        let s = &mut s[..8];
        unsafe { core::arch::x86_64::_mm256_storeu_ps(s.as_mut_ptr(), v) }
    }
    #[inline(always)]
    fn add(a: Self::V, b: Self::V) -> Self::V {
        unsafe { core::arch::x86_64::_mm256_add_ps(a, b) }
    }
    #[inline(always)]
    fn sub(a: Self::V, b: Self::V) -> Self::V {
        unsafe { core::arch::x86_64::_mm256_sub_ps(a, b) }
    }
    #[inline(always)]
    fn mul(a: Self::V, b: Self::V) -> Self::V {
        unsafe { core::arch::x86_64::_mm256_mul_ps(a, b) }
    }
    #[inline(always)]
    fn abs(a: Self::V) -> Self::V {
        use core::arch::x86_64::{_mm256_andnot_ps, _mm256_set1_ps};
        unsafe { _mm256_andnot_ps(_mm256_set1_ps(-0.0), a) }
    }
    #[inline(always)]
    fn hardtanh(a: Self::V) -> Self::V {
        use core::arch::x86_64::{_mm256_max_ps, _mm256_min_ps, _mm256_set1_ps};
        unsafe { _mm256_min_ps(_mm256_max_ps(a, _mm256_set1_ps(-1.0)), _mm256_set1_ps(1.0)) }
    }
    #[inline(always)]
    fn hsum(a: Self::V) -> f32 {
        let mut v = [0.0f32; 8];
        Self::store(&mut v, a);
        ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]))
    }
    #[inline(always)]
    fn gate_above(z: Self::V, dy: Self::V, lo: Self::V) -> Self::V {
        use core::arch::x86_64::{_CMP_GT_OQ, _mm256_and_ps, _mm256_cmp_ps};
        unsafe { _mm256_and_ps(dy, _mm256_cmp_ps::<_CMP_GT_OQ>(z, lo)) }
    }
    #[inline(always)]
    fn gate_between(z: Self::V, dy: Self::V, lo: Self::V, hi: Self::V) -> Self::V {
        use core::arch::x86_64::{_CMP_GT_OQ, _CMP_LT_OQ, _mm256_and_ps, _mm256_cmp_ps};
        unsafe { _mm256_and_ps(dy, _mm256_and_ps(_mm256_cmp_ps::<_CMP_GT_OQ>(z, lo), _mm256_cmp_ps::<_CMP_LT_OQ>(z, hi))) }
    }
}

/// x86-64 AVX-512F (`__m512`, 16 lanes). Its methods execute AVX-512 instructions: they are
/// only called inside `#[target_feature(enable = "avx512f")]` functions, which run only where
/// [`super::cpu::CpuIsa::available`] detected AVX-512F.
#[cfg(target_arch = "x86_64")]
#[derive(Debug, Clone, Copy)]
pub(crate) struct Avx512;

// SAFETY (every `unsafe` block of this impl): the intrinsics need AVX-512F, which the callers'
// `#[target_feature(enable = "avx512f")]` guarantees (see the type's comment); loads and
// stores are unaligned and bounded by the slice indexing before them.
#[cfg(target_arch = "x86_64")]
impl Lanes for Avx512 {
    type V = core::arch::x86_64::__m512;
    const W: usize = 16;
    const NAME: &'static str = "avx512";
    #[inline(always)]
    fn splat(x: f32) -> Self::V {
        unsafe { core::arch::x86_64::_mm512_set1_ps(x) }
    }
    #[inline(always)]
    fn load(s: &[f32]) -> Self::V {
        let s = &s[..16];
        unsafe { core::arch::x86_64::_mm512_loadu_ps(s.as_ptr()) }
    }
    #[inline(always)]
    fn store(s: &mut [f32], v: Self::V) {
        let s = &mut s[..16];
        unsafe { core::arch::x86_64::_mm512_storeu_ps(s.as_mut_ptr(), v) }
    }
    #[inline(always)]
    fn add(a: Self::V, b: Self::V) -> Self::V {
        unsafe { core::arch::x86_64::_mm512_add_ps(a, b) }
    }
    #[inline(always)]
    fn sub(a: Self::V, b: Self::V) -> Self::V {
        unsafe { core::arch::x86_64::_mm512_sub_ps(a, b) }
    }
    #[inline(always)]
    fn mul(a: Self::V, b: Self::V) -> Self::V {
        unsafe { core::arch::x86_64::_mm512_mul_ps(a, b) }
    }
    #[inline(always)]
    fn abs(a: Self::V) -> Self::V {
        unsafe { core::arch::x86_64::_mm512_abs_ps(a) }
    }
    #[inline(always)]
    fn hardtanh(a: Self::V) -> Self::V {
        use core::arch::x86_64::{_mm512_max_ps, _mm512_min_ps, _mm512_set1_ps};
        unsafe { _mm512_min_ps(_mm512_max_ps(a, _mm512_set1_ps(-1.0)), _mm512_set1_ps(1.0)) }
    }
    #[inline(always)]
    fn hsum(a: Self::V) -> f32 {
        let mut v = [0.0f32; 16];
        Self::store(&mut v, a);
        let h = |o: usize| ((v[o] + v[o + 1]) + (v[o + 2] + v[o + 3])) + ((v[o + 4] + v[o + 5]) + (v[o + 6] + v[o + 7]));
        h(0) + h(8)
    }
    #[inline(always)]
    fn gate_above(z: Self::V, dy: Self::V, lo: Self::V) -> Self::V {
        use core::arch::x86_64::{_CMP_GT_OQ, _mm512_cmp_ps_mask, _mm512_maskz_mov_ps};
        unsafe { _mm512_maskz_mov_ps(_mm512_cmp_ps_mask::<_CMP_GT_OQ>(z, lo), dy) }
    }
    #[inline(always)]
    fn gate_between(z: Self::V, dy: Self::V, lo: Self::V, hi: Self::V) -> Self::V {
        use core::arch::x86_64::{_CMP_GT_OQ, _CMP_LT_OQ, _mm512_cmp_ps_mask, _mm512_maskz_mov_ps};
        unsafe {
            let m = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(z, lo) & _mm512_cmp_ps_mask::<_CMP_LT_OQ>(z, hi);
            _mm512_maskz_mov_ps(m, dy)
        }
    }
}
