//! MobileNetV2-Tiny: parameter and MAC counts against hand counts (and NetAug's published
//! 0.75 M params / 23.5 M MACs at 144×144), structure, operator selection, config errors.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use shiftaddaug::aug::AugNetConfig;
use shiftaddaug::engine::block_on;
use shiftaddaug::models::{MBV2_TINY_BLOCKS, MobileNetV2Tiny, MobileNetV2TinyConfig};
use shiftaddaug::nn::ConvKind;
use shiftaddaug::train::{ImageClassifier, TrainConfig, Trainer};

/// Learnable parameters as PyTorch counts them: burn's `num_params` also counts each
/// BatchNorm's running mean and variance (PyTorch buffers), 2 values per BN channel.
fn learnable_params(m: &MobileNetV2Tiny) -> usize {
    let bns = [&m.stem, &m.ds_dw, &m.ds_pw]
        .into_iter()
        .chain(m.blocks.iter().flat_map(|b| [&b.expand, &b.depthwise, &b.project]))
        .chain([&m.head]);
    let bn_channels: usize = bns.map(|cb| cb.bn.gamma.dims()[0]).sum();
    assert_eq!(bn_channels, 6208);
    m.num_params() - 2 * bn_channels
}

#[test]
fn imagenet_counts_match_netaug() {
    // NetAug README: MobileNetV2-Tiny (r144) 0.75 M params, 23.5 M MACs. Exact hand counts:
    // Σ conv weights + BN (γ, β) + classifier, and Σ h_out·w_out·c_out·(c_in/g)·k² + 448·1000.
    let cfg = MobileNetV2TinyConfig { conv: ConvKind::Mult, stem_stride: 2, ..MobileNetV2TinyConfig::new([3, 144, 144], 1000) };
    assert_eq!(cfg.macs().unwrap(), 23_499_152);
    let model = cfg.init(&Device::flex()).unwrap();
    assert_eq!(learnable_params(&model), 750_280);
}

#[test]
fn fashion_mnist_variant_structure_and_forward() {
    let device = Device::flex();
    let cfg = MobileNetV2TinyConfig::new([1, 28, 28], 10);
    assert_eq!(cfg.macs().unwrap(), 3_576_880);
    // The static model reads the zoo's plan: the plan-driven supernet's tiny model has its MACs.
    assert_eq!(AugNetConfig::new([1, 28, 28], 10, ConvKind::Shift).tiny_macs(), 3_576_880);
    let model = cfg.init(&device).unwrap();
    assert_eq!(learnable_params(&model), 305_482);
    assert_eq!(model.blocks.len(), MBV2_TINY_BLOCKS.len());
    assert_eq!(model.blocks.iter().filter(|b| b.residual).count(), 10);
    let y = model.forward(Tensor::zeros([2, 1, 28, 28], &device)).unwrap();
    assert_eq!(y.dims(), [2, 10]);
    assert_eq!(model.stem.conv.kind(), ConvKind::Mult);
    assert!(model.blocks.iter().all(|b| b.depthwise.conv.kind() == ConvKind::Shift));
    let e = model.forward(Tensor::zeros([2, 3, 28, 28], &device)).unwrap_err();
    assert_eq!(e.code(), "SHAPE_MISMATCH");
}

#[test]
fn operator_selection_per_slot() {
    let device = Device::flex();
    let all_add = MobileNetV2TinyConfig { conv: ConvKind::Add, ..MobileNetV2TinyConfig::new([1, 28, 28], 10) };
    // 2 (DS block) + 3 × 16 (MBConv) + 1 (head) MF convolutions; the stem stays Mult.
    assert_eq!(all_add.init(&device).unwrap().adder_weight_ids().len(), 51);
    let dw_mult = MobileNetV2TinyConfig { depthwise: Some(ConvKind::Mult), ..all_add };
    let m = dw_mult.init(&device).unwrap();
    assert_eq!(m.adder_weight_ids().len(), 51 - 17);
    assert_eq!(m.ds_dw.conv.kind(), ConvKind::Mult);
}

