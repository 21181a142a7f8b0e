//! The layers against direct computations: shift conv/linear use exactly the power-of-two
//! weights they report, PS weights are ternary powers of two, AdderLinear matches its definition
//! (value and AdderNet gradients), and bad configs are typed errors naming the value.

use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};
use shiftaddaug::data::Rng;
use shiftaddaug::nn::{AdderLinearConfig, ShiftConv2dConfig, ShiftLinearConfig, ShiftMode};
use shiftaddaug::ops::Conv2dGeometry;

mod util;
use util::read;

fn uniform(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0).collect()
}

fn is_pot_or_zero(v: f32, p_min: i32) -> bool {
    v == 0.0 || (p_min..=0).any(|p| v.abs() == 2f32.powi(p))
}

#[test]
fn shift_conv_uses_its_power_of_two_weights() {
    let device = Device::flex();
    let geo = Conv2dGeometry { stride: [2, 2], padding: [1, 1], groups: 2 };
    for mode in [ShiftMode::Q, ShiftMode::Ps] {
        let layer = ShiftConv2dConfig { geometry: geo, mode, ..ShiftConv2dConfig::new([4, 6], [3, 3]) }.init(&device).unwrap();
        let wq = layer.quantized_weight().unwrap();
        let p_min = if mode == ShiftMode::Q { -15 } else { -14 };
        assert!(read(wq.clone()).iter().all(|v| is_pot_or_zero(*v, p_min)), "{mode:?}: weights not powers of two");
        let mut rng = Rng::new(9);
        let x = Tensor::<4>::from_data(TensorData::new(uniform(&mut rng, 2 * 4 * 5 * 5), [2, 4, 5, 5]), &device);
        let want = conv2d(x.clone(), wq, None, ConvOptions::new([2, 2], [1, 1], [1, 1], 2));
        assert_eq!(read(layer.forward(x).unwrap()), read(want), "{mode:?}");
    }
}

#[test]
fn fixed_point_activations_are_applied() {
    let device = Device::flex();
    let cfg = ShiftConv2dConfig { activation_fixed_point: Some([8, 1]), ..ShiftConv2dConfig::new([1, 1], [1, 1]) };
    let layer = cfg.init(&device).unwrap();
    let w = read(layer.quantized_weight().unwrap())[0];
    let x = Tensor::<4>::from_floats([[[[0.7, -0.2]]]], &device);
    // 8.1 fixed point: step 0.5, floor: 0.7 → 0.5, -0.2 → -0.5.
    assert_eq!(read(layer.forward(x).unwrap()), vec![0.5 * w, -0.5 * w]);
    let bad = ShiftConv2dConfig { activation_fixed_point: Some([0, 4]), ..ShiftConv2dConfig::new([1, 1], [1, 1]) };
    assert_eq!(bad.init(&device).unwrap_err().code(), "INVALID_CONFIG");
}

#[test]
fn shift_linear_matches_matmul_with_its_weights() {
    let device = Device::flex();
    let mut rng = Rng::new(4);
    for mode in [ShiftMode::Q, ShiftMode::Ps] {
        let layer = ShiftLinearConfig { mode, ..ShiftLinearConfig::new([5, 3]) }.init(&device).unwrap();
        let w = read(layer.weight.value().unwrap()); // [3, 5, 1, 1]
        let xv = uniform(&mut rng, 2 * 5);
        let y = read(layer.forward(Tensor::from_data(TensorData::new(xv.clone(), [2, 5]), &device)).unwrap());
        for n in 0..2 {
            for m in 0..3 {
                let want: f32 = (0..5).map(|c| xv[n * 5 + c] * w[m * 5 + c]).sum();
                assert!((y[n * 3 + m] - want).abs() < 1e-6, "{mode:?} [{n},{m}]: {} vs {want}", y[n * 3 + m]);
            }
        }
    }
    let e = ShiftLinearConfig::new([5, 3]).init(&device).unwrap().forward(Tensor::zeros([2, 4], &device)).unwrap_err();
    assert!(e.to_string().contains("expected [n > 0, 5]"), "{e}");
}

#[test]
fn adder_linear_value_and_gradients() {
    let device = Device::flex().autodiff();
    let layer = AdderLinearConfig { features: [3, 2] }.init(&device).unwrap();
    let w = read(layer.weight.val());
    let xv = vec![0.5f32, -1.0, 2.0, 0.0, 0.25, -0.75];
    let x = Tensor::<2>::from_data(TensorData::new(xv.clone(), [2, 3]), &device).require_grad();
    let y = layer.forward(x.clone()).unwrap();
    let grads = y.clone().sum().backward();
    let (yv, gx, gw) = (read(y), read(x.grad(&grads).unwrap()), read(layer.weight.grad(&grads).unwrap()));
    for n in 0..2 {
        for m in 0..2 {
            let want: f32 = -(0..3).map(|c| (xv[n * 3 + c] - w[m * 3 + c]).abs()).sum::<f32>();
            assert!((yv[n * 2 + m] - want).abs() < 1e-5);
        }
        for c in 0..3 {
            let want: f32 = (0..2).map(|m| (w[m * 3 + c] - xv[n * 3 + c]).clamp(-1.0, 1.0)).sum();
            assert!((gx[n * 3 + c] - want).abs() < 1e-5, "dX");
        }
    }
    for m in 0..2 {
        for c in 0..3 {
            let want: f32 = (0..2).map(|n| xv[n * 3 + c] - w[m * 3 + c]).sum();
            assert!((gw[m * 3 + c] - want).abs() < 1e-5, "dW");
        }
    }
}

#[test]
fn bad_configs_name_the_value() {
    let device = Device::flex();
    let e = ShiftConv2dConfig { weight_bits: 9, ..ShiftConv2dConfig::new([4, 4], [3, 3]) }.init(&device).unwrap_err();
    assert!(e.to_string().contains("weight_bits = 9"), "{e}");
    let geo = Conv2dGeometry { stride: [1, 1], padding: [0, 0], groups: 3 };
    let e = ShiftConv2dConfig { geometry: geo, ..ShiftConv2dConfig::new([4, 6], [3, 3]) }.init(&device).unwrap_err();
    assert!(e.to_string().contains("groups = 3"), "{e}");
    let e = ShiftConv2dConfig::new([0, 6], [3, 3]).init(&device).unwrap_err();
    assert_eq!(e.code(), "SHAPE_MISMATCH");
    assert_eq!(AdderLinearConfig { features: [0, 2] }.init(&device).unwrap_err().code(), "SHAPE_MISMATCH");
}
