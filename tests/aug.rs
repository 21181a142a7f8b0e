//! ShiftAddAug: the supernet's slicing, sampling, sorting (a pure permutation), the hybrid pass
//! at factor 1, export, BN reset, config errors, and a short augmented training run on real
//! Fashion-MNIST. The remaps are tested in `tests/remap.rs`.

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use shiftaddaug::aug::remap::RemapKind;
use shiftaddaug::aug::{AugConfig, AugMode, AugNet, AugNetConfig, NetSpec, Pass, make_divisible};
use shiftaddaug::engine::block_on;
use shiftaddaug::models::{Act, BlockSpec};
use shiftaddaug::nn::ConvKind;
use shiftaddaug::train::reset_bn;
use shiftaddaug::train::{ImageClassifier, TrainConfig, Trainer};

mod util;
use util::{gaussian, read};

/// A small MBConv spec so the supernet tests run in seconds.
fn small_spec() -> NetSpec {
    let b = BlockSpec::new;
    NetSpec::plain(8, 8, vec![b(3, 2, 8, 16, 8), b(3, 1, 8, 16, 8), b(3, 2, 8, 24, 16)], Some(32))
}

/// A small MobileNetV3-style spec: h-swish stem and head, DS shortcut, SE blocks, final conv.
fn v3_spec() -> NetSpec {
    let b = BlockSpec::new;
    NetSpec {
        stem_act: Act::Hswish,
        ds_act: Act::Relu,
        ds_shortcut: true,
        final_conv: Some(24),
        ..NetSpec::plain(
            8,
            8,
            vec![
                b(3, 2, 8, 16, 8).with(Act::Relu, true),
                b(5, 1, 8, 16, 8).with(Act::Hswish, true),
                b(3, 2, 8, 24, 16).with(Act::Hswish, false),
            ],
            Some(32),
        )
    }
}

fn small(conv: ConvKind, aug: AugConfig) -> AugNetConfig {
    AugNetConfig { spec: small_spec(), aug, ..AugNetConfig::new([1, 16, 16], 10, conv) }
}

/// `small` with each test spec.
fn small_specs(conv: ConvKind, aug: AugConfig) -> [AugNetConfig; 2] {
    [small(conv, aug.clone()), AugNetConfig { spec: v3_spec(), ..small(conv, aug) }]
}

fn images(n: usize, seed: u64, device: &Device) -> Tensor<4> {
    let v: Vec<f32> = gaussian(n * 256, seed);
    Tensor::from_data(TensorData::new(v, [n, 1, 16, 16]), device)
}

#[test]
fn make_divisible_matches_netaug() {
    assert_eq!([make_divisible(16.0 * 1.8), make_divisible(8.0 * 2.6), make_divisible(48.0 * 2.8), make_divisible(3.0)], [32, 24, 136, 8]);
}

#[test]
fn tiny_slice_has_the_base_architecture_parameter_count() {
    // The tiny slices of the default (augmented) MobileNetV2-Tiny supernet at 144×144 / 1000
    // classes count exactly the static model's 750 280 learnable parameters (tests/model_zoo.rs).
    let cfg = AugNetConfig { stem_stride: 2, ..AugNetConfig::new([3, 144, 144], 1000, ConvKind::Shift) };
    let net = cfg.init(&Device::flex()).unwrap();
    assert_eq!(net.tiny_param_count(), 750_280);
    let max = cfg.max_arch();
    assert_eq!((max.stem, max.ds, max.head), (make_divisible(16.0 * 2.6), make_divisible(8.0 * 2.6), make_divisible(448.0 * 2.6)));
    assert_eq!(net.stem.conv.weight.dims(), [max.stem, 3, 3, 3]);
    // An MF classifier replaces the 1 000 biases by BN scale and shift (2 × 1 000); an MF stem
    // has the same count as the Mult one.
    let mf = AugNetConfig { stem_conv: ConvKind::Add, classifier: ConvKind::Shift, ..cfg };
    assert_eq!(mf.init(&Device::flex()).unwrap().tiny_param_count(), 750_280 + 1_000);
}

