//! Operators of multiplication-free networks: reference implementations built from burn
//! tensor ops (autodiff for free), the oracles every fast kernel is tested against, and the
//! fast CPU kernels: the fused adder ([`fused`]), BatchNorm + activation ([`bn_act`]), the
//! depthwise and pointwise convolutions ([`conv`]), the power-of-two rounding ([`pot`]) and the
//! optimiser's updates ([`step`]).

mod adder;
pub mod bn_act;
pub mod conv;
pub mod fused;
pub mod pot;
mod shift;
pub mod step;

pub use adder::{ADDER_CHUNK_ELEMS, Conv2dGeometry, adaptive_grad_scale, adder_conv2d, adder_conv2d_reference, adder_linear};
pub use shift::{
    SHIFT_BITS_RANGE, min_exponent, pot_exponent, pot_quantize, pot_quantize_reference, ps_min_exponent, ps_weight, round_to_fixed,
};

/// Which fast CPU kernels run, process-wide, so that a benchmark can compare them with burn's
/// ops in one run. The fused adder is not switched (its reference is a different algorithm,
/// compared in `benches/ops.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernels {
    /// burn's ops everywhere.
    Burn,
    /// Only the fused BatchNorm + activation ([`bn_act`]).
    BnAct,
    /// Every fast kernel (the default).
    All,
}

impl std::str::FromStr for Kernels {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s {
            "burn" => Ok(Self::Burn),
            "bn_act" => Ok(Self::BnAct),
            "all" => Ok(Self::All),
            _ => Err(crate::Error::Config(format!("unknown kernels {s:?}; valid: 'burn', 'bn_act', 'all'"))),
        }
    }
}

/// Turns the fast kernels on or off (see [`Kernels`]).
pub fn set_kernels(k: Kernels) {
    bn_act::set_fused(k != Kernels::Burn);
    conv::set_fast(k == Kernels::All);
    pot::set_fused(k == Kernels::All);
    step::set_fused(k == Kernels::All);
}
