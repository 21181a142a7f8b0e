//! Layers: shift and adder convolutions and linear layers, and a conv slot that holds any of
//! Mult / Shift / Add.

mod adder_conv2d;
mod batch_norm;
mod conv_slot;
mod linear;
mod shift_conv2d;
mod shift_weight;

pub use adder_conv2d::{AdderConv2d, AdderConv2dConfig};
pub use batch_norm::{BnMode, DEFAULT_MOMENTUM, DynBn};
pub use conv_slot::{ConvKind, ConvSlot, ConvSlotConfig};
pub use linear::{AdderLinear, AdderLinearConfig, ShiftLinear, ShiftLinearConfig};
pub use shift_conv2d::{ShiftConv2d, ShiftConv2dConfig};
pub use shift_weight::{ShiftMode, ShiftWeight};

use burn::module::Param;
use burn::tensor::{Int, Tensor};

/// `p` with its entries along `dim` reordered by `perm` (same parameter id, so the optimiser
/// keeps its state; NetAug does the same, momenta are not permuted).
pub fn permute_param<const D: usize>(p: Param<Tensor<D>>, dim: usize, perm: Tensor<1, Int>) -> Param<Tensor<D>> {
    p.map(|t| {
        let rg = t.is_require_grad();
        let t = t.select(dim, perm).detach();
        if rg { t.require_grad() } else { t }
    })
}
