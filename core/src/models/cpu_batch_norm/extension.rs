//! Training-mode BatchNorm of [`super::kernels`] as a Burn backend extension on Flex and
//! `Autodiff<Flex>`, with its own backward pass.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, AutodiffBackend, Backend, Flex, backend_extension};
use burn::tensor::Shape;

use super::kernels::{self, NormGeometry, Statistics};
use crate::models::cpu_conv::extension::{tensor, values};

/// BatchNorm with the batch's statistics (no running statistics: the caller updates them).
#[backend_extension(Flex, Autodiff)]
pub trait CpuBatchNormBackend: Backend {
    /// `[2, C]`: the per-channel mean (row 0) and biased variance (row 1) of `x[B, C, ...]`.
    /// Not differentiated (a constant under autodiff); [`CpuBatchNormBackend::cpu_batch_norm`]
    /// differentiates through the statistics itself.
    fn cpu_batch_norm_statistics(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// `γ·(x - mean)/√(var + ε) + β` with `statistics` of `x` from
    /// [`CpuBatchNormBackend::cpu_batch_norm_statistics`].
    fn cpu_batch_norm(x: FloatTensor<Self>, gamma: FloatTensor<Self>, beta: FloatTensor<Self>, statistics: FloatTensor<Self>, epsilon: f64) -> FloatTensor<Self>;

    /// Evaluation-mode BatchNorm: the same formula with fixed `statistics` (the running mean in
    /// row 0, the running variance in row 1), differentiated with the statistics as constants.
    fn cpu_batch_norm_frozen(x: FloatTensor<Self>, gamma: FloatTensor<Self>, beta: FloatTensor<Self>, statistics: FloatTensor<Self>, epsilon: f64) -> FloatTensor<Self>;
}

/// The backward kernel on the inner backend: `(dx, dγ, dβ)`.
pub trait CpuBatchNormGradients: Backend {
    fn cpu_batch_norm_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        statistics: FloatTensor<Self>,
        epsilon: f64,
        output_grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

    /// `(dx, dγ, dβ)` of [`CpuBatchNormBackend::cpu_batch_norm_frozen`]; `dγ` and `dβ` only
    /// with `parameters` (else `None`).
    fn cpu_batch_norm_frozen_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        statistics: FloatTensor<Self>,
        epsilon: f64,
        output_grad: FloatTensor<Self>,
        parameters: bool,
    ) -> (FloatTensor<Self>, Option<(FloatTensor<Self>, FloatTensor<Self>)>);
}

fn geometry(shape: &Shape) -> NormGeometry {
    assert!(shape.num_dims() >= 2, "cpu batch norm: the input needs a channel dimension");
    NormGeometry { batch: shape[0], channels: shape[1], pixels: (2..shape.num_dims()).map(|d| shape[d]).product() }
}

/// Splits a `[2, C]` statistics tensor into (mean, var).
fn mean_var(statistics: &FlexTensor) -> (Vec<f32>, Vec<f32>) {
    let s = values(statistics);
    let c = s.len() / 2;
    (s[..c].to_vec(), s[c..].to_vec())
}

impl CpuBatchNormBackend for Flex {
    fn cpu_batch_norm_statistics(x: FlexTensor) -> FlexTensor {
        let geo = geometry(x.layout().shape());
        let (mut mean, var) = kernels::statistics(&geo, &values(&x));
        mean.extend(var);
        tensor(mean, Shape::new([2, geo.channels]))
    }

    fn cpu_batch_norm(x: FlexTensor, gamma: FlexTensor, beta: FlexTensor, statistics: FlexTensor, epsilon: f64) -> FlexTensor {
        let shape = x.layout().shape().clone();
        let geo = geometry(&shape);
        let (mean, var) = mean_var(&statistics);
        let statistics = Statistics { mean: &mean, var: &var, epsilon };
        tensor(kernels::normalize(&geo, &values(&x), &values(&gamma), &values(&beta), statistics), shape)
    }

    fn cpu_batch_norm_frozen(x: FlexTensor, gamma: FlexTensor, beta: FlexTensor, statistics: FlexTensor, epsilon: f64) -> FlexTensor {
        Self::cpu_batch_norm(x, gamma, beta, statistics, epsilon)
    }
}

impl CpuBatchNormGradients for Flex {
    fn cpu_batch_norm_backward(x: FlexTensor, gamma: FlexTensor, statistics: FlexTensor, epsilon: f64, output_grad: FlexTensor) -> (FlexTensor, FlexTensor, FlexTensor) {
        let shape = x.layout().shape().clone();
        let geo = geometry(&shape);
        let (mean, var) = mean_var(&statistics);
        let statistics = Statistics { mean: &mean, var: &var, epsilon };
        let (dx, dgamma, dbeta) = kernels::backward(&geo, &values(&x), &values(&gamma), statistics, &values(&output_grad));
        (tensor(dx, shape), tensor(dgamma, Shape::new([geo.channels])), tensor(dbeta, Shape::new([geo.channels])))
    }