#[test]
fn sampling_is_seeded_and_respects_lists_and_shortcuts() {
    let cfg = AugNetConfig::new([1, 32, 32], 10, ConvKind::Shift);
    let (a, b) = (cfg.sample_arch(17, true), cfg.sample_arch(17, true));
    assert_eq!(a, b, "same step, same arch");
    let differs = (0..20).any(|s| cfg.sample_arch(s, true) != a);
    assert!(differs, "different steps sample different archs");
    let tiny = cfg.tiny_arch();
    let max = cfg.max_arch();
    for step in 0..50 {
        let a = cfg.sample_arch(step, true);
        let mut cur = a.ds;
        for ((blk, w), m) in cfg.spec.blocks.iter().zip(&a.blocks).zip(&max.blocks) {
            if blk.stride == 1 && blk.channels[0] == blk.channels[2] {
                assert_eq!(w[1], cur, "shortcut blocks keep out = in");
            }
            assert!(w[0] <= m[0] && w[1] <= m[1]);
            cur = w[1];
        }
        assert!([16, 32, 40].contains(&a.stem), "stem width {} from 16 × [1, 1.8, 2.6]", a.stem);
        let frozen = cfg.sample_arch(step, false);
        assert_eq!((frozen.stem, frozen.ds, frozen.head), (tiny.stem, tiny.ds, tiny.head), "after stopWidthAug widths are tiny");
        assert!(frozen.blocks.iter().zip(&tiny.blocks).all(|(f, t)| f[1] == t[1] && f[0] >= t[0]), "only expand factors vary");
    }
}

#[test]
fn augmented_pass_at_factor_one_equals_tiny_pass_in_h1_and_h2() {
    let device = Device::flex();
    let mf_ends = |c: AugNetConfig| AugNetConfig { stem_conv: c.conv, classifier: c.conv, ..c };
    for cfg in [ConvKind::Shift, ConvKind::Add]
        .into_iter()
        .flat_map(|conv| small_specs(conv, AugConfig::default()))
        .flat_map(|c| [c.clone(), mf_ends(c)])
    {
        let conv = cfg.conv;
        let net = cfg.init(&device).unwrap();
        let x = images(3, 9, &device);
        let tiny = read(net.forward(x.clone(), &cfg.tiny_arch(), Pass::Tiny).unwrap());
        for mode in [AugMode::H1, AugMode::H2] {
            let aug = read(net.forward(x.clone(), &cfg.tiny_arch(), Pass::Aug(mode)).unwrap());
            assert_eq!(aug, tiny, "{conv:?} {mode:?}");
        }
        // A wider pass has different logits (augmented channels contribute).
        let wide = read(net.forward(x, &cfg.max_arch(), Pass::Aug(AugMode::H1)).unwrap());
        assert_ne!(wide, tiny);
    }
}

#[test]
fn channel_sorting_is_a_pure_permutation() {
    let device = Device::flex();
    for cfg in small_specs(ConvKind::Shift, AugConfig::default()) {
        let net = cfg.init(&device).unwrap();
        let x = images(2, 4, &device);
        let max = cfg.max_arch();
        let wide_before = read(net.forward(x.clone(), &max, Pass::Aug(AugMode::B)).unwrap());
        let tiny_before = read(net.forward(x.clone(), &cfg.tiny_arch(), Pass::Tiny).unwrap());
        let mut expand_before: Vec<f32> = read(net.blocks[0].expand.conv.weight.val());
        let sorted = net.sort_channels();
        let wide_after = read(sorted.forward(x.clone(), &max, Pass::Aug(AugMode::B)).unwrap());
        let tiny_after = read(sorted.forward(x, &cfg.tiny_arch(), Pass::Tiny).unwrap());
        for (a, b) in wide_after.iter().zip(&wide_before) {
            assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "widest model unchanged: {a} vs {b}");
        }
        assert_ne!(tiny_after, tiny_before, "the tiny model now owns other middle channels");
        let mut expand_after = read(sorted.blocks[0].expand.conv.weight.val());
        expand_before.sort_by(f32::total_cmp);
        expand_after.sort_by(f32::total_cmp);
        assert_eq!(expand_after, expand_before, "same multiset of weights");
        let imp: Vec<f32> = {
            let w = read(sorted.blocks[0].project.conv.weight.val());
            let [o, m, _, _] = sorted.blocks[0].project.conv.weight.dims();
            (0..m).map(|c| (0..o).map(|r| w[r * m + c].abs()).sum()).collect()
        };
        assert!(imp.windows(2).all(|p| p[0] >= p[1]), "importance is descending after sorting");
    }
}

