//! The fused BatchNorm + activation (`ops::bn_act`) natively: the conformance table
//! (`tests/conformance/bn_act.rs`) on the CPU kernels, with and without rayon's threads.

mod conformance;

use shiftaddaug::engine::{block_on, cpu_device};

#[test]
fn fused_bn_act_matches_burn_on_the_cpu() {
    let failures = block_on(conformance::bn_act::check(&cpu_device().autodiff(), "native"));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn fused_bn_act_matches_burn_on_one_thread() {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let failures = pool.install(|| block_on(conformance::bn_act::check(&cpu_device().autodiff(), "native, 1 thread")));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
