//! The fused BatchNorm + activation under `Autodiff<B>`: the forward pass runs `B`'s kernel and
//! records a backward step that runs `B`'s fused backward kernel. The statistics are outputs
//! without gradient.

use super::BnActBackend;
use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{AutodiffBackend, Backend};

#[derive(Debug)]
struct BnActBackward;

/// Forward input, gamma, beta, mean, variance (shared handles, no copy), eps, act code.
type State<B> = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>, FloatTensor<B>, FloatTensor<B>, f32, usize);

impl<B: Backend + BnActBackend> Backward<B, 3> for BnActBackward {
    type State = State<B>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let dy = grads.consume::<B>(&ops.node);
        let (x, gamma, beta, mean, variance, eps, act) = ops.state;
        let (dx, dgamma, dbeta) = B::bn_act_backward(x, gamma, beta, mean, variance, dy, eps, act);
        for (node, g) in [(node_x, dx), (node_gamma, dgamma), (node_beta, dbeta)] {
            if let Some(node) = node {
                grads.register::<B>(node.id, g);
            }
        }
    }
}

impl<B: Backend + BnActBackend, C: CheckpointStrategy> BnActBackend for Autodiff<B, C> {
    fn bn_act_forward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        eps: f32,
        act: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let guards = [x.node(), gamma.node(), beta.node()];
        let (xp, gp, bp) = (x.into_primitive(), gamma.into_primitive(), beta.into_primitive());
        let (y, mean, variance) = B::bn_act_forward(xp.clone(), gp.clone(), bp.clone(), eps, act);
        let out = match BnActBackward.prepare::<C>(guards).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish((xp, gp, bp, mean.clone(), variance.clone(), eps, act), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        };
        (out, Self::from_inner(mean), Self::from_inner(variance))
    }

    /// The backward kernel is not differentiated again (no double backward).
    fn bn_act_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        eps: f32,
        act: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let [x, gamma, beta, mean, variance, dy] = [x, gamma, beta, mean, variance, dy].map(|t| t.into_primitive());
        let (dx, dg, db) = B::bn_act_backward(x, gamma, beta, mean, variance, dy, eps, act);
        (Self::from_inner(dx), Self::from_inner(dg), Self::from_inner(db))
    }
}