#[test]
fn bad_configs_are_rejected_with_the_valid_choices() {
    let e = MobileNetV2TinyConfig { stem_stride: 3, ..MobileNetV2TinyConfig::new([1, 28, 28], 10) }.validate().unwrap_err();
    assert!(e.to_string().contains("stemStride = 3; valid: 1, 2"), "{e}");
    assert_eq!(MobileNetV2TinyConfig::new([1, 28, 28], 1).validate().unwrap_err().code(), "INVALID_CONFIG");
    assert_eq!(MobileNetV2TinyConfig::new([1, 0, 28], 10).validate().unwrap_err().code(), "INVALID_CONFIG");
    let j = serde_json::from_str::<MobileNetV2TinyConfig>(r#"{"inputShape":[1,28,28],"numClasses":10,"width":2}"#);
    assert!(j.unwrap_err().to_string().contains("width"));
    let ok: MobileNetV2TinyConfig = serde_json::from_str(r#"{"inputShape":[1,28,28],"numClasses":10,"conv":"add"}"#).unwrap();
    assert_eq!((ok.conv, ok.stem_stride, ok.depthwise), (ConvKind::Add, 1, None));
}

#[test]
fn trains_a_few_steps() {
    let device = Device::flex();
    device.seed(3);
    let model = MobileNetV2TinyConfig::new([1, 28, 28], 10).init(&device.clone().autodiff()).unwrap();
    let mut t = Trainer::new(model, 10, TrainConfig { batch_size: 8, ..Default::default() }).unwrap();
    let x: Vec<f32> = (0..8 * 784).map(|i| ((i * 37) % 255) as f32 / 255.0).collect();
    let y: Vec<u32> = (0..8).map(|i| i % 10).collect();
    let first = block_on(t.train_batch(&x, &y, true)).unwrap().unwrap().loss;
    let mut last = first;
    for _ in 0..15 {
        last = block_on(t.train_batch(&x, &y, true)).unwrap().unwrap().loss;
    }
    assert!(first.is_finite() && last < first, "loss {first} -> {last}");
}

/// The zoo as ShiftAddAug supernets: the tiny slice's learnable parameters and MACs at the
/// ImageNet resolutions, against hand counts from METHOD.md Appendix A (an independent
/// per-layer count: Σ conv weights + BN γ, β + classifier; Σ h_out·w_out·c_out·(c_in/g)·k² +
/// features·1000). They match NetAug's published 0.75 M / 23.5 M (MobileNetV2-Tiny, r144),
/// 0.74 M / 81.8 M (MCUNet, r176) and 1.8 M / 35.7 M (ProxylessNAS-0.35, r160). MobileNetV3-0.35
/// (r160) adds SE (`c·h + h + h·c + c` parameters, `2·c·h` MACs, `h = make_divisible(c/4)`) and
/// the 336 → 1280 final conv with bias: 2 109 448 parameters, 19.5 M MACs.
#[test]
fn zoo_counts_match_hand_counts() {
    use shiftaddaug::aug::NetSpec;
    let device = Device::flex();
    for (name, spec, res, params, macs) in [
        ("mbv2-tiny", NetSpec::mbv2_tiny(), 144, 750_280, 23_499_152u64),
        ("mcunet", NetSpec::mcunet(), 176, 737_408, 81_785_520),
        ("proxyless-0.35", NetSpec::proxyless_035(), 160, 1_781_344, 35_716_800),
        ("mobilenetv3-0.35", NetSpec::mobilenet_v3_035(), 160, 2_109_448, 19_495_304),
    ] {
        let cfg = AugNetConfig { spec, stem_stride: 2, ..AugNetConfig::new([3, res, res], 1000, ConvKind::Shift) };
        assert_eq!(cfg.tiny_macs(), macs, "{name} MACs");
        assert_eq!(cfg.init(&device).unwrap().tiny_param_count(), params, "{name} params");
        // Every body slot can be any operator; the stem stays Mult.
        let add = AugNetConfig { conv: ConvKind::Add, depthwise: Some(ConvKind::Mult), ..cfg };
        let net = add.init(&device).unwrap();
        assert_eq!(net.stem.conv.kind, ConvKind::Mult);
        assert!(net.blocks.iter().all(|b| b.expand.conv.kind == ConvKind::Add && b.depthwise.conv.kind == ConvKind::Mult));
    }
    // The 32×32 variant of MobileNetV2-Tiny used for Fashion-MNIST (stem stride 1).
    let small = AugNetConfig::new([1, 32, 32], 10, ConvKind::Shift);
    let y = small.init(&device).unwrap().logits(Tensor::zeros([2, 1, 32, 32], &device)).unwrap();
    assert_eq!(y.dims(), [2, 10]);
}

/// `NetSpec::scaled`: widths × factor rounded to multiples of 8 (≥ 8), the chain of widths
/// consistent, the shortcuts where the spec has them, the final conv unscaled; × 1 is the spec;
/// the scaled net builds and classifies; factors outside (0, 8] are refused.
#[test]
fn width_multiplier_scales_every_zoo_model() {
    use shiftaddaug::aug::{AugNetConfig, NetSpec, make_divisible};
    let device = Device::flex();
    for name in NetSpec::NAMES {
        let spec = NetSpec::by_name(name).unwrap();
        assert_eq!(spec.scaled(1.0).unwrap(), spec, "{name} × 1");
        for f in [0.5, 1.8, 2.6] {
            let s = spec.scaled(f).unwrap();
            let w = |c: usize| make_divisible(c as f32 * f);
            assert_eq!((s.stem, s.ds, s.head, s.final_conv), (w(spec.stem), w(spec.ds), spec.head.map(w), spec.final_conv), "{name} × {f}");
            let mut cur = s.ds;
            for (b, o) in s.blocks.iter().zip(&spec.blocks) {
                assert_eq!(b.channels, o.channels.map(w), "{name} × {f}");
                assert!(b.channels.iter().all(|c| c % 8 == 0 && *c >= 8), "{name} × {f}: {:?}", b.channels);
                assert_eq!(b.channels[0], cur, "{name} × {f}: chain");
                assert_eq!(b.has_shortcut(), o.has_shortcut(), "{name} × {f}: shortcut of {:?}", o.channels);
                cur = b.channels[2];
            }
        }
        for bad in [0.0, -1.0, 8.5, f32::NAN, f32::INFINITY] {
            assert!(spec.scaled(bad).is_err(), "{name} × {bad}");
        }
    }
    let wide = AugNetConfig {
        spec: NetSpec::mbv2_tiny().scaled(2.6).unwrap(),
        stem_stride: 2,
        ..AugNetConfig::new([1, 32, 32], 10, ConvKind::Mult)
    };
    let net = wide.init(&device).unwrap();
    assert!(
        net.tiny_param_count()
            > 4 * AugNetConfig { stem_stride: 2, ..AugNetConfig::new([1, 32, 32], 10, ConvKind::Mult) }
                .init(&device)
                .unwrap()
                .tiny_param_count()
    );
    assert_eq!(net.logits(Tensor::zeros([2, 1, 32, 32], &device)).unwrap().dims(), [2, 10]);
}

/// The config's own layer walk (`tiny_layers`, which the search costs candidates with) costs
/// what the export's graph costs: per layer the same operator and geometry, so the same MACs by
/// operator and the same energy and peak activation, for every zoo model, with mixed operators
/// (Add body, Shift depthwise, Mult stem; Mult, Shift or Add classifier; three blocks with
/// operators of their own).
#[test]
fn the_config_walk_costs_what_the_export_costs() {
    use shiftaddaug::aug::NetSpec;
    use shiftaddaug::cost::{self, Convention, UnitEnergies};
    use shiftaddaug::infer::format::Op;
    let device = Device::flex();
    let specs = [NetSpec::mbv2_tiny(), NetSpec::mcunet(), NetSpec::proxyless_035(), NetSpec::mobilenet_v3_035()];
    for (mut spec, classifier) in specs.into_iter().zip([ConvKind::Mult, ConvKind::Shift, ConvKind::Mult, ConvKind::Add]) {
        // Block 0 all Mult; block 1 Shift with an Add depthwise; block 2 the model's 1×1 (Add)
        // with a Mult depthwise.
        spec.blocks[0].conv = Some(ConvKind::Mult);
        (spec.blocks[1].conv, spec.blocks[1].depthwise) = (Some(ConvKind::Shift), Some(ConvKind::Add));
        spec.blocks[2].depthwise = Some(ConvKind::Mult);
        let cfg = AugNetConfig { spec, depthwise: Some(ConvKind::Shift), classifier, ..AugNetConfig::new([1, 32, 32], 10, ConvKind::Add) };
        let net = cfg.init(&device).unwrap();
        let (json, bytes) = shiftaddaug::engine::block_on(shiftaddaug::export::export_supernet(&net.export_tiny())).unwrap();
        let g = shiftaddaug::infer::format::parse(&json, &bytes).unwrap();
        let op_of = |name: &str| g.layers.iter().find(|l| l.name == name).unwrap_or_else(|| panic!("no layer {name}")).op;
        let want = [
            ("blocks.0.expand", Op::Mult),
            ("blocks.0.depthwise", Op::Mult),
            ("blocks.0.project", Op::Mult),
            ("blocks.1.expand", Op::Shift),
            ("blocks.1.depthwise", Op::Add),
            ("blocks.2.expand", Op::Add),
            ("blocks.2.depthwise", Op::Mult),
            ("blocks.3.expand", Op::Add),
            ("blocks.3.depthwise", Op::Shift),
        ];
        for (name, op) in want {
            assert_eq!(op_of(name), op, "{name}");
        }
        let from_graph = cost::layers_of_graph(&g).unwrap();
        let from_config = cfg.tiny_layers();
        assert_eq!(from_config.len(), from_graph.len());
        for (a, b) in from_config.iter().zip(&from_graph) {
            assert_eq!((a.op, a.geo, a.act, a.timing, a.affine), (b.op, b.geo, b.act, b.timing, b.affine), "{} against {}", a.name, b.name);
            // The graph numbers its SE blocks on their own; every other layer has its export name.
            if !b.name.starts_with("se.") {
                assert_eq!(a.name, b.name);
            }
        }
        let e = UnitEnergies::for_bits(32).unwrap();
        let summary = cost::summary_of_graph(&g, Convention::PerMac, &e).unwrap();
        let energy: f64 = cost::layer_costs(&from_config, Convention::PerMac, &e).iter().map(|l| l.energy_pj).sum();
        assert!((energy - summary.energy_pj).abs() <= 1e-9 * energy, "{energy} against {}", summary.energy_pj);
        assert_eq!(cfg.tiny_macs(), summary.macs.iter().sum::<u64>());
        assert_eq!(cfg.tiny_peak_activation(), summary.peak_activation, "{}", cfg.spec.stem);
    }
}
