//! Forward+backward throughput of Mult, Shift and Add convolutions on the CPU (Flex backend,
//! native, rayon) at batch 64, for layer shapes of MobileNetV2-Tiny on 32×32 inputs (stem stride 1,
//! METHOD.md Appendix A). Prints a markdown table. Run: `cargo bench --bench ops`.
//!
//! Add runs both on the unfold reference (`ops::adder_conv2d_reference`) and on the fused
//! kernels (`ops::fused`: SSE2 natively, AVX2 / AVX-512 tiles where the CPU has them; `SHIFTADDAUG_CPU_CAPABILITY=sse2` caps them); Shift is burn's conv2d on the power-of-two weights
//! (`ops::pot_quantize`); Mult is burn's conv2d. Peak memory is the largest heap size above the
//! starting point during one call (a counting global allocator; Flex allocates on the heap).

use burn::tensor::Device;
use shiftaddaug::engine::bench::{BenchLayer, BenchOp, inputs, mbv2_tiny_layers, run_once};
use shiftaddaug::engine::block_on;
use std::time::Instant;

#[path = "../tests/util/counting_alloc.rs"]
mod counting_alloc;

const BATCH: usize = 64;

/// Median ms per forward+backward (after one warm-up) and the largest extra heap bytes.
fn time(layer: &BenchLayer, op: BenchOp, device: &Device, reps: usize) -> (f64, usize) {
    let mut times = Vec::new();
    let mut peak = 0;
    for i in 0..=reps {
        let (x, w) = inputs(layer, device);
        let t = Instant::now();
        let (_, p) = counting_alloc::peak_of(|| block_on(run_once(layer, op, x, w)).unwrap());
        if i > 0 {
            times.push(t.elapsed().as_secs_f64() * 1e3);
            peak = peak.max(p);
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
    for s in mbv2_tiny_layers(BATCH) {
        let r: Vec<(f64, usize)> = BenchOp::ALL.iter().map(|&op| time(&s, op, &device, reps)).collect();
        let cell = |(t, p): (f64, usize)| format!("{t:.2} ({:.0}) [{:.1}]", BATCH as f64 / (t / 1e3), p as f64 / (1 << 20) as f64);
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
