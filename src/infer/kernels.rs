//! The integer engine's convolution kernels, written once over [`IntLanes`] and instantiated for
//! every instruction set ([`Isa`]). A [`Plan`] lays a layer out once: its input is read from a
//! zero-padded copy, each tap is an offset into it, and outputs are computed four at a time (one
//! vector) with the sum held in a register across the taps. Shift layers walk their taps in
//! descending shift amount (Horner's rule), so their inner loop is a load, a shift and an
//! addition.
//!
//! The sums are `i32` with wrapping arithmetic, which is associative and commutative, so every
//! summation order, and every instruction set, gives the bits of the per-output reference
//! (`conformance::accumulate_reference`). `infer::int` chooses scales that keep the sums from wrapping.

use super::lanes::IntLanes;
#[cfg(any(feature = "train", not(all(target_arch = "wasm32", target_feature = "simd128"))))]
use super::lanes::Scalar;

/// Shape of one convolution over one `[cin, h, w]` input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    /// Portable `[i32; 4]` code. Absent from the inference-only wasm build with SIMD128, which
    /// ships only the SIMD128 kernels (its size budget); every other build has it.
    #[cfg(any(feature = "train", not(all(target_arch = "wasm32", target_feature = "simd128"))))]
    Scalar,
    /// WebAssembly SIMD128.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    Simd128,
    /// x86-64 SSE2.
    #[cfg(target_arch = "x86_64")]
    Sse2,
    /// x86-64 AVX2, eight outputs a vector; only where the CPU has it ([`Isa::available`]).
    #[cfg(target_arch = "x86_64")]
    Avx2,
}

/// Environment variable that caps [`Isa::best`] natively (`scalar`, `sse2`, `avx2`; like
/// PyTorch's `ATEN_CPU_CAPABILITY`), read once; the training kernels read it too.
pub const CPU_CAPABILITY_ENV: &str = "SHIFTADDAUG_CPU_CAPABILITY";

/// The last (widest) of `all`, or the one whose name [`CPU_CAPABILITY_ENV`] gives.
///
/// # Panics
/// When `all` is empty.
pub fn capped<T: Copy>(all: &[T], name: impl Fn(T) -> &'static str) -> T {
    let cap = std::env::var(CPU_CAPABILITY_ENV).ok();
    cap.and_then(|c| all.iter().copied().find(|&i| name(i) == c)).unwrap_or(*all.last().expect("at least one instruction set"))
}

impl Isa {
    /// The fastest set this build and CPU support (the one the engine uses), capped by
    /// [`CPU_CAPABILITY_ENV`] when it names one of [`Isa::available`].
    pub fn best() -> Self {
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        return Isa::Simd128;
        #[cfg(target_arch = "x86_64")]
        {
            static BEST: std::sync::OnceLock<Isa> = std::sync::OnceLock::new();
            #[allow(clippy::needless_return)]
            return *BEST.get_or_init(|| capped(&Self::available(), Self::name));
        }
        #[allow(unreachable_code)]
        #[cfg(any(feature = "train", not(all(target_arch = "wasm32", target_feature = "simd128"))))]
        Isa::Scalar
    }
    /// Every set this build and CPU support, narrowest first (the conformance check runs each).
    #[allow(clippy::vec_init_then_push)]
    pub fn available() -> Vec<Self> {
        #[allow(unused_mut)]
        let mut v = Vec::new();
        #[cfg(any(feature = "train", not(all(target_arch = "wasm32", target_feature = "simd128"))))]
        v.push(Isa::Scalar);
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        v.push(Isa::Simd128);
        #[cfg(target_arch = "x86_64")]
        {
            v.push(Isa::Sse2);
            if std::arch::is_x86_feature_detected!("avx2") {
                v.push(Isa::Avx2);
            }
        }
        v
    }
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            #[cfg(any(feature = "train", not(all(target_arch = "wasm32", target_feature = "simd128"))))]
            Isa::Scalar => Scalar::NAME,
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Isa::Simd128 => super::lanes::Simd128::NAME,
            #[cfg(target_arch = "x86_64")]
            Isa::Sse2 => super::lanes::Sse2::NAME,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => super::lanes::Avx2::NAME,
        }
    }
}

