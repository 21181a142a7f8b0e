//! Step profile of MobileNetV2-Tiny at 32×32 (stem stride 1), batch 64, SGD, on the CPU (Flex,
//! native, rayon): where one direct and one ShiftAddAug training step spend their time, by op
//! kind (`engine::profile`). Prints markdown tables. Run: `cargo bench --bench step_profile`
//! (`BENCH_CONV=mult|shift|add`, default shift; `BENCH_REPS`, default 5; `BENCH_KERNELS=burn|bn_act|all`,
//! default all: burn's ops, only the fused BatchNorm + activation, or every fast kernel, see
//! `ops::Kernels`).

use burn::tensor::Device;
use shiftaddaug::aug::AugNetConfig;
use shiftaddaug::engine::block_on;
use shiftaddaug::engine::profile::{markdown, profile_steps};
use shiftaddaug::nn::ConvKind;
use shiftaddaug::ops::Kernels;
use std::time::Instant;

fn main() {
    let conv: ConvKind = std::env::var("BENCH_CONV").unwrap_or_else(|_| "shift".into()).parse().expect("BENCH_CONV: mult, shift or add");
    let reps: usize = std::env::var("BENCH_REPS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let config = AugNetConfig::new([1, 32, 32], 10, conv);
    let kernels: Kernels =
        std::env::var("BENCH_KERNELS").unwrap_or_else(|_| "all".into()).parse().expect("BENCH_KERNELS: burn, bn_act or all");
    shiftaddaug::ops::set_kernels(kernels);
    let start = Instant::now();
    let clock = move || start.elapsed().as_secs_f64() * 1e3;
    let device = Device::flex().autodiff();
    println!(
        "MobileNetV2-Tiny 32×32, {conv:?}, batch 64, SGD, Flex CPU (native), {} threads, kernels {kernels:?}; median of {reps}",
        rayon::current_num_threads()
    );
    let profiles = block_on(profile_steps(&config, 64, reps, &device, &clock)).expect("profile");
    println!("{}", markdown(&profiles));
}
