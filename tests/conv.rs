//! The fast convolution paths (`ops::conv`) natively: the conformance table
//! (`tests/conformance/conv.rs`) on the CPU kernels, with and without rayon's threads, and
//! burn's path when the fast paths are off.

mod conformance;

use shiftaddaug::engine::{block_on, cpu_device};

#[test]
fn fast_convs_match_burn_on_the_cpu() {
    let failures = block_on(conformance::conv::check(&cpu_device().autodiff(), "native", true));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn fast_convs_match_burn_on_one_thread() {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let failures = pool.install(|| block_on(conformance::conv::check(&cpu_device().autodiff(), "native, 1 thread", true)));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