/// A convolution laid out for the kernels, built once per layer and input size: the taps as
/// offsets into a zero-padded copy of the input, and for Shift layers each output channel's taps
/// grouped by shift amount.
///
/// Outputs are computed a vector at a time (four or eight) per row: the accumulator plane of a
/// channel is `rows() × pitch()` `i32`, of which the first `cols()` of each row are outputs; the
/// layout is the same for every instruction set. A 1×1, stride-1, unpadded convolution sees its
/// plane as one row.
#[derive(Debug, Clone)]
pub struct Plan {
    kind: Kind,
    cout: usize,
    depthwise: bool,
    stride: usize,
    /// Output rows and columns, and the accumulator row pitch (`cols` rounded up to 4).
    rows: usize,
    cols: usize,
    pitch: usize,
    /// Input `[cin, h, w]` and the padded copy's `[cin, ph, pw]` and border.
    h: usize,
    w: usize,
    pad: usize,
    ph: usize,
    pw: usize,
    /// The input needs no copy (no border, rows already long enough).
    direct: bool,
    /// Input planes one output channel reads (`cin / groups`).
    planes: usize,
    /// Per tap (`fan` of them): its offset in the padded input from an output's first tap.
    taps: Vec<usize>,
}

#[derive(Debug, Clone)]
enum Kind {
    /// Per output channel its positive and negative taps as Horner streams (see [`Stream`]) and
    /// a range of `right` (taps shifted right, floor, each on its own).
    Shift { chans: Vec<ShiftChannel>, steps: Vec<(usize, u32)>, right: Vec<(usize, u32, bool)> },
    /// One weight per tap, `[cout, fan]` (splat into a vector where it is used), and guard
    /// bits per output channel.
    Add { weights: Vec<i32>, guard: Vec<u32> },
    /// One weight per tap, `[cout, fan]`.
    Mult { weights: Vec<i32> },
}

#[derive(Debug, Clone)]
struct ShiftChannel {
    pos: Stream,
    neg: Stream,
    right: std::ops::Range<usize>,
}

/// Taps of one sign with shift amounts `a_1 >= a_2 >= … >= a_n >= 0`, as `steps` entries
/// `(offset, a_{i−1} − a_i)` (`a_0 = a_1`): `v = (v << delta) + x[offset]` for each, then
/// `v << a_n` is `Σ x << a_i` (Horner's rule: one shift and one addition per tap).
#[derive(Debug, Clone)]
struct Stream {
    steps: std::ops::Range<usize>,
    last: u32,
}

/// The most lanes of any instruction set: pitches are multiples of it.
const MAX_LANES: usize = 8;

/// `i16` a vector load of `lanes` lanes reads from its first element on: `lanes` (stride 1),
/// `2 · lanes` (stride 2, the odd ones dropped), `(lanes − 1) · stride + 1` (gathered).
fn span(stride: usize, lanes: usize) -> usize {
    match stride {
        1 => lanes,
        2 => 2 * lanes,
        s => (lanes - 1) * s + 1,
    }
}

