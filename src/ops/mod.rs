//! Operators of multiplication-free networks: reference implementations built from burn
//! tensor ops (autodiff for free), the oracles every fast kernel is tested against, and the
//! fused kernels ([`fused`]).

mod adder;
pub mod bn_act;
pub mod conv;
pub mod fused;
pub mod pot;
mod shift;

pub use adder::{ADDER_CHUNK_ELEMS, Conv2dGeometry, adaptive_grad_scale, adder_conv2d, adder_conv2d_reference, adder_linear};
pub use shift::{
    SHIFT_BITS_RANGE, min_exponent, pot_exponent, pot_quantize, pot_quantize_reference, ps_min_exponent, ps_weight, round_to_fixed,
};
