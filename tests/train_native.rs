//! Native training on real Fashion-MNIST (Debian's `dataset-fashion-mnist`): loss falls and
//! held-out test accuracy clears 0.7 for Shift and Add nets, on a subset sized for CI, and the
//! exported model scores what the training-time evaluation said.

use burn::tensor::Device;
use shiftaddaug::data::{Dataset, FASHION_MNIST_DIR, Split, load_fashion_mnist};
use shiftaddaug::engine::block_on;
use shiftaddaug::export::{Deployed, export_mfcnn, import};
use shiftaddaug::models::MfCnnConfig;
use shiftaddaug::nn::ConvKind;
use shiftaddaug::train::{BN_RESET_BATCH, TrainConfig, Trainer, evaluate, reset_bn};
use std::path::Path;

/// Held-out accuracy every tier must clear (issue: at least 0.7).
const MIN_ACCURACY: f32 = 0.7;

fn data() -> (Dataset, Dataset) {
    let dir = Path::new(FASHION_MNIST_DIR);
    let train = load_fashion_mnist(dir, Split::Train).expect("Fashion-MNIST (apt-get install dataset-fashion-mnist)");
    let test = load_fashion_mnist(dir, Split::Test).unwrap();
    assert_eq!((train.len(), test.len()), (60_000, 10_000));
    (train.slice(0, 4096), test.slice(0, 2000))
}

fn train_and_check(conv: ConvKind) {
    let (train, test) = data();
    let device = Device::flex();
    device.seed(1);
    let model = MfCnnConfig { conv, ..Default::default() }.init(&device.clone().autodiff()).unwrap();
    let cfg = TrainConfig { batch_size: 32, log_every: 1, seed: 1, ..Default::default() };
    let mut trainer = Trainer::new(model, 10, cfg).unwrap();
    let before = block_on(trainer.evaluate(&test)).unwrap();
    let mut losses = Vec::new();
    block_on(trainer.fit_epoch(&train, 0, &mut |m| {
        losses.push(m.loss);
        true
    }))
    .unwrap();
    let after = block_on(trainer.evaluate(&test)).unwrap();
    let first: f32 = losses[..10].iter().sum::<f32>() / 10.0;
    let last: f32 = losses[losses.len() - 10..].iter().sum::<f32>() / 10.0;
    println!("{conv:?}: test acc {:.3} -> {:.3}, train loss {first:.3} -> {last:.3}", before.accuracy, after.accuracy);
    assert!(last < 0.7 * first, "{conv:?}: loss did not fall enough: {first} -> {last}");
    assert!(after.accuracy >= MIN_ACCURACY, "{conv:?}: test accuracy {} < {MIN_ACCURACY}", after.accuracy);
    assert!(after.loss < before.loss);
    // predict() agrees with evaluate(): probabilities sum to 1, argmax accuracy equal.
    let n = 200;
    let probs = block_on(trainer.predict(&test.images[..n * 784], n)).unwrap();
    let mut correct = 0;
    for i in 0..n {
        let row = &probs[i * 10..(i + 1) * 10];
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        let arg = row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
        correct += (arg as u32 == test.labels[i]) as usize;
    }
    let sub = block_on(trainer.evaluate(&test.slice(0, n))).unwrap();
    assert!((sub.accuracy - correct as f32 / n as f32).abs() < 1e-6);
    // The training-time evaluation (BN re-estimated on a copy) is the accuracy of the model the
    // user gets: BN re-estimation, export, import (issue 16.3 and 16.6).
    let val = block_on(trainer.validate(&test, &train)).unwrap().accuracy;
    let model = reset_bn(trainer.into_model(), &train, 16_000, BN_RESET_BATCH).unwrap();
    let (json, bytes) = block_on(export_mfcnn(&model)).unwrap();
    let Deployed::Mfcnn(loaded) = import(&json, &bytes, &Device::flex()).unwrap() else {
        panic!("mfcnn export read back as another family")
    };
    let exported = block_on(evaluate(&loaded, 10, &test, 500)).unwrap().accuracy;
    println!("{conv:?}: running statistics {:.3}, validate {val:.3}, exported {exported:.3}", after.accuracy);
    assert!((val - exported).abs() < 0.02, "{conv:?}: training-time accuracy {val}, exported {exported}");
    assert!(exported >= MIN_ACCURACY, "{conv:?}: exported accuracy {exported}");
}

#[test]
fn shift_net_trains_on_fashion_mnist() {
    train_and_check(ConvKind::Shift);
}

#[test]
fn adder_net_trains_on_fashion_mnist() {
    train_and_check(ConvKind::Add);
}

#[test]
fn bad_inputs_are_typed_errors_and_leave_the_model_usable() {
    let device = Device::flex();
    let model = MfCnnConfig::default().init(&device.clone().autodiff()).unwrap();
    let mut t = Trainer::new(model, 10, TrainConfig::default()).unwrap();
    let e = block_on(t.train_batch(&[0.0; 783], &[1], true)).unwrap_err();
    assert_eq!(e.code(), "SHAPE_MISMATCH");
    let mut x = vec![0.0; 784];
    x[5] = f32::NAN;
    assert_eq!(block_on(t.train_batch(&x, &[1], true)).unwrap_err().code(), "NON_FINITE_INPUT");
    x[5] = f32::INFINITY;
    assert_eq!(block_on(t.predict(&x, 1)).unwrap_err().code(), "NON_FINITE_INPUT");
    assert_eq!(block_on(t.train_batch(&[0.0; 784], &[10], true)).unwrap_err().code(), "INVALID_DATASET");
    assert_eq!(block_on(t.predict(&[0.0; 784], 2)).unwrap_err().code(), "SHAPE_MISMATCH");
    // Still trains after the rejected calls.
    assert!(block_on(t.train_batch(&[0.5; 784 * 2], &[1, 2], true)).unwrap().unwrap().loss.is_finite());
    let bad = MfCnnConfig { widths: vec![8], ..Default::default() };
    assert_eq!(bad.init(&device).unwrap_err().code(), "INVALID_CONFIG");
    let zero = MfCnnConfig { input_shape: [1, 0, 28], ..Default::default() };
    assert!(zero.init(&device).unwrap_err().to_string().contains("zero dimension"));
}
