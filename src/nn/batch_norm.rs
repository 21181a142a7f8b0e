//! BatchNorm whose running statistics can be re-estimated without autodiff
//! ([`BnMode::Estimate`], used by [`crate::train::BnEstimator`]) and which, stored at its
//! largest width, normalises any leading slice of channels (the NetAug supernets' BNs).

use super::permute_param;
use crate::models::Act;
use crate::ops::bn_act::{BnAct, bn_act_train};
use burn::module::{Module, Param, RunningState};
use burn::tensor::module::batch_norm;
use burn::tensor::{Device, Int, Tensor};

/// Weight of the current batch in a [`DynBn`]'s running statistics during training.
pub const DEFAULT_MOMENTUM: f64 = 0.1;

/// Which statistics a [`DynBn`] normalises with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BnMode {
    /// Batch statistics and a running-statistics update on an autodiff device (training);
    /// running statistics on any other device (evaluation).
    #[default]
    ByDevice,
    /// Batch statistics and a running-statistics update on any device: BN re-estimation, run
    /// on the inner (non-autodiff) device so that no graph is recorded.
    Estimate,
}

/// BatchNorm stored at the largest width; a pass normalises the leading `c` channels and
/// updates only their running statistics.
#[derive(Module, Debug)]
pub struct DynBn {
    /// Scale.
    pub gamma: Param<Tensor<1>>,
    /// Shift.
    pub beta: Param<Tensor<1>>,
    /// Running mean (all channels).
    pub running_mean: RunningState<Tensor<1>>,
    /// Running variance (all channels).
    pub running_var: RunningState<Tensor<1>>,
    /// Weight of the current batch in the running statistics (0.1; `1/k` during BN reset).
    #[module(skip)]
    pub momentum: f64,
    /// Which statistics [`forward`](Self::forward) uses.
    #[module(skip)]
    pub mode: BnMode,
}

impl DynBn {
    /// A BatchNorm over `max` channels.
    pub fn new(max: usize, device: &Device) -> Self {
        Self {
            gamma: Param::from_tensor(Tensor::ones([max], device)),
            beta: Param::from_tensor(Tensor::zeros([max], device)),
            running_mean: RunningState::new(Tensor::zeros([max], device)),
            running_var: RunningState::new(Tensor::ones([max], device)),
            momentum: DEFAULT_MOMENTUM,
            mode: BnMode::ByDevice,
        }
    }

    /// Normalises `x: [n, c, h, w]` with channels `[0, c)`: batch statistics (and a
    /// running-statistics update) on an autodiff device or in [`BnMode::Estimate`], running
    /// statistics otherwise.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.normalize(x, true)
    }

    /// [`forward`](Self::forward), updating the running statistics only when `track` (the
    /// augmented passes leave the tiny model's statistics alone).
    pub fn normalize(&self, x: Tensor<4>, track: bool) -> Tensor<4> {
        self.normalize_act(x, track, Act::None)
    }

    /// [`normalize`](Self::normalize) followed by `act`; with batch statistics on the CPU the
    /// BatchNorm and a ReLU / ReLU6 run as one fused op ([`crate::ops::bn_act`]).
    pub fn normalize_act(&self, x: Tensor<4>, track: bool, act: Act) -> Tensor<4> {
        let c = x.dims()[1];
        let (g, b) = (self.gamma.val().narrow(0, 0, c), self.beta.val().narrow(0, 0, c));
        if self.mode == BnMode::ByDevice && !x.device().is_autodiff() {
            let (m, v) = (self.running_mean.value().narrow(0, 0, c), self.running_var.value().narrow(0, 0, c));
            return act.apply(batch_norm(x, g, b, m, v, 1e-5));
        }
        let (fused, after) = match act {
            Act::None => (BnAct::None, Act::None),
            Act::Relu => (BnAct::Relu, Act::None),
            Act::Relu6 => (BnAct::Relu6, Act::None),
            Act::Hswish => (BnAct::None, Act::Hswish),
        };
        let r = bn_act_train(x, g, b, 1e-5, fused);
        if track {
            let mom = self.momentum as f32;
            let upd = |state: &RunningState<Tensor<1>>, batch: Tensor<1>| {
                let full = state.value_sync();
                let old = full.clone().narrow(0, 0, c);
                let new = old.mul_scalar(1.0 - mom).add(batch.detach().mul_scalar(mom));
                set_running(state, full.slice_assign(0..c, new).detach());
            };
            upd(&self.running_mean, r.mean);
            upd(&self.running_var, r.variance);
        }
        after.apply(r.output)
    }

    /// The running `(mean, variance)` over all channels.
    pub fn statistics(&self) -> (Tensor<1>, Tensor<1>) {
        (self.running_mean.value_sync(), self.running_var.value_sync())
    }

    /// Replaces the running statistics (all channels), moved onto this BN's device kind
    /// (autodiff or not).
    pub fn set_statistics(&self, mean: Tensor<1>, var: Tensor<1>) {
        let autodiff = self.running_mean.value().is_autodiff();
        let fit = |t: Tensor<1>| {
            if autodiff { t.detach().autodiff() } else { t.without_autodiff() }
        };
        set_running(&self.running_mean, fit(mean));
        set_running(&self.running_var, fit(var));
    }

    /// Permutes the channels (parameters and running statistics).
    pub fn permute(self, perm: Tensor<1, Int>) -> Self {
        let (m, v) = (self.running_mean.value_sync(), self.running_var.value_sync());
        set_running(&self.running_mean, m.select(0, perm.clone()));
        set_running(&self.running_var, v.select(0, perm.clone()));
        Self { gamma: permute_param(self.gamma, 0, perm.clone()), beta: permute_param(self.beta, 0, perm), ..self }
    }
}

/// Sets a running state now. burn's `RunningState::update` only queues the value per thread until
/// the next `value_sync`/`valid()`; until then `value()`, records and checkpoints still see the
/// previous value, and queued values from several threads are averaged. Syncing at once keeps
/// every reader (checkpoints, export) on the latest statistics, on any thread.
fn set_running(state: &RunningState<Tensor<1>>, value: Tensor<1>) {
    state.update(value);
    let _ = state.value_sync();
}