#[test]
fn export_reproduces_the_tiny_pass() {
    let device = Device::flex();
    for (conv, exact) in [(ConvKind::Shift, true), (ConvKind::Add, false)] {
        for (remap, cfg) in [RemapKind::R1, RemapKind::R2, RemapKind::R4]
            .into_iter()
            .flat_map(|remap| small_specs(conv, AugConfig { remap, ..AugConfig::default() }).map(|c| (remap, c)))
        {
            let net = cfg.init(&device).unwrap();
            let x = images(3, 11, &device);
            let want = read(net.logits(x.clone()).unwrap());
            let exported = net.export_tiny();
            assert_eq!(exported.config.max_arch(), cfg.tiny_arch(), "static widths");
            assert_eq!(exported.tiny_param_count(), net.tiny_param_count());
            let got = read(exported.logits(x).unwrap());
            if exact {
                assert_eq!(got, want, "{conv:?} {remap:?}: bit-for-bit");
            } else {
                for (a, b) in got.iter().zip(&want) {
                    assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{conv:?} {remap:?}: {a} vs {b}");
                }
            }
        }
    }
}

#[test]
fn bad_aug_configs_name_the_valid_choices() {
    let device = Device::flex();
    let err = |aug: AugConfig| small(ConvKind::Shift, aug).init(&device).unwrap_err().to_string();
    assert!(err(AugConfig { width_list: vec![], ..AugConfig::default() }).contains("widthList is empty"));
    assert!(err(AugConfig { expand_list: vec![1.0, 0.5], ..AugConfig::default() }).contains(">= 1"));
    assert!(err(AugConfig { width_list: vec![1.5, 2.0], ..AugConfig::default() }).contains("lacks 1.0"));
    assert!(err(AugConfig { alpha: -1.0, ..AugConfig::default() }).contains("alpha"));
    assert!(err(AugConfig { subnets: 9, ..AugConfig::default() }).contains("subnets = 9; must be in [0, 8]"));
    assert!(err(AugConfig { subnets: 1, ..AugConfig::direct() }).contains("subnets = 1 trains sub-networks with the supernet"));
    assert!(err(AugConfig { subnet_shrink: vec![0.5, 1.0], ..AugConfig::default() }).contains("subnetShrink has factor 1"));
    assert!(err(AugConfig { subnet_alpha: f32::NAN, ..AugConfig::default() }).contains("subnetAlpha"));
    assert!(
        err(AugConfig { subnet_kernels: vec![3, 9], ..AugConfig::default() }).contains("subnetKernels has kernel size 9; valid: [3, 5, 7]")
    );
    assert!(
        err(AugConfig { subnet_ops: vec![ConvKind::Add, ConvKind::Mult], ..AugConfig::default() }).contains("has mult; valid: shift, add")
    );
    assert!("h3".parse::<AugMode>().unwrap_err().to_string().contains("h1, h2, b, mf-only"));
    assert!("R9".parse::<RemapKind>().unwrap_err().to_string().contains("R0, R1, R2, R3, R4"));
    let e = AugNetConfig { input_shape: [1, 2, 2], ..small(ConvKind::Add, AugConfig::default()) }.init(&device).unwrap_err();
    assert!(e.to_string().contains("total stride"), "{e}");
}

