//! Helpers shared by the native test binaries (`aug`, `remap`, `checkpoint`, `adder_conformance`,
//! `nn_layers`).
#![allow(dead_code)]

use burn::tensor::Tensor;
use shiftaddaug::data::Rng;
use shiftaddaug::engine::block_on;

/// The values of `t`, row-major.
pub fn read<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    block_on(t.into_data_async()).unwrap().try_into_vec_as::<f32>().unwrap()
}

/// Standard normal samples (Box–Muller on SplitMix64).
pub fn gaussian(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let mut u = || ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    (0..n).map(|_| ((-2.0 * u().ln()).sqrt() * (2.0 * std::f64::consts::PI * u()).cos()) as f32).collect()
}
