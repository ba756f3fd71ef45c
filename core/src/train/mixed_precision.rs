//! Mixed-precision training: the forward and backward passes run in half precision (f16 or
//! bf16) while the optimizer updates f32 master weights, and f16 gradients are protected from
//! underflow by dynamic loss scaling. This is what PyTorch's `torch.autocast` +
//! `torch.amp.GradScaler` do (Micikevicius et al., *Mixed Precision Training*, ICLR 2018, §3);
//! Burn 0.22 has neither (burn issues 4332 and 5696), so the step is composed here from module
//! maps and [`GradientsParams`] re-keying:
//!
//! 1. the master model (f32, on the autodiff device) is copied to a half-precision model whose
//!    parameters keep their [`ParamId`]s (trainable tensors become fresh leaves);
//! 2. the caller's forward runs on the half copy (its input cast with [`MixedPrecision::input`])
//!    and returns an f32 loss (cast the logits/projections to f32 before the loss, as autocast
//!    does for softmax and cross-entropy);
//! 3. for f16 the loss is multiplied by the current scale `S` before `backward`;
//! 4. each gradient is cast to f32 and divided by `S`, registered under the same id, and the
//!    optimizer steps the master weights; BatchNorm running statistics, updated by the half
//!    forward, are copied back to the master in f32;
//! 5. f16 only: when any gradient is not finite the step is skipped (weights, optimizer state
//!    and running statistics untouched) and `S` is halved; after `growth_interval` finite steps
//!    in a row `S` doubles (GradScaler's defaults: 2^16, x2, x0.5, 2000 steps).
//!
//! bf16 has f32's exponent range, so it needs no scaling (as in PyTorch).

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{FloatDType, Tensor};
use serde::{Deserialize, Serialize};

pub use crate::runtime::HalfPrecision;

/// Dynamic loss scaling (PyTorch `GradScaler` semantics and defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LossScaler {
    /// The current scale `S`.
    pub scale: f32,
    /// Factor applied after `growth_interval` finite steps in a row.
    pub growth_factor: f32,
    /// Factor applied after a step with a non-finite gradient.
    pub backoff_factor: f32,
    /// Finite steps in a row before the scale grows.
    pub growth_interval: usize,
    /// Finite steps since the last growth or backoff.
    pub good_steps: usize,
    /// Steps skipped so far because a gradient was not finite.
    pub skipped_steps: usize,
}

impl Default for LossScaler {
    fn default() -> Self {
        Self { scale: 65536.0, growth_factor: 2.0, backoff_factor: 0.5, growth_interval: 2000, good_steps: 0, skipped_steps: 0 }
    }
}

impl LossScaler {
    /// Records the outcome of a step: backoff on a non-finite gradient, growth after
    /// `growth_interval` finite steps in a row.
    pub fn update(&mut self, finite: bool) {
        if finite {
            self.good_steps += 1;
            if self.good_steps >= self.growth_interval {
                self.scale = (self.scale * self.growth_factor).min(f32::MAX);
                self.good_steps = 0;
            }
        } else {
            self.scale = (self.scale * self.backoff_factor).max(f32::MIN_POSITIVE);
            self.good_steps = 0;
            self.skipped_steps += 1;
        }
    }
}

/// Mixed-precision state of a training run: the compute dtype and, for f16, the loss scaler.
#[derive(Debug, Clone, PartialEq)]
pub struct MixedPrecision {
    /// The compute dtype of the forward and backward passes.
    pub half: HalfPrecision,
    /// Loss scaling (f16 only).
    pub scaler: Option<LossScaler>,
}

/// What [`MixedPrecision::step`] did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AmpStep {
    /// Whether the optimizer stepped (false: a gradient was not finite, the step was skipped).
    pub applied: bool,
    /// The loss scale the step used (1 without scaling).
    pub scale: f32,
}

impl MixedPrecision {
    /// Mixed precision in `half`, with GradScaler's default scaling for f16.
    pub fn new(half: HalfPrecision) -> Self {
        Self { half, scaler: (half == HalfPrecision::F16).then(LossScaler::default) }
    }

    /// The compute dtype, as the forward casts its input and output with.
    pub fn compute(&self) -> Compute {
        Compute(Some(self.half.float_dtype()))
    }

    /// The half-precision copy of `master` that the forward runs on: every float tensor cast
    /// to the compute dtype, ids kept, trainable tensors fresh leaves that require grad. Built
    /// through `valid()` so that its BatchNorm running statistics are new cells: clones of a
    /// module share their running statistics, which must stay f32 in the master.
    pub fn compute_copy<M: Module>(&self, master: &M) -> M {
        master.valid().map(&mut CastFloats { dtype: self.half.float_dtype() }).train()
    }

