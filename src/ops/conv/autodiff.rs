//! The depthwise convolution under `Autodiff<B>`: the forward pass runs `B`'s kernel and records
//! a backward step that runs `B`'s input- and weight-gradient kernels for the parents that need
//! them.

use super::{DwConvBackend, DwGeo};
use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{AutodiffBackend, Backend};

#[derive(Debug)]
struct DwConvBackward;

impl<B: Backend + DwConvBackend> Backward<B, 2> for DwConvBackward {
    /// The forward inputs (shared handles, no copy) and the geometry.
    type State = (FloatTensor<B>, FloatTensor<B>, DwGeo);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [node_x, node_w] = ops.parents;
        let dy = grads.consume::<B>(&ops.node);
        let (x, w, geo) = ops.state;
        if let Some(node) = node_x {
            grads.register::<B>(node.id, B::dwconv_backward_input(x.clone(), w.clone(), dy.clone(), geo));
        }
        if let Some(node) = node_w {
            grads.register::<B>(node.id, B::dwconv_backward_weight(x, w, dy, geo));
        }
    }
}

impl<B: Backend + DwConvBackend, C: CheckpointStrategy> DwConvBackend for Autodiff<B, C> {
    fn dwconv_forward(x: FloatTensor<Self>, w: FloatTensor<Self>, geo: DwGeo) -> FloatTensor<Self> {
        let guards = [x.node(), w.node()];
        let (xp, wp) = (x.into_primitive(), w.into_primitive());
        let y = B::dwconv_forward(xp.clone(), wp.clone(), geo);
        match DwConvBackward.prepare::<C>(guards).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish((xp, wp, geo), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    /// Not differentiated again (no double backward).
    fn dwconv_backward_input(x: FloatTensor<Self>, w: FloatTensor<Self>, dy: FloatTensor<Self>, geo: DwGeo) -> FloatTensor<Self> {
        let [x, w, dy] = [x, w, dy].map(|t| t.into_primitive());
        Self::from_inner(B::dwconv_backward_input(x, w, dy, geo))
    }

    /// Not differentiated again (no double backward).
    fn dwconv_backward_weight(x: FloatTensor<Self>, w: FloatTensor<Self>, dy: FloatTensor<Self>, geo: DwGeo) -> FloatTensor<Self> {
        let [x, w, dy] = [x, w, dy].map(|t| t.into_primitive());
        Self::from_inner(B::dwconv_backward_weight(x, w, dy, geo))
    }
}