/// Augmented training through the ordinary trainer on real data (plumbing, not the accuracy
/// claim, which is BENCHMARKS.md's table): the augmented Shift net of a small spec learns (the
/// training loss of the tiny pass falls by at least 0.15 between the first and the last 8
/// steps), and so does the Add net; BN reset and export keep the model working and agree on
/// held-out accuracy, and the training-time evaluation (`Trainer::validate`) agrees with the
/// exported model within 2 pt.
#[test]
fn augmented_training_learns_on_fashion_mnist() {
    let dir = std::path::Path::new(shiftaddaug::data::FASHION_MNIST_DIR);
    let train = shiftaddaug::data::load_fashion_mnist(dir, shiftaddaug::data::Split::Train).unwrap().slice(0, 1024);
    let test = shiftaddaug::data::load_fashion_mnist(dir, shiftaddaug::data::Split::Test).unwrap().slice(0, 1000);
    let device = Device::flex().autodiff();
    // The third run is all-Add but for the depthwise-free parts: Add stem and Add classifier too.
    for (conv, ends) in [(ConvKind::Shift, ConvKind::Mult), (ConvKind::Add, ConvKind::Mult), (ConvKind::Add, ConvKind::Add)] {
        let cfg = AugNetConfig { spec: small_spec(), stem_conv: ends, classifier: ends, ..AugNetConfig::new([1, 28, 28], 10, conv) };
        let net: AugNet = cfg.init(&device).unwrap();
        let tc = TrainConfig { batch_size: 32, total_steps: Some(64), log_every: 1, label_smoothing: 0.0, ..TrainConfig::default() };
        let mut trainer = Trainer::new(net, 10, tc).unwrap();
        let mut losses = Vec::new();
        for epoch in 0..2 {
            block_on(trainer.fit_epoch(&train, epoch, &mut |m| {
                losses.push(m.loss);
                true
            }))
            .unwrap();
        }
        let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
        let (first, last) = (mean(&losses[..8]), mean(&losses[losses.len() - 8..]));
        // Training-time evaluation (BN re-estimated on a copy) against the running statistics.
        let running = block_on(shiftaddaug::train::evaluate(trainer.model(), 10, &test, 500)).unwrap().accuracy;
        let val = block_on(trainer.validate(&test, &train)).unwrap().accuracy;
        let net = reset_bn(trainer.into_model(), &train, 1024, 128).unwrap();
        let acc = block_on(shiftaddaug::train::evaluate(&net, 10, &test, 500)).unwrap().accuracy;
        let exported = net.export_tiny();
        let acc_export = block_on(shiftaddaug::train::evaluate(&exported, 10, &test, 500)).unwrap().accuracy;
        eprintln!(
            "{conv:?} (stem / classifier {ends:?}): tiny-pass loss {first:.3} → {last:.3}; test accuracy {acc}, exported {acc_export}; during training: validate {val}, running statistics {running}"
        );
        assert!(losses.iter().all(|l| l.is_finite()), "{conv:?}: losses {losses:?}");
        assert!(last < first - 0.15 && acc > 0.15, "{conv:?}: loss {first} → {last}, accuracy {acc}");
        assert!((acc - acc_export).abs() < 0.01, "{conv:?}: accuracy {acc}, export {acc_export}");
        assert!((val - acc_export).abs() < 0.02, "{conv:?}: training-time accuracy {val}, exported {acc_export}");
    }
}

#[test]
fn dyn_bn_updates_running_statistics_of_the_active_slice_only() {
    use shiftaddaug::nn::DynBn;
    let device = Device::flex().autodiff();
    let bn = DynBn::new(4, &device);
    // 2 active channels with means 3 and -1 and variance 1 (values m ± 1).
    let v = vec![4.0f32, 2.0, 4.0, 2.0, 0.0, -2.0, 0.0, -2.0];
    let x = Tensor::<4>::from_data(TensorData::new(v, [1, 2, 2, 2]), &device);
    let _ = bn.forward(x.clone());
    let mean = read(bn.running_mean.value_sync());
    let var = read(bn.running_var.value_sync());
    assert!((mean[0] - 0.3).abs() < 1e-6 && (mean[1] + 0.1).abs() < 1e-6 && mean[2] == 0.0 && mean[3] == 0.0, "{mean:?}");
    assert!(var[2] == 1.0 && var[3] == 1.0, "inactive channels untouched: {var:?}");
    // A second pass accumulates; eval mode (no autodiff) normalises with the running values.
    let _ = bn.forward(x);
    let mean = read(bn.running_mean.value_sync());
    assert!((mean[0] - (0.9 * 0.3 + 0.3)).abs() < 1e-5, "{mean:?}");
    let valid = bn.valid();
    let y = read(valid.forward(Tensor::<4>::from_data(TensorData::new(vec![0.57f32; 4], [1, 1, 2, 2]), &Device::flex())));
    let expect = (0.57 - mean[0]) / (read(bn.running_var.value_sync())[0] + 1e-5).sqrt();
    assert!((y[0] - expect).abs() < 1e-5, "{y:?} vs {expect}");
}

