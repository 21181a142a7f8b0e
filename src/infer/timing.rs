//! Timing of the integer engine for the latency table ([`crate::cost::latency`]): one layer on
//! random weights and inputs ([`time_conv`]), anything by [`median_time`] on a [`Clock`] (natively
//! `Instant`; in a browser `performance.now()`, whose steps are coarse).

use super::format::{Act, Conv, Op};
use super::int::{pow2, qconv, qforward};
use super::kernels::Geometry;
use super::kernels::Isa;

/// Bytes written between two timed runs of [`time_conv`]: twice a 1 MiB second-level cache.
const EVICT_BYTES: usize = 2 << 20;

/// Seconds the integer engine takes for one convolution of operator `op` and geometry `geo` on
/// one image: a layer with random weights (identity BatchNorm) on random 16-bit inputs, then
/// its activation `act` (ReLU6 and ReLU are the requantisation's clamp; h-swish a pass of its
/// own), on the fastest instruction set, timed by [`median_time`] on `clock` (natively
/// `Instant`; in a browser `performance.now()`).
/// A Mult 1×1 layer on one pixel is a dense layer (classifier, squeeze-and-excitation, final
/// conv), which the engine runs as one (`QDense`); so is it timed (its activation, on a few
/// hundred values, is not).
pub fn time_conv(op: Op, geo: &Geometry, act: Act, reps: usize, clock: Clock) -> f64 {
    if op == Op::Mult && geo.k == 1 && geo.h == 1 && geo.w == 1 && geo.groups == 1 {
        return super::dense::time_dense(geo.cin, geo.cout, reps, clock);
    }
    let mut rng = crate::data::Rng::new(geo.cin as u64 * 31 + geo.cout as u64);
    let n = geo.cout * geo.cin / geo.groups * geo.k * geo.k;
    let mut unit = || (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
    let (weight, shift) = if op == Op::Shift {
        // No zero signs: a zero tap is skipped, and a dense layer is what the table prices.
        let sign: Vec<i8> = (0..n).map(|_| if unit() < 0.0 { -1 } else { 1 }).collect();
        let exponent: Vec<i8> = (0..n).map(|_| ((unit() + 0.5) * -8.0).round() as i8).collect();
        (sign.iter().zip(&exponent).map(|(&s, &e)| s as f32 * pow2(e as i32) as f32).collect(), Some((sign, exponent)))
    } else {
        ((0..n).map(|_| unit()).collect(), None)
    };
    let ones = vec![1.0; geo.cout];
    let bn = super::format::Bn { gamma: ones.clone(), beta: vec![0.0; geo.cout], mean: vec![0.0; geo.cout], var: ones };
    let conv = Conv {
        name: "timed".into(),
        op,
        cin: geo.cin,
        cout: geo.cout,
        k: geo.k,
        stride: geo.stride,
        pad: geo.pad,
        groups: geo.groups,
        act: if act == Act::Hswish { Act::Hswish } else { Act::Relu6 },
        weight,
        shift,
        bn,
    };
    let q = qconv(&conv, [geo.cin, geo.h, geo.w], 10, 10);
    let x: Vec<i16> = (0..geo.cin * geo.h * geo.w).map(|_| (unit() * 4096.0) as i16).collect();
    let (isa, mut scratch) = (Isa::best(), Vec::new());
    // In a whole model the layer's weights were evicted by the other layers' since its last run:
    // the second-level cache is overwritten before each timed sample.
    let mut evict = vec![0u8; EVICT_BYTES];
    let mut prepare = || {
        evict.iter_mut().step_by(64).for_each(|b| *b = b.wrapping_add(1));
        std::hint::black_box(&evict);
    };
    median_time(reps, clock, &mut prepare, &mut || {
        let mut y = qforward(isa, &q, std::hint::black_box(&x), &mut scratch);
        if act == Act::Hswish {
            super::dense::hswish(&mut y, 10);
        }
        std::hint::black_box(y);
    })
}

/// Seconds the integer engine takes for one squeeze-and-excitation of `channels` channels,
/// `hidden` hidden values and `plane` values per channel on one image (pooling, both FCs and
/// the gating), with random weights and inputs, timed by [`median_time`] on `clock`.
pub fn time_se(channels: usize, hidden: usize, plane: usize, reps: usize, clock: Clock) -> f64 {
    super::dense::time_se(channels, hidden, plane, reps, clock)
}

/// A clock for timing: `now()` in seconds, and its resolution in seconds (a browser's
/// `performance.now()` is coarsened to 5–100 µs).
#[derive(Clone, Copy)]
pub struct Clock<'a> {
    /// Seconds since any fixed origin.
    pub now: &'a dyn Fn() -> f64,
    /// Smallest step `now` shows, seconds.
    pub resolution: f64,
}

/// Seconds one `run` takes: the median of `reps` samples, each `prepare` then as many runs
/// (a power of two) as make the sample last 20 clock steps, after one warm-up run.
pub fn median_time(reps: usize, clock: Clock, prepare: &mut dyn FnMut(), run: &mut dyn FnMut()) -> f64 {
    run();
    let mut inner = 1usize;
    loop {
        let t = (clock.now)();
        (0..inner).for_each(|_| run());
        let took = (clock.now)() - t;
        if took >= 20.0 * clock.resolution || inner >= 1 << 20 {
            break;
        }
        inner *= 2;
    }
    let mut times: Vec<f64> = (0..reps.max(1))
        .map(|_| {
            prepare();
            let t = (clock.now)();
            (0..inner).for_each(|_| run());
            ((clock.now)() - t) / inner as f64
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}
