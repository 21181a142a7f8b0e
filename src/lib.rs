//! # shiftaddaug
//!
//! Multiplication-free tiny CNNs — convolutions with power-of-two weights (bit-shifts,
//! DeepShift) or adder convolutions (`-Σ|x - w|`, AdderNet) — trained natively and in the
//! browser (WebGPU or the wasm CPU path) with burn.
//!
//! ```
//! use shiftaddaug::ops::{min_exponent, pot_quantize};
//! use burn::tensor::{Device, Tensor};
//!
//! let device = Device::flex();
//! let w = Tensor::<1>::from_floats([0.3, -0.7, 3.0], &device);
//! let q = shiftaddaug::engine::block_on(pot_quantize(w, min_exponent(5)?).into_data_async()).unwrap();
//! assert_eq!(q.try_into_vec_as::<f32>().unwrap(), vec![0.25, -0.5, 1.0]);
//! # Ok::<(), shiftaddaug::Error>(())
//! ```
//!
//! Modules: [`ops`] (operators and fused kernels), [`nn`] (layers), [`models`], [`aug`]
//! (ShiftAddAug supernet), [`data`], [`train`]
//! (async training loop), [`engine`] (devices), [`export`] (deployed models), [`infer`]
//! (integer inference: Shiftmax), [`nas`] (architecture search). The `web` module (wasm only) holds every
//! `#[wasm_bindgen]` item.
#![warn(missing_docs)]

#[cfg(feature = "train")]
pub mod aug;
pub mod cost;
pub mod data;
#[cfg(feature = "train")]
pub mod engine;
mod error;
#[cfg(feature = "train")]
pub mod export;
pub mod infer;
#[cfg(feature = "train")]
pub mod models;
#[cfg(feature = "train")]
pub mod nas;
#[cfg(feature = "train")]
pub mod nn;
#[cfg(feature = "train")]
pub mod ops;
mod par;
#[cfg(feature = "train")]
pub mod train;
#[cfg(target_family = "wasm")]
pub mod web;

pub use error::{Error, Result};