#[test]
fn export_files_round_trip_and_reproduce_the_tiny_pass() {
    use shiftaddaug::export::{Deployed, export_supernet as export, import};
    let import = |j: &str, b: &[u8], d: &Device| match import(j, b, d) {
        Ok(Deployed::Supernet(n)) => Ok(n),
        Ok(other) => panic!("a supernet export read back as {other:?}"),
        Err(e) => Err(e),
    };
    let device = Device::flex();
    let m = ConvKind::Mult;
    // (operator, bit-exact, spec, stem, classifier)
    for (conv, exact, spec, stem_conv, classifier) in [
        (ConvKind::Shift, true, small_spec(), m, m),
        (ConvKind::Add, false, small_spec(), m, m),
        (ConvKind::Mult, true, small_spec(), m, m),
        (ConvKind::Add, false, v3_spec(), m, m),
        (ConvKind::Shift, true, small_spec(), ConvKind::Shift, ConvKind::Shift),
        (ConvKind::Add, false, v3_spec(), ConvKind::Add, ConvKind::Add),
    ] {
        let cfg = AugNetConfig { depthwise: Some(ConvKind::Mult), spec, stem_conv, classifier, ..small(conv, AugConfig::default()) };
        let net = cfg.init(&device).unwrap();
        let x = images(3, 12, &device);
        let want = read(net.logits(x.clone()).unwrap());
        let (json, bytes) = block_on(export(&net)).unwrap();
        assert!(json.contains("\"format\": \"shiftaddaug-tiny/3\"") && json.contains("\"model\": \"supernet\""), "{json}");
        if conv == ConvKind::Shift {
            assert!(json.contains("\"kind\": \"shift\"") && json.contains("\"kind\": \"mult\""), "pointwise shift, depthwise mult");
        }
        if classifier != m {
            // The MF classifier is the last layer entry: a 1×1 conv + BN, no classifier.weight.
            let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
            let last = doc["layers"].as_array().unwrap().last().unwrap().clone();
            assert_eq!(
                (last["name"].as_str(), last["kernel"].as_u64(), last["channels"][1].as_u64()),
                (Some("classifier"), Some(1), Some(10))
            );
            assert_eq!(doc["layers"][0]["kind"], doc["config"]["conv"], "MF stem");
            assert_eq!(doc["config"]["classifier"], doc["config"]["conv"]);
        } else {
            assert!(!json.contains("\"classifier\""), "default stem / classifier are not written: {json}");
        }
        if cfg.spec.final_conv.is_some() {
            for key in ["\"finalConv\": 24", "\"dsShortcut\": true", "\"se\": true", "\"act\": \"hswish\"", "\"stemAct\": \"hswish\""] {
                assert!(json.contains(key), "{key} missing from {json}");
            }
        }
        let loaded = import(&json, &bytes, &device).unwrap();
        let got = read(loaded.logits(x).unwrap());
        if exact {
            assert_eq!(got, want, "{conv:?}: bit-for-bit");
        } else {
            for (a, b) in got.iter().zip(&want) {
                assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{conv:?}: {a} vs {b}");
            }
        }
        // Exporting the loaded model gives the same files.
        assert_eq!(block_on(export(&loaded)).unwrap(), (json.clone(), bytes.clone()));
        // A file of the previous version (no `model` field) still loads.
        let v2 = json.replace("\"shiftaddaug-tiny/3\"", "\"shiftaddaug-tiny/2\"").replace("  \"model\": \"supernet\",\n", "");
        assert!(!v2.contains("\"model\""), "{v2}");
        assert_eq!(read(import(&v2, &bytes, &device).unwrap().logits(images(3, 12, &device)).unwrap()), got);
        // Bad files are refused with a message, never half-loaded.
        let e = import(&json, &bytes[..bytes.len() - 4], &device).unwrap_err().to_string();
        assert!(e.contains("outside the data"), "{e}");
        let other = AugNetConfig { spec: NetSpec { head: Some(40), ..cfg.spec.clone() }, ..cfg.clone() };
        let (json2, _) = block_on(export(&other.init(&device).unwrap())).unwrap();
        let e = import(&json2, &bytes, &device).unwrap_err().to_string();
        assert!(e.contains("expected F32 [40") || e.contains("expected F32 [32, 40") || e.contains("head"), "{e}");
    }
}

