//! The fused power-of-two quantisation (`ops::pot`) natively: the conformance table
//! (`tests/conformance/pot.rs`), bit for bit against the tensor-op reference.

mod conformance;

use shiftaddaug::engine::{block_on, cpu_device};

#[test]
fn fused_pot_quantize_matches_the_reference_bit_for_bit() {
    let failures = block_on(conformance::pot::check(&cpu_device().autodiff(), "native", true));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