    fn cpu_batch_norm_frozen_backward(
        x: FlexTensor,
        gamma: FlexTensor,
        statistics: FlexTensor,
        epsilon: f64,
        output_grad: FlexTensor,
        parameters: bool,
    ) -> (FlexTensor, Option<(FlexTensor, FlexTensor)>) {
        let shape = x.layout().shape().clone();
        let geo = geometry(&shape);
        let (mean, var) = mean_var(&statistics);
        let statistics = Statistics { mean: &mean, var: &var, epsilon };
        let (dx, dgamma, dbeta) = kernels::backward_frozen(&geo, &values(&x), &values(&gamma), statistics, &values(&output_grad), parameters);
        let parameter_grads = parameters.then(|| (tensor(dgamma, Shape::new([geo.channels])), tensor(dbeta, Shape::new([geo.channels]))));
        (tensor(dx, shape), parameter_grads)
    }
}

/// The backward step of both BatchNorm ops: through the batch statistics (training) or with
/// them constant (`frozen`, evaluation).
#[derive(Debug)]
struct CpuBatchNormBackward {
    frozen: bool,
}

impl<B: CpuBatchNormBackend + CpuBatchNormGradients> Backward<B, 3> for CpuBatchNormBackward {
    type State = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>, f64);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let output_grad = grads.consume::<B>(&ops.node);
        let (x, gamma, statistics, epsilon) = ops.state;
        let (dx, parameter_grads) = if self.frozen {
            let parameters = node_gamma.is_some() || node_beta.is_some();
            B::cpu_batch_norm_frozen_backward(x, gamma, statistics, epsilon, output_grad, parameters)
        } else {
            let (dx, dgamma, dbeta) = B::cpu_batch_norm_backward(x, gamma, statistics, epsilon, output_grad);
            (dx, Some((dgamma, dbeta)))
        };
        if let Some(node) = node_x {
            grads.register::<B>(node.id, dx);
        }
        if let Some((dgamma, dbeta)) = parameter_grads {
            for (node, grad) in [(node_gamma, dgamma), (node_beta, dbeta)] {
                if let Some(node) = node {
                    grads.register::<B>(node.id, grad);
                }
            }
        }
    }
}

/// Either BatchNorm op on `Autodiff<B>`: the inner normalisation, recorded with its backward step.
fn tracked<B: CpuBatchNormBackend + CpuBatchNormGradients, C: CheckpointStrategy>(
    frozen: bool,
    x: FloatTensor<Autodiff<B, C>>,
    gamma: FloatTensor<Autodiff<B, C>>,
    beta: FloatTensor<Autodiff<B, C>>,
    statistics: FloatTensor<Autodiff<B, C>>,
    epsilon: f64,
) -> FloatTensor<Autodiff<B, C>> {
    let (x, x_node) = x.into_parts();
    let (gamma, gamma_node) = gamma.into_parts();
    let (beta, beta_node) = beta.into_parts();
    let statistics = statistics.into_primitive();
    match (CpuBatchNormBackward { frozen }).prepare::<C>([x_node, gamma_node, beta_node]).compute_bound().stateful() {
        OpsKind::Tracked(prep) => {
            let state = (x.clone(), gamma.clone(), statistics.clone(), epsilon);
            prep.finish(state, B::cpu_batch_norm(x, gamma, beta, statistics, epsilon))
        }
        OpsKind::UnTracked(prep) => prep.finish(B::cpu_batch_norm(x, gamma, beta, statistics, epsilon)),
    }
}

impl<B: CpuBatchNormBackend + CpuBatchNormGradients, C: CheckpointStrategy> CpuBatchNormBackend for Autodiff<B, C> {
    fn cpu_batch_norm_statistics(x: FloatTensor<Self>) -> FloatTensor<Self> {
        <Self as AutodiffBackend>::from_inner(B::cpu_batch_norm_statistics(x.into_primitive()))
    }

    fn cpu_batch_norm(x: FloatTensor<Self>, gamma: FloatTensor<Self>, beta: FloatTensor<Self>, statistics: FloatTensor<Self>, epsilon: f64) -> FloatTensor<Self> {
        tracked::<B, C>(false, x, gamma, beta, statistics, epsilon)
    }

    fn cpu_batch_norm_frozen(x: FloatTensor<Self>, gamma: FloatTensor<Self>, beta: FloatTensor<Self>, statistics: FloatTensor<Self>, epsilon: f64) -> FloatTensor<Self> {
        tracked::<B, C>(true, x, gamma, beta, statistics, epsilon)
    }
}