/// The Shift layer's hybrid pass (one conv with a block weight) against the block-wise
/// reference from plain ops: an MF conv of the target inputs to the target outputs, plus (H1) a
/// Mult conv of the augmented inputs, and a Mult conv of all inputs for the augmented outputs.
/// Outputs and the gradients of weights and inputs agree to float summation order (1e-4 relative).
#[test]
fn shift_hybrid_pass_matches_the_blockwise_reference() {
    use burn::tensor::module::conv2d;
    use burn::tensor::ops::ConvOptions;
    use shiftaddaug::aug::dyn_layers::{ConvRun, DynConv, SHARED_SHIFT_BITS};
    use shiftaddaug::ops::{min_exponent, pot_quantize};
    let device = Device::flex().autodiff();
    let close = |got: &[f32], want: &[f32], what: &str| {
        let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
        for (i, (a, b)) in got.iter().zip(want).enumerate() {
            assert!((a - b).abs() <= 1e-4 * scale, "{what}[{i}]: {a} vs {b} (scale {scale})");
        }
    };
    for depthwise in [false, true] {
        for mode in [AugMode::H1, AugMode::H2] {
            let ([t_in, t_out], [a_in, a_out], max) = if depthwise { ([5, 5], [9, 9], [11, 11]) } else { ([4, 5], [7, 9], [8, 12]) };
            let conv = DynConv::new(ConvKind::Shift, max, 3, 1, depthwise, RemapKind::R1, None, 7, &device);
            let x = Tensor::<4>::from_data(TensorData::new(gaussian(2 * a_in * 36, 5), [2, a_in, 6, 6]), &device).require_grad();
            let r = Tensor::<4>::from_data(TensorData::new(gaussian(2 * a_out * 36, 6), [2, a_out, 6, 6]), &device);
            let run = |y: Tensor<4>| {
                let grads = y.clone().mul(r.clone()).sum().backward();
                (read(y), read(conv.weight.grad(&grads).unwrap()), read(x.grad(&grads).unwrap()))
            };
            let got = run(conv.forward(
                x.clone(),
                ConvRun { t: [t_in, t_out], a: [a_in, a_out], kernel: 3, op: ConvKind::Shift },
                Pass::Aug(mode),
            ));
            let w = conv.weight.val();
            let q = |w: Tensor<4>| pot_quantize(conv.mf_weight(w), min_exponent(SHARED_SHIFT_BITS).unwrap());
            let c = |x: Tensor<4>, w: Tensor<4>, groups: usize| conv2d(x, w, None, ConvOptions::new([1, 1], [1, 1], [1, 1], groups));
            let want = if depthwise {
                let yt = c(x.clone().narrow(1, 0, t_out), q(w.clone().slice(0..t_out)), t_out);
                let ya = c(x.clone().narrow(1, t_out, a_out - t_out), w.slice(t_out..a_out), a_out - t_out);
                run(Tensor::cat(vec![yt, ya], 1))
            } else {
                let mut yt = c(x.clone().narrow(1, 0, t_in), q(w.clone().slice([0..t_out, 0..t_in])), 1);
                if mode == AugMode::H1 {
                    yt = yt + c(x.clone().narrow(1, t_in, a_in - t_in), w.clone().slice([0..t_out, t_in..a_in]), 1);
                }
                let ya = c(x.clone(), w.slice([t_out..a_out, 0..a_in]), 1);
                run(Tensor::cat(vec![yt, ya], 1))
            };
            let what = format!("depthwise {depthwise} {mode:?}");
            close(&got.0, &want.0, &format!("{what} output"));
            close(&got.1, &want.1, &format!("{what} weight grad"));
            close(&got.2, &want.2, &format!("{what} input grad"));
        }
    }
}

