//! Shared by the wasm test tiers: real Fashion-MNIST bytes embedded at compile time from
//! Debian's `dataset-fashion-mnist`, and one training run that returns what the tests assert.
#![allow(dead_code)]

use burn::tensor::Device;
use shiftaddaug::data::{Dataset, IdxArray, parse_idx};
use shiftaddaug::models::MfCnnConfig;
use shiftaddaug::nn::ConvKind;
use shiftaddaug::train::{TrainConfig, Trainer};

pub static TRAIN_IMAGES: &[u8] = include_bytes!("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz");
pub static TRAIN_LABELS: &[u8] = include_bytes!("/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz");
pub static TEST_IMAGES: &[u8] = include_bytes!("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz");
pub static TEST_LABELS: &[u8] = include_bytes!("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz");

/// Held-out accuracy every tier must clear.
pub const MIN_ACCURACY: f32 = 0.7;

fn first(images: &IdxArray, labels: &IdxArray, n: usize) -> Dataset {
    let per = images.dims[1] * images.dims[2];
    let im = IdxArray { dims: vec![n, images.dims[1], images.dims[2]], data: images.data[..n * per].to_vec() };
    let lb = IdxArray { dims: vec![n], data: labels.data[..n].to_vec() };
    Dataset::from_idx(&im, &lb, 10).unwrap()
}

/// The first `n_train` training and `n_test` test images.
pub fn fashion(n_train: usize, n_test: usize) -> (Dataset, Dataset) {
    let (ti, tl) = (parse_idx(TRAIN_IMAGES).unwrap(), parse_idx(TRAIN_LABELS).unwrap());
    let (vi, vl) = (parse_idx(TEST_IMAGES).unwrap(), parse_idx(TEST_LABELS).unwrap());
    assert_eq!((ti.dims[0], vi.dims[0]), (60_000, 10_000));
    (first(&ti, &tl, n_train), first(&vi, &vl, n_test))
}

/// Outcome of [`train_run`].
#[derive(Debug)]
pub struct Run {
    pub first_loss: f32,
    pub last_loss: f32,
    pub test_accuracy: f32,
}

/// One epoch of `trainer` over `train`; the loss of every batch read back.
pub async fn epoch_losses<M: shiftaddaug::train::ImageClassifier>(trainer: &mut Trainer<M>, train: &Dataset) -> Vec<f32> {
    let mut losses = Vec::new();
    trainer
        .fit_epoch(train, 0, &mut |m| {
            losses.push(m.loss);
            true
        })
        .await
        .unwrap();
    losses
}

/// Trains `conv` for one pass over `n_train` images, then evaluates on `n_test` held-out images.
pub async fn train_run(device: Device, conv: ConvKind, n_train: usize, n_test: usize, batch: usize) -> Run {
    let (train, test) = fashion(n_train, n_test);
    device.seed(1);
    let model = MfCnnConfig { conv, ..Default::default() }.init(&device.clone().autodiff()).unwrap();
    let cfg = TrainConfig { batch_size: batch, log_every: 1, seed: 1, ..Default::default() };
    let mut trainer = Trainer::new(model, 10, cfg).unwrap();
    let losses = epoch_losses(&mut trainer, &train).await;
    let eval = trainer.evaluate(&test).await.unwrap();
    let k = (losses.len() / 5).max(1);
    let mean = |s: &[f32]| s.iter().sum::<f32>() / s.len() as f32;
    Run { first_loss: mean(&losses[..k]), last_loss: mean(&losses[losses.len() - k..]), test_accuracy: eval.accuracy }
}

/// The assertions every tier makes.
pub fn check(name: &str, r: &Run) {
    assert!(r.last_loss < 0.7 * r.first_loss, "{name}: loss did not fall: {r:?}");
    assert!(r.test_accuracy >= MIN_ACCURACY, "{name}: held-out accuracy below {MIN_ACCURACY}: {r:?}");
}

/// The integer engine's kernels on every instruction set of this build (scalar and SIMD128 in
/// the wasm tiers) give the per-output reference's bits (`infer::conformance::conformance`).
pub fn integer_kernels_conform() {
    use shiftaddaug::infer::{conformance::conformance, kernels::Isa};
    assert_eq!(Isa::available().iter().map(|i| i.name()).collect::<Vec<_>>(), ["scalar", "simd128"]);
    assert_eq!(Isa::best().name(), "simd128");
    for isa in Isa::available() {
        let n = conformance(isa, 23, 200).unwrap_or_else(|e| panic!("{e}"));
        assert!(n > 30_000, "{}: only {n} outputs compared", isa.name());
    }
}
