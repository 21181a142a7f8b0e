//! Layers: shift and adder convolutions and linear layers, and a conv slot that holds any of
//! Mult / Shift / Add.

mod adder_conv2d;
mod conv_slot;
mod linear;
mod shift_conv2d;
mod shift_weight;

pub use adder_conv2d::{AdderConv2d, AdderConv2dConfig};
pub use conv_slot::{ConvKind, ConvSlot, ConvSlotConfig};
pub use linear::{AdderLinear, AdderLinearConfig, ShiftLinear, ShiftLinearConfig};
pub use shift_conv2d::{ShiftConv2d, ShiftConv2dConfig};
pub use shift_weight::{ShiftMode, ShiftWeight};
