//! Forward+backward throughput of Mult, Shift and Add convolutions on the CPU (Flex backend,
//! native, rayon) at batch 64, for layer shapes of MobileNetV2-Tiny on 32×32 inputs (stem stride 1,
//! METHOD.md Appendix A). Prints a markdown table. Run: `cargo bench --bench ops`.
//!
//! Add runs both on the unfold reference (`ops::adder_conv2d_reference`) and on the fused
//! kernels (`ops::fused`, SSE2 natively); Shift is burn's conv2d on the power-of-two weights
//! (`ops::pot_quantize`); Mult is burn's conv2d. Peak memory is the largest heap size above the
//! starting point during one call (a counting global allocator; Flex allocates on the heap).

use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};
use shiftaddaug::engine::block_on;
use shiftaddaug::ops::fused::adder_conv2d_fused;
use shiftaddaug::ops::{Conv2dGeometry, adder_conv2d_reference, pot_quantize};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// Heap accounting: current and peak bytes (all threads).
struct Counting;
static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to `System`, only adding relaxed counters.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        CURRENT.fetch_sub(l.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

struct Shape {
    name: &'static str,
    x: [usize; 4],
    w: [usize; 4],
    stride: usize,
}

const BATCH: usize = 64;

fn shapes() -> Vec<Shape> {
    vec![
        Shape { name: "stem conv3x3 3→16 @32", x: [BATCH, 3, 32, 32], w: [16, 3, 3, 3], stride: 1 },
        Shape { name: "dw3x3 16 @32", x: [BATCH, 16, 32, 32], w: [16, 1, 3, 3], stride: 1 },
        Shape { name: "pw 8→48 @32", x: [BATCH, 8, 32, 32], w: [48, 8, 1, 1], stride: 1 },
        Shape { name: "dw3x3 48 s2 @32", x: [BATCH, 48, 32, 32], w: [48, 1, 3, 3], stride: 2 },
        Shape { name: "pw 48→16 @8", x: [BATCH, 48, 8, 8], w: [16, 48, 1, 1], stride: 1 },
        Shape { name: "pw 24→144 @4", x: [BATCH, 24, 4, 4], w: [144, 24, 1, 1], stride: 1 },
        Shape { name: "pw 56→336 @2", x: [BATCH, 56, 2, 2], w: [336, 56, 1, 1], stride: 1 },
        Shape { name: "head pw 112→448 @1", x: [BATCH, 112, 1, 1], w: [448, 112, 1, 1], stride: 1 },
    ]
}

fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = shiftaddaug::data::Rng::new(seed);
    (0..n).map(|_| (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 - 0.5).collect()
}

/// Seconds per forward+backward (median of `reps` after one warm-up) and peak extra heap bytes.
fn time(s: &Shape, op: &str, device: &Device, reps: usize) -> (f64, usize) {
    let xv = values(s.x.iter().product(), 1);
    let wv = values(s.w.iter().product(), 2);
    let groups = s.x[1] / s.w[1];
    let pad = s.w[2] / 2;
    let mut times = Vec::new();
    let mut peak = 0;
    for i in 0..=reps {
        let x = Tensor::<4>::from_data(TensorData::new(xv.clone(), s.x), device).require_grad();
        let w = Tensor::<4>::from_data(TensorData::new(wv.clone(), s.w), device).require_grad();
        let base = CURRENT.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        let t = Instant::now();
        let geo = Conv2dGeometry { stride: [s.stride; 2], padding: [pad; 2], groups };
        let y = match op {
            "mult" => conv2d(x.clone(), w.clone(), None, ConvOptions::new([s.stride; 2], [pad; 2], [1, 1], groups)),
            "shift" => conv2d(x.clone(), pot_quantize(w.clone(), -15), None, ConvOptions::new([s.stride; 2], [pad; 2], [1, 1], groups)),
            "add_ref" => adder_conv2d_reference(x.clone(), w.clone(), geo).unwrap(),
            _ => adder_conv2d_fused(x.clone(), w.clone(), geo).unwrap(),
        };
        let grads = y.sum().backward();
        let gw = w.grad(&grads).unwrap();
        // Readback forces the lazy work to finish.
        block_on(gw.sum().into_data_async()).unwrap();
        if i > 0 {
            times.push(t.elapsed().as_secs_f64());
            peak = peak.max(PEAK.load(Ordering::Relaxed).saturating_sub(base));
        }
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], peak)
}

fn main() {
    let device = Device::flex().autodiff();
    let reps = std::env::var("BENCH_REPS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    println!("forward+backward, batch {BATCH}, Flex CPU (native), median of {reps}; ms per call (images/s) [peak extra heap MiB]\n");
    println!("| layer | Mult | Shift | Add, unfold reference | Add, fused | fused vs reference | fused / Mult |");
    println!("|---|---|---|---|---|---|---|");
    for s in shapes() {
        let r: Vec<(f64, usize)> = ["mult", "shift", "add_ref", "add_fused"].iter().map(|op| time(&s, op, &device, reps)).collect();
        let cell = |(t, p): (f64, usize)| format!("{:.2} ({:.0}) [{:.1}]", t * 1e3, BATCH as f64 / t, p as f64 / (1 << 20) as f64);
        println!(
            "| {} | {} | {} | {} | {} | {:.1}× faster | {:.2}× |",
            s.name,
            cell(r[0]),
            cell(r[1]),
            cell(r[2]),
            cell(r[3]),
            r[2].0 / r[3].0,
            r[3].0 / r[0].0
        );
    }
}
