//! Deep adder nets: the adder weight scale that keeps MobileNetV2-Tiny's features from collapsing,
//! the gradient scaling through that gain, and direct Add training of the full net with Adam,
//! on real Fashion-MNIST.

use burn::tensor::{Device, Tensor, TensorData};
use shiftaddaug::aug::dyn_layers::{ConvRun, DynConv, adder_gain};
use shiftaddaug::aug::{AugConfig, AugNetConfig, Pass, RemapKind};
use shiftaddaug::data::{FASHION_MNIST_DIR, Split, load_fashion_mnist};
use shiftaddaug::engine::block_on;
use shiftaddaug::nn::ConvKind;
use shiftaddaug::train::{TrainConfig, Trainer};

fn images(n: usize) -> (Vec<f32>, Vec<u32>) {
    let ds = load_fashion_mnist(std::path::Path::new(FASHION_MNIST_DIR), Split::Train).unwrap().slice(0, n).pad_to(32);
    ds.gather(&(0..n).collect::<Vec<_>>())
}

fn direct_add(adder_std: Option<f32>) -> AugNetConfig {
    AugNetConfig { aug: AugConfig::direct(), adder_std, ..AugNetConfig::new([1, 32, 32], 10, ConvKind::Add) }
}

/// Mean |correlation| between the first 64 pooled feature channels over `n` images.
fn channel_correlation(cfg: &AugNetConfig, n: usize) -> f32 {
    let device = Device::flex().autodiff();
    let net = cfg.init(&device).unwrap();
    let (img, _) = images(n);
    let x = Tensor::<4>::from_data(TensorData::new(img, [n, 1, 32, 32]), &device);
    let f = net.features(x, &cfg.tiny_arch(), Pass::Tiny).unwrap().detach();
    let c = f.dims()[1].min(64);
    let f = f.narrow(1, 0, c);
    let z = f.clone().sub(f.clone().mean_dim(0)).div(f.var(0).sqrt().add_scalar(1e-6));
    let corr = z.clone().transpose().matmul(z).div_scalar(n as f32);
    let v: Vec<f32> = corr.into_data().try_to_vec::<f32>().unwrap();
    let off: Vec<f32> =
        (0..c).flat_map(|a| (0..c).filter(move |&b| b != a).map(move |b| (a, b))).map(|(a, b)| v[a * c + b].abs()).collect();
    off.iter().sum::<f32>() / off.len() as f32
}

#[test]
fn deep_adder_features_decorrelate_at_the_default_weight_scale() {
    // 50 adder layers at random init; Mult nets measure about 0.15 here.
    let small = channel_correlation(&direct_add(Some(0.3)), 256);
    let default = channel_correlation(&direct_add(AugNetConfig::new([1, 32, 32], 10, ConvKind::Add).adder_std), 256);
    eprintln!("mean |corr| of pooled channels: adder std 0.3 → {small:.3}, default → {default:.3}");
    assert!(small > 0.9, "small adder weights should collapse the features (|corr| {small})");
    assert!(default < 0.3, "default adder weights should keep channels apart (|corr| {default})");
}

#[test]
fn adder_gain_scales_weights_and_bank_gradient() {
    let device = Device::flex().autodiff();
    let (cin, cout, k, std) = (12usize, 20usize, 3usize, 10.0f32);
    let conv = DynConv::new(ConvKind::Add, [cin, cout], k, 1, false, RemapKind::R0, Some(std), 3, &device);
    let g = adder_gain(cin * k * k, std);
    assert_eq!(conv.adder_gain, g);
    // The consumed weight is gain × bank, so its std at init is `std` (kaiming-uniform bank).
    let bank = conv.weight.val();
    let mf = conv.mf_weight(bank.clone());
    let diff = (mf.clone() - bank.clone().mul_scalar(g)).abs().max().into_scalar::<f32>();
    assert!(diff < 1e-4, "mf weight is not gain × bank ({diff})");
    let sd = mf.clone().detach().var(0).mean().sqrt().into_scalar::<f32>();
    assert!((sd - std).abs() < 0.15 * std, "adder weight std {sd}, want about {std}");
    // Bank gradient norm: η·std·√k / gain (AdderNet's η relative to the bank scale std / gain).
    let x = Tensor::<4>::random([2, cin, 5, 5], burn::tensor::Distribution::Normal(0.0, 1.0), &device);
    let loss = conv.forward(x, ConvRun { t: [cin, cout], a: [cin, cout], kernel: 3, op: ConvKind::Add }, Pass::Tiny).square().mean();
    let grads = loss.backward();
    let gn = conv.weight.grad(&grads).unwrap().square().sum().sqrt().into_scalar::<f32>();
    let numel = (cin * cout * k * k) as f32;
    let want = 0.2 * std * numel.sqrt() / g;
    assert!((gn - want).abs() < 1e-3 * want, "bank gradient norm {gn}, want {want}");
}

#[test]
fn direct_add_mobilenet_v2_tiny_learns_with_adam() {
    let cfg = direct_add(AugNetConfig::new([1, 32, 32], 10, ConvKind::Add).adder_std);
    let device = Device::flex().autodiff();
    let net = cfg.init(&device).unwrap();
    let tc = TrainConfig { batch_size: 64, learning_rate: 0.01, label_smoothing: 0.0, log_every: 1, ..TrainConfig::default() };
    let mut trainer = Trainer::new(net, 10, tc).unwrap();
    let n = 1024;
    let (img, lab) = images(n);
    let mut losses = Vec::new();
    for step in 0..40 {
        let lo = (step * 64) % n;
        let m = block_on(trainer.train_batch(&img[lo * 1024..(lo + 64) * 1024], &lab[lo..lo + 64], true)).unwrap().unwrap();
        losses.push(m.loss);
    }
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
    let (first, last) = (mean(&losses[..5]), mean(&losses[35..]));
    eprintln!("direct Add MobileNetV2-Tiny, Adam 0.01: loss {first:.3} → {last:.3}");
    assert!(last < first - 0.4, "the 50-adder net should learn: loss {first} → {last}");
}