impl Plan {
    /// Lays out `taps` for geometry `g`.
    ///
    /// # Panics
    /// When the taps are shorter than `g` says.
    pub fn new(g: &Geometry, taps: &Taps) -> Self {
        let flat = g.k == 1 && g.stride == 1 && g.pad == 0;
        let (h, w) = if flat { (1, g.h * g.w) } else { (g.h, g.w) };
        let (ho, wo) = Geometry { h, w, ..*g }.out();
        let pitch = wo.div_ceil(MAX_LANES) * MAX_LANES;
        let ph = h + 2 * g.pad;
        // The last vector of a row starts at `pitch − lanes`; with `pitch` a multiple of 8 the
        // widest vector reaches as far as any narrower one.
        let pw = (w + 2 * g.pad).max((pitch - MAX_LANES) * g.stride + g.k - 1 + span(g.stride, MAX_LANES));
        let direct = g.pad == 0 && pw == w;
        let cg = g.cin / g.groups;
        let mut offsets = Vec::with_capacity(g.fan_in());
        for ic in 0..cg {
            for ky in 0..g.k {
                for kx in 0..g.k {
                    offsets.push((ic * ph + ky) * pw + kx);
                }
            }
        }
        let fan = g.fan_in();
        let kind = match *taps {
            Taps::Shift { shifts, signs } => {
                let (mut chans, mut steps, mut right) = (Vec::new(), Vec::new(), Vec::new());
                for oc in 0..g.cout {
                    let t = oc * fan..(oc + 1) * fan;
                    let mut stream = |sign: i8| {
                        let mut taps: Vec<usize> = t.clone().filter(|&t| signs[t] == sign && shifts[t] >= 0).collect();
                        taps.sort_by_key(|&t| std::cmp::Reverse(shifts[t]));
                        let (s0, mut prev) = (steps.len(), taps.first().map_or(0, |&t| shifts[t]));
                        for t in taps {
                            steps.push((offsets[t - oc * fan], (prev - shifts[t]) as u32));
                            prev = shifts[t];
                        }
                        Stream { steps: s0..steps.len(), last: prev as u32 }
                    };
                    let (pos, neg) = (stream(1), stream(-1));
                    let r0 = right.len();
                    right.extend(
                        t.clone()
                            .filter(|&t| signs[t] != 0 && shifts[t] < 0)
                            .map(|t| (offsets[t - oc * fan], (-shifts[t]) as u32, signs[t] < 0)),
                    );
                    chans.push(ShiftChannel { pos, neg, right: r0..right.len() });
                }
                Kind::Shift { chans, steps, right }
            }
            Taps::Add { weights, guard } => Kind::Add { weights: weights[..g.cout * fan].to_vec(), guard: guard[..g.cout].to_vec() },
            Taps::Mult { weights } => Kind::Mult { weights: weights[..g.cout * fan].to_vec() },
        };
        Plan {
            kind,
            cout: g.cout,
            depthwise: g.groups > 1,
            stride: g.stride,
            rows: ho,
            cols: wo,
            pitch,
            h,
            w,
            pad: g.pad,
            ph,
            pw,
            direct,
            planes: cg,
            taps: offsets,
        }
    }

    /// Output rows of the accumulator plane.
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Outputs per row.
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// `i32` per accumulator row (`cols()` rounded up to 8).
    pub fn pitch(&self) -> usize {
        self.pitch
    }

    /// The input as the kernels read it: `x` itself, or a zero-padded copy in `buf`.
    ///
    /// # Panics
    /// When `x` is not `[cin, h, w]` of the plan's geometry.
    pub fn padded<'a>(&self, x: &'a [i16], buf: &'a mut Vec<i16>) -> &'a [i16] {
        let planes = x.len() / (self.h * self.w);
        assert_eq!(planes * self.h * self.w, x.len(), "input of the wrong size");
        if self.direct {
            return x;
        }
        buf.clear();
        buf.resize(planes * self.ph * self.pw, 0);
        for (src, dst) in x.chunks_exact(self.h * self.w).zip(buf.chunks_exact_mut(self.ph * self.pw)) {
            for (r, row) in src.chunks_exact(self.w).enumerate() {
                let at = (r + self.pad) * self.pw + self.pad;
                dst[at..at + self.w].copy_from_slice(row);
            }
        }
        buf
    }