/// Elastic kernels (`subnetKernels`): a conv whose bank is stored at 5×5 or 7×7 computes a
/// smaller kernel as a conv of the centre of its MF weight (the remap reads the whole bank
/// first), padding k / 2: Shift (dense and depthwise, R1) and Add (depthwise, R0 with the
/// adder gain), against a reference whose crop is an index loop. Within 1e-4 relative.
#[test]
fn a_smaller_kernel_is_the_centre_of_the_bank() {
    use burn::tensor::module::conv2d;
    use burn::tensor::ops::ConvOptions;
    use shiftaddaug::aug::dyn_layers::{ConvRun, DynConv, SHARED_SHIFT_BITS};
    use shiftaddaug::ops::{Conv2dGeometry, adder_conv2d, min_exponent, pot_quantize};
    let device = Device::flex();
    let crop = |w: Tensor<4>, k: usize| {
        let [o, i, kb, _] = w.dims();
        let v = read(w.clone());
        let c = (kb - k) / 2;
        let mut out = Vec::with_capacity(o * i * k * k);
        for oi in 0..o * i {
            for y in 0..k {
                for x in 0..k {
                    out.push(v[oi * kb * kb + (y + c) * kb + x + c]);
                }
            }
        }
        Tensor::<4>::from_data(TensorData::new(out, [o, i, k, k]), &w.device())
    };
    for (kind, remap, depthwise, bank, k) in [
        (ConvKind::Shift, RemapKind::R1, false, 5, 3),
        (ConvKind::Shift, RemapKind::R1, true, 7, 5),
        (ConvKind::Add, RemapKind::R0, true, 7, 3),
    ] {
        let (c, t) = (6, 4);
        let conv = DynConv::new(kind, [c, c], bank, 1, depthwise, remap, Some(10.0), 3, &device);
        let x = Tensor::<4>::from_data(TensorData::new(gaussian(2 * t * 64, 9), [2, t, 8, 8]), &device);
        let got = read(conv.forward(x.clone(), ConvRun { t: [t, t], a: [t, t], kernel: k, op: kind }, Pass::Tiny));
        let w = conv.weight.val();
        let w = if depthwise { w.slice(0..t) } else { w.slice([0..t, 0..t]) };
        let groups = if depthwise { t } else { 1 };
        let mf = conv.mf_weight(w);
        let want = read(match kind {
            ConvKind::Shift => {
                let q = pot_quantize(mf, min_exponent(SHARED_SHIFT_BITS).unwrap());
                conv2d(x, crop(q, k), None, ConvOptions::new([1, 1], [k / 2; 2], [1, 1], groups))
            }
            _ => adder_conv2d(x, crop(mf, k), Conv2dGeometry { stride: [1, 1], padding: [k / 2; 2], groups }).unwrap(),
        });
        assert_eq!(got.len(), 2 * t * 64, "same size map");
        let scale = want.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
        for (i, (a, b)) in got.iter().zip(&want).enumerate() {
            assert!((a - b).abs() <= 1e-4 * scale, "{kind:?} {bank}→{k} [{i}]: {a} vs {b}");
        }
        let tw = conv.target_weight([t, t], k).unwrap();
        assert_eq!(tw.dims()[2..], [k, k], "the target weight is the cropped one");
    }
}