    /// One optimizer step in mixed precision. `forward` runs on the half-precision copy of
    /// `model` and returns the f32 loss to minimise (unscaled) and any outputs the caller wants
    /// (detach them), or an error (then nothing is stepped). Returns the updated master model.
    pub fn step<M: Module, T, E>(
        &mut self,
        optim: &mut ModuleOptimizer,
        lr: f64,
        model: M,
        forward: impl FnOnce(&M) -> Result<(Tensor<1>, T), E>,
    ) -> Result<(M, T, AmpStep), E> {
        let half = self.compute_copy(&model);
        let (loss, out) = forward(&half)?;
        let scale = self.scaler.as_ref().map_or(1.0, |s| s.scale);
        let loss = loss.cast(FloatDType::F32);
        let loss = if scale == 1.0 { loss } else { loss * scale };
        let mut half_grads = GradientsParams::from_grads(loss.backward(), &half);
        let mut unscale = UnscaleGrads { from: &mut half_grads, to: GradientsParams::new(), inv_scale: 1.0 / scale, sums: Vec::new() };
        half.visit(&mut unscale);
        let UnscaleGrads { to: grads, sums, .. } = unscale;
        // Non-finite gradients only matter (and are only checked) under loss scaling: one
        // read-back per step, as GradScaler's `step` does.
        let finite = match &self.scaler {
            Some(_) if !sums.is_empty() => Tensor::cat(sums, 0).sum().into_scalar::<f32>().is_finite(),
            _ => true,
        };
        if let Some(scaler) = &mut self.scaler {
            scaler.update(finite);
        }
        if !finite {
            return Ok((model, out, AmpStep { applied: false, scale }));
        }
        let model = optim.step(lr, model, grads);
        // Running statistics (BatchNorm) were updated on the half copy: bring them back.
        let model = copy_buffers(&half, model);
        Ok((model, out, AmpStep { applied: true, scale }))
    }
}

/// Casts every float tensor of a module to `dtype`, keeping ids and gradient tracking.
struct CastFloats {
    dtype: FloatDType,
}

impl ModuleMapper for CastFloats {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let dtype = self.dtype;
        param.map(|t| t.cast(dtype))
    }
}

/// Moves each trainable parameter's half-precision gradient into an f32 [`GradientsParams`]
/// under the same id, multiplied by `inv_scale`, and keeps a per-tensor sum for the
/// finiteness check.
struct UnscaleGrads<'a> {
    from: &'a mut GradientsParams,
    to: GradientsParams,
    inv_scale: f32,
    sums: Vec<Tensor<1>>,
}

impl ModuleVisitor for UnscaleGrads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.from.remove::<D>(param.id) {
            let grad = grad.cast(FloatDType::F32);
            let grad = if self.inv_scale == 1.0 { grad } else { grad * self.inv_scale };
            self.sums.push(grad.clone().sum());
            self.to.register::<D>(param.id, grad);
        }
    }
}

/// Copies the non-trainable float tensors (BatchNorm running statistics) of `from` into the
/// tensors with the same ids in `to`, cast to `to`'s dtype. Both modules' running statistics
/// are synchronised first (`valid()` folds the pending per-thread updates in).
fn copy_buffers<M: Module>(from: &M, to: M) -> M {
    let mut buffers = BufferIds::default();
    from.visit(&mut buffers);
    let mut collect = CollectBuffers { ids: buffers.0, values: HashMap::new() };
    from.valid().visit(&mut collect);
    let _ = to.valid();
    to.map(&mut ReplaceBuffers { values: collect.values })
}

/// Ids of the float tensors of an autodiff module that do not require grad (its buffers).
#[derive(Default)]
struct BufferIds(Vec<ParamId>);

impl ModuleVisitor for BufferIds {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if !param.val().is_require_grad() {
            self.0.push(param.id);
        }
    }
}

/// The buffers' values, flattened and cast to f32, by id (device tensors: nothing is read
/// back).
struct CollectBuffers {
    ids: Vec<ParamId>,
    values: HashMap<ParamId, Tensor<1>>,
}

impl ModuleVisitor for CollectBuffers {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if self.ids.contains(&param.id) {
            let value = param.val();
            let n = value.shape().num_elements();
            self.values.insert(param.id, value.cast(FloatDType::F32).reshape([n]));
        }
    }
}

struct ReplaceBuffers {
    values: HashMap<ParamId, Tensor<1>>,
}

impl ModuleMapper for ReplaceBuffers {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        match self.values.remove(&param.id) {
            Some(value) => param.map(|t| {
                if t.is_require_grad() {
                    return t;
                }
                let dtype: FloatDType = t.dtype().into();
                let value = value.reshape(t.shape()).cast(dtype);
                if t.device().is_autodiff() { value.autodiff() } else { value }
            }),
            None => param,
        }
    }
}

/// The dtype a training forward computes in: the model's own (f32 training) or a half
/// precision (mixed precision). [`input`](Self::input) casts a batch in, [`output`](Self::output)
/// casts logits/projections back to f32 before the loss (as autocast runs softmax and
/// cross-entropy in f32).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Compute(Option<FloatDType>);

impl Compute {
    /// A batch in the compute dtype.
    pub fn input<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self.0 {
            Some(dtype) => x.cast(dtype),
            None => x,
        }
    }

    /// A network output in f32.
    pub fn output<const D: usize>(self, y: Tensor<D>) -> Tensor<D> {
        match self.0 {
            Some(_) => y.cast(FloatDType::F32),
            None => y,
        }
    }
}

/// One optimizer step of a training loop, in f32 (`amp` is `None`: backward on `model`,
/// `optim` steps it) or in mixed precision ([`MixedPrecision::step`]). `forward` computes the
/// loss on the model it is given, casting its input and output with the [`Compute`] it is
/// given, and returns anything else the loop needs (detached), or an error (nothing stepped).
pub fn train_step<M: Module, T, E>(
    amp: Option<&mut MixedPrecision>,
    optim: &mut ModuleOptimizer,
    lr: f64,
    model: M,
    forward: impl FnOnce(&M, Compute) -> Result<(Tensor<1>, T), E>,
) -> Result<(M, T), E> {
    match amp {
        None => {
            let (loss, out) = forward(&model, Compute(None))?;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            Ok((optim.step(lr, model, grads), out))
        }
        Some(amp) => {
            let compute = amp.compute();
            let (model, out, _) = amp.step(optim, lr, model, |m| forward(m, compute))?;
            Ok((model, out))
        }
    }
}
