//! Whole-model training throughput of the ShiftAddAug supernet on the CPU (Flex backend, native,
//! rayon): MobileNetV2-Tiny at 32×32 (stem stride 1), batch 64 of Fashion-MNIST, SGD, one
//! optimiser step per batch (the augmented rows train the tiny pass and one sampled augmented
//! pass per step, widths augmented). Prints a markdown table of images/s (median over the
//! timed steps, after 2 warm-up steps), in the same run with burn's ops, with the fused
//! BatchNorm + activation (`ops::bn_act`), and with every fast kernel (`ops::Kernels::All`:
//! also the depthwise and pointwise convolutions of `ops::conv` and the power-of-two rounding
//! of `ops::pot`). Run: `cargo bench --bench train_step`
//! (`BENCH_STEPS`, default 12, sets the timed steps per row; `BENCH_CONV=shift` runs one conv
//! kind, `BENCH_KERNELS=burn|bn_act|all` one kernel set and `BENCH_AUG=0|1` only the direct or
//! only the augmented step, e.g. under `perf record`; the other cells print NaN;
//! `BENCH_SUBNETS=N` adds a row per conv kind, every kernel, whose augmented step also trains
//! N sub-networks (stage 1 of the search, `AugConfig::subnets`), timed in the same run).

use burn::tensor::Device;
use shiftaddaug::aug::{AugConfig, AugNetConfig};
use shiftaddaug::data::{FASHION_MNIST_DIR, Split, load_fashion_mnist};
use shiftaddaug::engine::block_on;
use shiftaddaug::nn::ConvKind;
use shiftaddaug::ops::Kernels;
use shiftaddaug::train::{OptimizerKind, TrainConfig, Trainer};
use std::time::Instant;

const BATCH: usize = 64;

fn main() {
    let steps: usize = std::env::var("BENCH_STEPS").ok().and_then(|v| v.parse().ok()).unwrap_or(12);
    let data = load_fashion_mnist(std::path::Path::new(FASHION_MNIST_DIR), Split::Train)
        .expect("Debian's dataset-fashion-mnist")
        .slice(0, BATCH * (steps + 2))
        .pad_to(32);
    let device = Device::flex().autodiff();
    println!(
        "MobileNetV2-Tiny 32×32, batch {BATCH}, SGD, Flex CPU (native), {} threads; images/s, median of {steps} steps\n",
        rayon::current_num_threads()
    );
    println!("| conv | kernels | direct | ShiftAddAug (H1, R1) | augmented / direct |");
    println!("|---|---|---|---|---|");
    let only: Option<ConvKind> = std::env::var("BENCH_CONV").ok().map(|v| v.parse().expect("BENCH_CONV: mult, shift or add"));
    let only_kernels: Option<Kernels> = std::env::var("BENCH_KERNELS").ok().map(|v| v.parse().expect("BENCH_KERNELS: burn, bn_act or all"));
    let only_aug: Option<bool> = std::env::var("BENCH_AUG").ok().map(|v| v == "1");
    let subnets: usize = std::env::var("BENCH_SUBNETS").ok().map_or(0, |v| v.parse().expect("BENCH_SUBNETS: a count"));
    for conv in [ConvKind::Mult, ConvKind::Shift, ConvKind::Add].into_iter().filter(|c| only.is_none_or(|o| o == *c)) {
        let rate = |aug: AugConfig| {
            if only_aug.is_some_and(|a| a != aug.enabled) {
                return f64::NAN;
            }
            let cfg = AugNetConfig { aug, ..AugNetConfig::new([1, 32, 32], 10, conv) };
            // A long planned schedule keeps width augmentation on for every timed step.
            let tc =
                TrainConfig { optimizer: OptimizerKind::Sgd, learning_rate: 0.05, total_steps: Some(100_000), ..TrainConfig::default() };
            let mut t = Trainer::new(cfg.init(&device).expect("valid config"), 10, tc).expect("trainer");
            let mut times = Vec::new();
            for (i, idx) in (0..steps + 2).map(|b| (b * BATCH..(b + 1) * BATCH).collect::<Vec<_>>()).enumerate() {
                let (x, y) = data.gather(&idx);
                let start = Instant::now();
                block_on(t.train_batch(&x, &y, true)).expect("step");
                if i >= 2 {
                    times.push(start.elapsed().as_secs_f64());
                }
            }
            times.sort_by(f64::total_cmp);
            BATCH as f64 / times[times.len() / 2]
        };
        let variants = [("burn ops", Kernels::Burn), ("ops::bn_act", Kernels::BnAct), ("every kernel", Kernels::All)];
        let mut row = Vec::new();
        for (what, kernels) in variants {
            if only_kernels.is_some_and(|k| k != kernels) {
                row.push((f64::NAN, f64::NAN));
                continue;
            }
            shiftaddaug::ops::set_kernels(kernels);
            let direct = rate(AugConfig::direct());
            let aug = rate(AugConfig::default());
            println!("| {conv:?} | {what} | {direct:.1} | {aug:.1} | {:.2} |", aug / direct);
            row.push((direct, aug));
        }
        if subnets > 0 {
            shiftaddaug::ops::set_kernels(Kernels::All);
            let with = rate(AugConfig { subnets, ..AugConfig::default() });
            println!(
                "| {conv:?} | every kernel, sub-networks per step: {subnets} | | {with:.1} | {:.2} (with / without sub-networks: {:.2}) |",
                with / row[2].0,
                with / row[2].1
            );
        }
        println!("| {conv:?} | every kernel / burn ops | {:.2}× | {:.2}× | |", row[2].0 / row[0].0, row[2].1 / row[0].1);
        println!("| {conv:?} | every kernel / ops::bn_act | {:.2}× | {:.2}× | |", row[2].0 / row[1].0, row[2].1 / row[1].1);
    }
}