    /// Output channel `oc`'s accumulators on `isa` into `acc` (`rows() · pitch()`, overwritten),
    /// from the input as returned by [`padded`](Self::padded).
    ///
    /// # Panics
    /// When `p` or `acc` is shorter than the plan needs.
    pub fn accumulate(&self, isa: Isa, p: &[i16], oc: usize, acc: &mut [i32]) {
        match isa {
            #[cfg(any(feature = "train", not(all(target_arch = "wasm32", target_feature = "simd128"))))]
            Isa::Scalar => self.channel::<Scalar>(p, oc, acc),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Isa::Simd128 => self.channel::<super::lanes::Simd128>(p, oc, acc),
            #[cfg(target_arch = "x86_64")]
            Isa::Sse2 => self.channel::<super::lanes::Sse2>(p, oc, acc),
            // SAFETY: `Isa::Avx2` exists only where the CPU has AVX2 (`Isa::available`).
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { self.channel_avx2(p, oc, acc) },
        }
    }

    /// [`channel`](Self::channel) on AVX2, compiled with it so that its lanes inline.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn channel_avx2(&self, p: &[i16], oc: usize, acc: &mut [i32]) {
        self.channel::<super::lanes::Avx2>(p, oc, acc)
    }

    #[inline(always)]
    fn channel<L: IntLanes>(&self, p: &[i16], oc: usize, acc: &mut [i32]) {
        assert!(oc < self.cout && acc.len() >= self.rows * self.pitch);
        match self.stride {
            1 => self.channel_at::<L, 1>(p, oc, acc),
            2 => self.channel_at::<L, 2>(p, oc, acc),
            _ => self.channel_at::<L, 0>(p, oc, acc),
        }
    }

    #[inline(always)]
    fn channel_at<L: IntLanes, const S: usize>(&self, p: &[i16], oc: usize, acc: &mut [i32]) {
        let base = if self.depthwise { oc * self.ph * self.pw } else { 0 };
        // Every load stays inside the planes from `base` on: rows (`(rows − 1) · stride + k <= ph`)
        // and columns (`pw` covers the last block's span) do, and taps reach `cin/groups` planes.
        assert!(p.len() >= base + self.planes * self.ph * self.pw, "input shorter than the plan");
        let fan = self.taps.len();
        let acc = &mut acc[..self.rows * self.pitch];
        let stride = self.stride;
        match &self.kind {
            Kind::Shift { chans, steps, right } => {
                let c = &chans[oc];
                let k = ShiftTaps::<S> {
                    pos: (&steps[c.pos.steps.clone()], c.pos.last),
                    neg: (&steps[c.neg.steps.clone()], c.neg.last),
                    right: &right[c.right.clone()],
                    stride,
                };
                if L::IN_TARGET_FEATURE {
                    // SAFETY: `p` holds the planes read from `base` (checked above).
                    unsafe { blocks::<L, S, _>(self, p, base, acc, &k) }
                } else {
                    shift_channel::<L, S>(self, p, base, acc, &k);
                }
            }
            Kind::Add { weights, guard } => {
                let k = AddTaps::<S> { taps: &self.taps, weights: &weights[oc * fan..(oc + 1) * fan], guard: guard[oc], stride };
                if L::IN_TARGET_FEATURE {
                    // SAFETY: as above.
                    unsafe { blocks::<L, S, _>(self, p, base, acc, &k) }
                } else {
                    add_channel::<L, S>(self, p, base, acc, &k);
                }
            }
            Kind::Mult { weights } => {
                let k = MultTaps::<S> { taps: &self.taps, weights: &weights[oc * fan..(oc + 1) * fan], stride };
                if L::IN_TARGET_FEATURE {
                    // SAFETY: as above.
                    unsafe { blocks::<L, S, _>(self, p, base, acc, &k) }
                } else {
                    mult_channel::<L, S>(self, p, base, acc, &k);
                }
            }
        }
    }
}

/// `L::LANES` inputs from `at`, `stride` apart (`S` = 1 or 2, or 0 for any other stride).
///
/// # Safety
/// `at + span(stride, L::LANES) <= p.len()` (the plan's layout guarantees it for every block and tap).
#[inline(always)]
unsafe fn ld<L: IntLanes, const S: usize>(p: &[i16], at: usize, stride: usize) -> L::V {
    debug_assert!(at + span(stride, L::LANES) <= p.len());
    // SAFETY: the caller's bound covers every index read below.
    unsafe {
        match S {
            1 => L::load16(p.get_unchecked(at..at + L::LANES)),
            2 => L::load16_even(p.get_unchecked(at..at + 2 * L::LANES)),
            _ => {
                // Offsets by repeated addition: no multiply in the Shift and Add kernels.
                let (mut g, mut q) = ([0i16; MAX_LANES], at);
                for g in &mut g[..L::LANES] {
                    *g = *p.get_unchecked(q);
                    q += stride;
                }
                L::load16(&g)
            }
        }
    }
}

