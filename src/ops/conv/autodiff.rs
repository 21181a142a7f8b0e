//! The depthwise convolution under `Autodiff<B>`: the forward pass runs `B`'s kernel and records
//! a backward step that runs `B`'s input- and weight-gradient kernels for the parents that need
//! them.

use super::DwConvBackend;
use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{AutodiffBackend, Backend};

/// `(stride_h, stride_w, pad_h, pad_w)`.
type Geo = [usize; 4];

#[derive(Debug)]
struct DwConvBackward;

impl<B: Backend + DwConvBackend> Backward<B, 2> for DwConvBackward {
    /// The forward inputs (shared handles, no copy) and the geometry.
    type State = (FloatTensor<B>, FloatTensor<B>, Geo);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [node_x, node_w] = ops.parents;
        let dy = grads.consume::<B>(&ops.node);
        let (x, w, [sh, sw, ph, pw]) = ops.state;
        if let Some(node) = node_x {
            grads.register::<B>(node.id, B::dwconv_backward_input(x.clone(), w.clone(), dy.clone(), sh, sw, ph, pw));
        }
        if let Some(node) = node_w {
            grads.register::<B>(node.id, B::dwconv_backward_weight(x, w, dy, sh, sw, ph, pw));
        }
    }
}

impl<B: Backend + DwConvBackend, C: CheckpointStrategy> DwConvBackend for Autodiff<B, C> {
    fn dwconv_forward(x: FloatTensor<Self>, w: FloatTensor<Self>, sh: usize, sw: usize, ph: usize, pw: usize) -> FloatTensor<Self> {
        let guards = [x.node(), w.node()];
        let (xp, wp) = (x.into_primitive(), w.into_primitive());
        let y = B::dwconv_forward(xp.clone(), wp.clone(), sh, sw, ph, pw);
        match DwConvBackward.prepare::<C>(guards).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish((xp, wp, [sh, sw, ph, pw]), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    /// Not differentiated again (no double backward).
    fn dwconv_backward_input(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        sh: usize,
        sw: usize,
        ph: usize,
        pw: usize,
    ) -> FloatTensor<Self> {
        let [x, w, dy] = [x, w, dy].map(|t| t.into_primitive());
        Self::from_inner(B::dwconv_backward_input(x, w, dy, sh, sw, ph, pw))
    }

    /// Not differentiated again (no double backward).
    fn dwconv_backward_weight(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        sh: usize,
        sw: usize,
        ph: usize,
        pw: usize,
    ) -> FloatTensor<Self> {
        let [x, w, dy] = [x, w, dy].map(|t| t.into_primitive());
        Self::from_inner(B::dwconv_backward_weight(x, w, dy, sh, sw, ph, pw))
    }
}
