//! Layers: shift and adder convolutions, and a conv slot that holds any of Mult / Shift / Add.

mod adder_conv2d;
mod conv_slot;
mod shift_conv2d;

pub use adder_conv2d::{AdderConv2d, AdderConv2dConfig};
pub use conv_slot::{ConvKind, ConvSlot, ConvSlotConfig};
pub use shift_conv2d::{ShiftConv2d, ShiftConv2dConfig};
