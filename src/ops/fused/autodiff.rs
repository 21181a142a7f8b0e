//! The fused adder convolution under `Autodiff<B>`: the forward pass runs `B`'s kernel and
//! records a backward step that runs `B`'s fused backward kernel (AdderNet gradients).

use super::AdderBackend;
use burn::backend::TensorMetadata;
use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{AutodiffBackend, Backend};
use burn::tensor::Shape;

/// `(stride_h, stride_w, pad_h, pad_w, groups)`.
type Geo = [usize; 5];

#[derive(Debug)]
struct AdderConvBackward;

impl<B: Backend + AdderBackend> Backward<B, 2> for AdderConvBackward {
    /// The forward inputs (shared handles, no copy) and the geometry.
    type State = (FloatTensor<B>, FloatTensor<B>, Geo);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [node_x, node_w] = ops.parents;
        let gy = grads.consume::<B>(&ops.node);
        let (x, w, [sh, sw, ph, pw, groups]) = ops.state;
        let (dx, dw) = B::adder_conv2d_backward(x, w, gy, sh, sw, ph, pw, groups);
        if let Some(node) = node_x {
            grads.register::<B>(node.id, dx);
        }
        if let Some(node) = node_w {
            grads.register::<B>(node.id, dw);
        }
    }
}

#[derive(Debug)]
struct GradScaleBackward;

impl<B: Backend + AdderBackend> Backward<B, 1> for GradScaleBackward {
    /// `eta`.
    type State = f32;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [node] = ops.parents;
        let g = grads.consume::<B>(&ops.node);
        let Some(node) = node else { return };
        let shape = g.shape();
        let numel = shape.num_elements() as f32;
        let norm = B::float_sqrt(B::float_sum(B::float_mul(g.clone(), g.clone())));
        let factor = B::float_mul_scalar(B::float_recip(B::float_clamp_min(norm, 1e-12.into())), (ops.state * numel.sqrt()).into());
        let factor = B::float_reshape(factor, Shape::from(vec![1usize; shape.num_dims()]));
        grads.register::<B>(node.id, B::float_mul(g, factor));
    }
}

impl<B: Backend + AdderBackend, C: CheckpointStrategy> AdderBackend for Autodiff<B, C> {
    fn adder_grad_scale(x: FloatTensor<Self>, eta: f32) -> FloatTensor<Self> {
        let guards = [x.node()];
        let xp = x.into_primitive();
        match GradScaleBackward.prepare::<C>(guards).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(eta, xp),
            OpsKind::UnTracked(prep) => prep.finish(xp),
        }
    }

    fn adder_conv2d_forward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride_h: usize,
        stride_w: usize,
        pad_h: usize,
        pad_w: usize,
        groups: usize,
    ) -> FloatTensor<Self> {
        let guards = [x.node(), weight.node()];
        let (xp, wp) = (x.into_primitive(), weight.into_primitive());
        let y = B::adder_conv2d_forward(xp.clone(), wp.clone(), stride_h, stride_w, pad_h, pad_w, groups);
        match AdderConvBackward.prepare::<C>(guards).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish((xp, wp, [stride_h, stride_w, pad_h, pad_w, groups]), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    /// The backward kernel itself is not differentiated again (no double backward): its
    /// outputs are constants of the graph.
    fn adder_conv2d_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        gy: FloatTensor<Self>,
        stride_h: usize,
        stride_w: usize,
        pad_h: usize,
        pad_w: usize,
        groups: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (dx, dw) = B::adder_conv2d_backward(
            x.into_primitive(),
            weight.into_primitive(),
            gy.into_primitive(),
            stride_h,
            stride_w,
            pad_h,
            pad_w,
            groups,
        );
        (Self::from_inner(dx), Self::from_inner(dw))
    }
}