/// Depth augmentation (METHOD.md §5.3): a block marked `augOnly` is left out of the tiny model
/// (its weights do not reach the tiny logits; the export leaves it out and reproduces the tiny
/// pass, through the files too; the cost model counts the spec without it) and run as Mult by
/// the augmented passes (its weights move their logits; a training step updates them). Only a
/// block with a shortcut can be one.
#[test]
fn aug_only_blocks_are_depth_augmentation() {
    use burn::module::Param;
    use shiftaddaug::aug::dyn_layers::{DynConv, DynConvBn};
    use shiftaddaug::export::{Deployed, export_supernet, import};
    let device = Device::flex();
    // New weights and BatchNorm shifts (a shift survives the pooling, unlike a batch-normalised map).
    let nudge = |l: DynConvBn| {
        DynConvBn::new(
            DynConv { weight: Param::from_tensor(l.conv.weight.val().add_scalar(0.3)), ..l.conv },
            shiftaddaug::nn::DynBn { beta: Param::from_tensor(l.bn.beta.val().add_scalar(1.0)), ..l.bn },
        )
    };
    for full in small_specs(ConvKind::Shift, AugConfig::default()) {
        let mut cfg = full.clone();
        cfg.spec.blocks[1].aug_only = true;
        let net = cfg.init(&device).unwrap();
        let x = images(3, 13, &device);
        let tiny = read(net.logits(x.clone()).unwrap());
        let aug = |n: &AugNet| read(n.forward(x.clone(), &cfg.max_arch(), Pass::Aug(AugMode::H1)).unwrap());
        let mut moved = net.clone();
        moved.blocks[1] = moved.blocks[1].clone().map_layers(nudge);
        assert_eq!(read(moved.logits(x.clone()).unwrap()), tiny, "the tiny pass skips the block");
        let (a, b) = (aug(&net), aug(&moved));
        assert!(a.iter().zip(&b).any(|(a, b)| (a - b).abs() > 1e-2), "the augmented pass runs the block: {a:?} {b:?}");
        // The cost model counts the spec without the block.
        let mut without = full.clone();
        without.spec.blocks.remove(1);
        assert_eq!((cfg.tiny_macs(), cfg.tiny_peak_activation()), (without.tiny_macs(), without.tiny_peak_activation()));
        assert!(cfg.tiny_macs() < full.tiny_macs());
        assert_eq!(cfg.tiny_arch().blocks[1][0], 0);
        // The export leaves it out and computes the tiny pass (Shift: bit for bit).
        let exported = net.export_tiny();
        assert_eq!(exported.config.spec.blocks, without.spec.blocks);
        assert_eq!(exported.tiny_param_count(), net.tiny_param_count());
        assert_eq!(read(exported.logits(x.clone()).unwrap()), tiny);
        let (json, bytes) = block_on(export_supernet(&net)).unwrap();
        assert!(!json.contains("augOnly") && !json.contains("blocks.2."), "two blocks exported");
        match import(&json, &bytes, &device).unwrap() {
            Deployed::Supernet(n) => assert_eq!(read(n.logits(x.clone()).unwrap()), tiny),
            other => panic!("read back as {other:?}"),
        }
        // A plan's JSON names it, and `with_tiny_arch` makes one from a middle width of 0.
        let spec_json = serde_json::to_string(&cfg.spec).unwrap();
        assert_eq!(spec_json.matches("\"augOnly\":true").count(), 1, "{spec_json}");
        assert_eq!(serde_json::from_str::<NetSpec>(&spec_json).unwrap(), cfg.spec);
        let mut arch = full.tiny_arch();
        arch.blocks[1][0] = 0;
        let planned = full.with_tiny_arch(&arch);
        let flags = |c: &AugNetConfig| c.spec.blocks.iter().map(|b| (b.channels, b.aug_only)).collect::<Vec<_>>();
        assert_eq!(flags(&planned), flags(&cfg));
        assert_eq!(planned.tiny_arch(), cfg.tiny_arch());
        // A training step updates the block through the augmented pass.
        let ad = Device::flex().autodiff();
        let tc = TrainConfig { batch_size: 8, log_every: 1, ..TrainConfig::default() };
        let mut trainer = Trainer::new(cfg.init(&ad).unwrap(), 10, tc).unwrap();
        let w0 = read(trainer.model().blocks[1].expand.conv.weight.val());
        let labels: Vec<u32> = (0..8).collect();
        block_on(trainer.train_batch(&gaussian(8 * 256, 5), &labels, true)).unwrap();
        let w1 = read(trainer.model().blocks[1].expand.conv.weight.val());
        assert_ne!(w0, w1, "the augmented pass trains the block");
    }
    let mut bad = small(ConvKind::Shift, AugConfig::default());
    bad.spec.blocks[0].aug_only = true;
    let e = bad.init(&device).unwrap_err();
    assert_eq!(e.code(), "INVALID_CONFIG");
    assert!(e.to_string().contains("blocks[0].augOnly"), "{e}");
}