/// The sums of `N` one-vector blocks of outputs at once (`N` independent vectors: the taps' program is
/// walked once for all of them).
trait BlockSums<L: IntLanes> {
    /// Block `n` starts at `at[n]` in the padded input.
    ///
    /// # Safety
    /// Every tap of every block reads inside `p` (see [`ld`]).
    unsafe fn sums<const N: usize>(&self, p: &[i16], at: [usize; N]) -> [L::V; N];
}

/// Stores the sums of every block of a channel into `acc`, four vectors, then two, then one at a time.
///
/// # Safety
/// `p` holds the planes the plan reads from `base` (checked by the caller).
#[inline(always)]
unsafe fn blocks<L: IntLanes, const S: usize, K: BlockSums<L>>(plan: &Plan, p: &[i16], base: usize, acc: &mut [i32], k: &K) {
    let n = L::LANES;
    let (row_step, col) = (plan.stride * plan.pw, n * plan.stride);
    let mut row = base;
    for acc_row in acc.chunks_exact_mut(plan.pitch) {
        let (mut b, mut j) = (row, 0);
        // Gathered loads (strides above 2, rare) go one vector at a time: less code.
        while S != 0 && j + 4 * n <= acc_row.len() {
            let (b1, b2) = (b + col, b + col + col);
            // SAFETY: blocks inside the row, as the caller guarantees.
            let v = unsafe { k.sums::<4>(p, [b, b1, b2, b2 + col]) };
            for (out, v) in acc_row[j..j + 4 * n].chunks_exact_mut(n).zip(v) {
                L::store(out, v);
            }
            b = b2 + col + col;
            j += 4 * n;
        }
        if S != 0 && j + 2 * n <= acc_row.len() {
            // SAFETY: as above.
            let v = unsafe { k.sums::<2>(p, [b, b + col]) };
            L::store(&mut acc_row[j..j + n], v[0]);
            L::store(&mut acc_row[j + n..j + 2 * n], v[1]);
            b += col + col;
            j += 2 * n;
        }
        while j + n <= acc_row.len() {
            // SAFETY: as above.
            let [v] = unsafe { k.sums::<1>(p, [b]) };
            L::store(&mut acc_row[j..j + n], v);
            b += col;
            j += n;
        }
        row += row_step;
    }
}

/// One Shift channel: `Σ x << a` over the positive taps minus the same over the negative ones,
/// each a Horner stream ([`Stream`]), then the right-shifted taps.
struct ShiftTaps<'a, const S: usize> {
    pos: (&'a [(usize, u32)], u32),
    neg: (&'a [(usize, u32)], u32),
    right: &'a [(usize, u32, bool)],
    stride: usize,
}

impl<const S: usize> ShiftTaps<'_, S> {
    /// `Σ x << a` of one stream for `N` blocks.
    ///
    /// # Safety
    /// As [`BlockSums::sums`].
    #[inline(always)]
    unsafe fn stream<L: IntLanes, const N: usize>(&self, p: &[i16], at: [usize; N], (steps, last): (&[(usize, u32)], u32)) -> [L::V; N] {
        let mut v = [L::splat(0); N];
        for &(o, delta) in steps {
            for n in 0..N {
                // SAFETY: the caller's bound.
                v[n] = L::add(L::shl(v[n], delta), unsafe { ld::<L, S>(p, at[n] + o, self.stride) });
            }
        }
        // Loops, not closures: a closure would not run with an AVX2 caller's target features.
        for v in &mut v {
            *v = L::shl(*v, last);
        }
        v
    }
}

