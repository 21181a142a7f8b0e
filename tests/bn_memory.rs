//! BatchNorm re-estimation memory does not grow with the number of images (issue: 2 MB were
//! retained per image when it ran on the autodiff device). A counting global allocator gives
//! the peak heap of each call; its own test binary, so no other test allocates meanwhile.

use burn::tensor::Device;
use shiftaddaug::aug::{AugConfig, AugNetConfig, NetSpec};
use shiftaddaug::data::{FASHION_MNIST_DIR, Split, load_fashion_mnist};
use shiftaddaug::nn::ConvKind;
use shiftaddaug::train::{BnEstimator, reset_bn};
#[path = "util/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::{current, peak_of};

#[test]
fn bn_reestimation_peak_memory_does_not_grow_with_images() {
    let dir = std::path::Path::new(FASHION_MNIST_DIR);
    let data = load_fashion_mnist(dir, Split::Train).unwrap().slice(0, 2000);
    // MobileNetV2-Tiny, Add, with its default augmentation widths, as trained (autodiff device).
    let cfg = AugNetConfig { spec: NetSpec::mbv2_tiny(), aug: AugConfig::default(), ..AugNetConfig::new([1, 28, 28], 10, ConvKind::Add) };
    let device = Device::flex().autodiff();
    device.seed(0);
    let mut model = cfg.init(&device).unwrap();
    let batch = 250;
    // Warm-up: first-use allocations (thread pools, caches) are not per-image memory.
    model = reset_bn(model, &data, batch, batch).unwrap();
    // One batch's activations: the peak of a single re-estimation batch.
    let (_, one) = peak_of(|| {
        let mut e = BnEstimator::new(&model, &data, batch, batch).unwrap();
        e.step(&data).unwrap();
        e.finish(model.clone())
    });
    let before = current();
    let (m, peak_n) = peak_of(|| reset_bn(model.clone(), &data, 500, batch).unwrap());
    drop(m);
    let (m, peak_4n) = peak_of(|| reset_bn(model.clone(), &data, 2000, batch).unwrap());
    drop(m);
    let retained = current() as i64 - before as i64;
    eprintln!("BN re-estimation peak: one batch {one} B, 500 images {peak_n} B, 2000 images {peak_4n} B; retained after {retained} B");
    assert!(
        peak_4n < peak_n + one,
        "peak over 2000 images ({peak_4n} B) exceeds the peak over 500 ({peak_n} B) by one batch ({one} B) or more"
    );
    assert!(retained < one as i64, "{retained} B retained after the re-estimations");
}
