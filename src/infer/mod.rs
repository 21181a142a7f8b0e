//! Inference of deployed multiplication-free models (issue 13), without burn:
//! - [`format`](mod@format) reads an export (docs/FORMAT.md) into a layer graph;
//! - [`float`] runs it in f32 (the reference the integer engine is calibrated on);
//! - [`int`] quantises it to 16-bit fixed point and runs it with shifts and additions in the
//!   Shift and Add layers, on the kernels of [`kernels`] and [`requant`], written once over the
//!   vectors of [`lanes`] (SIMD128, SSE2, scalar) and checked against their definition by
//!   [`conformance`];
//!   Its dense layers, squeeze-and-excitation and h-swish are in `dense`;
//! - [`shiftmax`] turns integer logits into probabilities with integers only;
//! - [`timing`] times its layers for the latency table.

pub mod conformance;
mod dense;
pub mod float;
pub mod format;
pub mod int;
pub mod kernels;
pub mod lanes;
pub mod requant;
pub mod shiftmax;
pub mod timing;