impl<L: IntLanes, const S: usize> BlockSums<L> for ShiftTaps<'_, S> {
    #[inline(always)]
    unsafe fn sums<const N: usize>(&self, p: &[i16], at: [usize; N]) -> [L::V; N] {
        // SAFETY (every `stream` and `ld`): the caller's bound.
        let (pos, neg) = unsafe { (self.stream::<L, N>(p, at, self.pos), self.stream::<L, N>(p, at, self.neg)) };
        let mut v = pos;
        for n in 0..N {
            v[n] = L::sub(pos[n], neg[n]);
        }
        for &(o, r, negative) in self.right {
            for n in 0..N {
                let t = L::sar(unsafe { ld::<L, S>(p, at[n] + o, self.stride) }, r);
                v[n] = if negative { L::sub(v[n], t) } else { L::add(v[n], t) };
            }
        }
        v
    }
}

/// One Add channel: `−Σ |(x << guard) − w|` (padding reads 0).
struct AddTaps<'a, const S: usize> {
    taps: &'a [usize],
    weights: &'a [i32],
    guard: u32,
    stride: usize,
}

impl<L: IntLanes, const S: usize> BlockSums<L> for AddTaps<'_, S> {
    #[inline(always)]
    unsafe fn sums<const N: usize>(&self, p: &[i16], at: [usize; N]) -> [L::V; N] {
        let mut v = [L::splat(0); N];
        for (&o, &w) in self.taps.iter().zip(self.weights) {
            let w = L::splat(w);
            for n in 0..N {
                // SAFETY: the caller's bound.
                let x = L::shl(unsafe { ld::<L, S>(p, at[n] + o, self.stride) }, self.guard);
                v[n] = L::sub(v[n], L::abs(L::sub(x, w)));
            }
        }
        v
    }
}

/// One Mult channel: `Σ x · w`.
struct MultTaps<'a, const S: usize> {
    taps: &'a [usize],
    weights: &'a [i32],
    stride: usize,
}

impl<L: IntLanes, const S: usize> BlockSums<L> for MultTaps<'_, S> {
    #[inline(always)]
    unsafe fn sums<const N: usize>(&self, p: &[i16], at: [usize; N]) -> [L::V; N] {
        let mut v = [L::splat(0); N];
        for (&o, &w) in self.taps.iter().zip(self.weights) {
            let w = L::splat(w);
            for n in 0..N {
                // SAFETY: the caller's bound.
                v[n] = L::add(v[n], L::mul(unsafe { ld::<L, S>(p, at[n] + o, self.stride) }, w));
            }
        }
        v
    }
}

/// Shift layers, one output channel (see [`ShiftTaps`]). Shifts, additions and subtractions only:
/// `tests/infer_wasm.rs` reads the compiled inference wasm and fails on any multiply inside this
/// function's loops.
#[inline(never)]
fn shift_channel<L: IntLanes, const S: usize>(plan: &Plan, p: &[i16], base: usize, acc: &mut [i32], k: &ShiftTaps<S>) {
    // SAFETY: `channel_at` checked that `p` holds the planes read from `base`.
    unsafe { blocks::<L, S, _>(plan, p, base, acc, k) }
}

/// Add layers, one output channel (see [`AddTaps`]). No multiply inside its loops, as for
/// [`shift_channel`].
#[inline(never)]
fn add_channel<L: IntLanes, const S: usize>(plan: &Plan, p: &[i16], base: usize, acc: &mut [i32], k: &AddTaps<S>) {
    // SAFETY: as in `shift_channel`.
    unsafe { blocks::<L, S, _>(plan, p, base, acc, k) }
}

/// Mult layers, one output channel (see [`MultTaps`]).
#[inline(never)]
fn mult_channel<L: IntLanes, const S: usize>(plan: &Plan, p: &[i16], base: usize, acc: &mut [i32], k: &MultTaps<S>) {
    // SAFETY: as in `shift_channel`.
    unsafe { blocks::<L, S, _>(plan, p, base, acc, k) }
}
