//! Data-parallel training: replicas that each compute one part of every batch, sum the flat
//! part gradients in part order and apply the same sum, train bit for bit like one trainer with
//! `micro_batches` parts (the SDK's K workers rely on this; its Chromium test checks the same
//! through real workers).

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};
use shiftaddaug::aug::{AugConfig, AugNet, AugNetConfig, NetSpec};
use shiftaddaug::data::Dataset;
use shiftaddaug::engine::block_on;
use shiftaddaug::models::{BlockSpec, MfCnnConfig};
use shiftaddaug::nn::ConvKind;
use shiftaddaug::train::{FlatGradients, ImageClassifier, OptimizerKind, TrainConfig, Trainer};

mod util;
use util::read;

fn small_spec() -> NetSpec {
    let b = BlockSpec::new;
    NetSpec::plain(8, 8, vec![b(3, 2, 8, 16, 8), b(3, 1, 8, 16, 8), b(3, 2, 8, 24, 16)], Some(32))
}

/// One-thread rayon pool: bit equality needs the same summation order in every pass.
#[test]
fn replicas_summing_part_gradients_train_like_micro_batches() {
    rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap().install(|| {
        let dir = std::path::Path::new(shiftaddaug::data::FASHION_MNIST_DIR);
        // 200 images in batches of 32: the last batch has 8, so uneven parts are covered too.
        let train = shiftaddaug::data::load_fashion_mnist(dir, shiftaddaug::data::Split::Train).unwrap().slice(0, 200);
        let device = Device::flex().autodiff();
        let tc = TrainConfig {
            batch_size: 32,
            optimizer: OptimizerKind::Sgd,
            learning_rate: 0.05,
            weight_decay: 4e-5,
            crop_padding: 2,
            horizontal_flip: true,
            ..TrainConfig::default()
        };
        // ShiftAddAug supernet with Add tiny convs (two passes a step, adder gradient scaling).
        let aug = AugNetConfig {
            spec: small_spec(),
            aug: AugConfig { enabled: true, ..AugConfig::default() },
            ..AugNetConfig::new([1, 28, 28], 10, ConvKind::Add)
        };
        let record = aug.init(&device).unwrap().into_record();
        let copy = || aug.init(&device).unwrap().load_record(record.clone());
        compare::<AugNet>(&copy, &train, &tc, 2, 2);
        // The small MF CNN with Shift convs, 3 replicas (parts of 11, 11, 10 and 3, 3, 2).
        let mf = MfCnnConfig { conv: ConvKind::Shift, ..Default::default() };
        let record = mf.init(&device).unwrap().into_record();
        let copy = || mf.init(&device).unwrap().load_record(record.clone());
        compare(&copy, &train, &tc, 3, 1);
        // Shares: a batch of two copies of the same 16 images in 2 parts steps exactly like the 16
        // images in one part (the same BatchNorm statistics; 0.5·g + 0.5·g = g in floats).
        let tc = TrainConfig { crop_padding: 0, horizontal_flip: false, ..tc };
        let mut halves = Trainer::new(copy(), 10, TrainConfig { micro_batches: 2, ..tc.clone() }).unwrap();
        let mut whole = Trainer::new(copy(), 10, tc).unwrap();
        for step in 0..3 {
            let idx: Vec<usize> = (step * 16..step * 16 + 16).collect();
            let (x, y) = train.gather(&idx);
            let (x2, y2) = ([x.clone(), x.clone()].concat(), [y.clone(), y.clone()].concat());
            let a = block_on(halves.train_batch(&x2, &y2, true)).unwrap().unwrap();
            let b = block_on(whole.train_batch(&x, &y, true)).unwrap().unwrap();
            assert_eq!((a.loss.to_bits(), a.accuracy), (b.loss.to_bits(), b.accuracy), "step {step}");
        }
        assert!(trainable(halves.model()) == trainable(whole.model()));
    });
}

/// Trains `epochs` epochs once with `micro_batches = k` and once as `k` replicas; asserts equal
/// losses, correct counts and final logits (bit for bit).
fn compare<M: ImageClassifier>(copy: &dyn Fn() -> M, train: &Dataset, tc: &TrainConfig, k: usize, epochs: usize) {
    let mut single = Trainer::new(copy(), 10, TrainConfig { micro_batches: k, ..tc.clone() }).unwrap();
    let mut replicas: Vec<_> = (0..k).map(|_| Trainer::new(copy(), 10, tc.clone()).unwrap()).collect();
    let mut steps = 0;
    for epoch in 0..epochs {
        single.start_epoch();
        replicas.iter_mut().for_each(Trainer::start_epoch);
        for (i, idx) in train.epoch_batches(tc.batch_size, tc.seed.wrapping_add(epoch as u64)).iter().enumerate() {
            let (mut x, y) = train.gather(idx);
            single.augment_batch(&mut x, epoch, i);
            let want = block_on(single.train_batch(&x, &y, true)).unwrap().unwrap();
            let mut sum: Option<FlatGradients> = None;
            let (mut loss, mut correct) = (0.0f32, 0.0f32);
            for (part, r) in replicas.iter().enumerate() {
                let (mut xr, yr) = train.gather(idx);
                r.augment_batch(&mut xr, epoch, i);
                let Some(g) = r.part_gradients(&xr, &yr, part, k).unwrap() else { continue };
                let (flat, l, c) = block_on(g.read(r.model())).unwrap();
                sum = Some(match sum {
                    None => flat,
                    Some(s) => s.sum_with(&flat).unwrap(),
                });
                loss += l;
                correct += c;
            }
            let sum = sum.unwrap();
            for r in &mut replicas {
                r.apply_flat_gradients(&sum).unwrap();
            }
            assert_eq!(want.loss.to_bits(), loss.to_bits(), "step {steps}: loss {} vs {loss}", want.loss);
            assert_eq!(want.accuracy, correct / y.len() as f32, "step {steps}");
            steps += 1;
        }
    }
    assert_eq!(single.step(), steps);
    // Trained parameters are equal; BatchNorm running statistics are not (each replica saw its
    // part only), so eval-mode outputs are not compared.
    let want = trainable(single.model());
    assert!(want.len() > 1000);
    for r in &replicas {
        assert_eq!(r.step(), steps);
        assert!(trainable(r.model()) == want, "replica diverged from the micro-batched trainer");
    }
    // A vector of another length is refused and changes nothing.
    let r = &mut replicas[0];
    let bad = FlatGradients { values: vec![0.0; 3], present: vec![1] };
    let e = r.apply_flat_gradients(&bad).unwrap_err().to_string();
    assert!(e.contains("gradient vector has 3 values"), "{e}");
    assert!(trainable(r.model()) == want && r.step() == steps);
}

/// The values of every parameter that takes a gradient, in visit order.
fn trainable<M: Module>(m: &M) -> Vec<f32> {
    struct V(Vec<f32>);
    impl ModuleVisitor for V {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            if p.is_require_grad() {
                let n = p.val().shape().num_elements();
                self.0.extend(read(p.val().reshape([n])));
            }
        }
    }
    let mut v = V(Vec::new());
    m.visit(&mut v);
    v.0
}
