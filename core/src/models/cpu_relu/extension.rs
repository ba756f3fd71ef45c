//! `relu(a [+ b])` as a Burn backend extension on Flex and `Autodiff<Flex>`, with its own
//! backward pass (the output gradient where the output is positive, zero elsewhere, to each
//! summand).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Flex, backend_extension};

use crate::models::cpu_conv::extension::{tensor, values};
use crate::models::cpu_conv::kernels::parallel_vec_uninit;

/// Values per parallel task.
const RUN: usize = 16 * 1024;

/// `max(x, 0)` and `max(a + b, 0)` element-wise (operands of one shape).
#[backend_extension(Flex, Autodiff)]
pub trait CpuReluBackend: Backend {
    fn cpu_relu(x: FloatTensor<Self>) -> FloatTensor<Self>;
    fn cpu_add_relu(a: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// The backward kernel on the inner backend: `dy` where `output > 0` (or NaN), else 0.
pub trait CpuReluGradients: Backend {
    fn cpu_relu_backward(
        output: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

/// `x` where positive or NaN (NaN propagates, as in Flex's and PyTorch's ReLU), else 0.
fn positive_part(x: f32) -> f32 {
    if x.is_nan() || x > 0.0 { x } else { 0.0 }
}

/// `max(a + b, 0)` (`b` absent: `max(a, 0)`), in parallel runs.
pub fn add_relu_values(a: &[f32], b: Option<&[f32]>) -> Vec<f32> {
    if let Some(b) = b {
        assert_eq!(a.len(), b.len(), "add_relu: operands of different lengths");
    }
    parallel_vec_uninit(a.len(), RUN, |index, out| {
        let a = &a[index * RUN..][..out.len()];
        match b {
            Some(b) => {
                let b = &b[index * RUN..][..out.len()];
                out.iter_mut()
                    .zip(a.iter().zip(b))
                    .for_each(|(o, (&x, &y))| {
                        o.write(positive_part(x + y));
                    });
            }
            None => out.iter_mut().zip(a).for_each(|(o, &x)| {
                o.write(positive_part(x));
            }),
        }
    })
}

/// The gradient of [`add_relu_values`] with respect to each summand.
pub fn relu_backward_values(output: &[f32], output_grad: &[f32]) -> Vec<f32> {
    assert_eq!(
        output.len(),
        output_grad.len(),
        "relu backward: operands of different lengths"
    );
    parallel_vec_uninit(output.len(), RUN, |index, out| {
        let (y, g) = (
            &output[index * RUN..][..out.len()],
            &output_grad[index * RUN..][..out.len()],
        );
        out.iter_mut()
            .zip(y.iter().zip(g))
            .for_each(|(o, (&y, &g))| {
                o.write(if y.is_nan() || y > 0.0 { g } else { 0.0 });
            });
    })
}

impl CpuReluBackend for Flex {
    fn cpu_relu(x: FlexTensor) -> FlexTensor {
        let shape = x.layout().shape().clone();
        tensor(add_relu_values(&values(&x), None), shape)
    }

    fn cpu_add_relu(a: FlexTensor, b: FlexTensor) -> FlexTensor {
        let shape = a.layout().shape().clone();
        assert_eq!(
            &shape,
            b.layout().shape(),
            "add_relu: operands of different shapes"
        );
        tensor(add_relu_values(&values(&a), Some(&values(&b))), shape)
    }
}

impl CpuReluGradients for Flex {
    fn cpu_relu_backward(output: FlexTensor, output_grad: FlexTensor) -> FlexTensor {
        let shape = output.layout().shape().clone();
        tensor(
            relu_backward_values(&values(&output), &values(&output_grad)),
            shape,
        )
    }
}

/// Backward of `relu(x)` (`N = 1`) and of `relu(a + b)` (`N = 2`): the masked output gradient
/// to every tracked parent.
#[derive(Debug)]
struct CpuReluBackward;

impl<B: CpuReluBackend + CpuReluGradients, const N: usize> Backward<B, N> for CpuReluBackward {
    type State = FloatTensor<B>;

    fn backward(
        self,
        ops: Ops<Self::State, N>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let output_grad = grads.consume::<B>(&ops.node);
        let grad = B::cpu_relu_backward(ops.state, output_grad);
        for node in ops.parents.into_iter().flatten() {
            grads.register::<B>(node.id, grad.clone());
        }
    }
}

impl<B: CpuReluBackend + CpuReluGradients, C: CheckpointStrategy> CpuReluBackend
    for Autodiff<B, C>
{
    fn cpu_relu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let (x, x_node) = x.into_parts();
        match CpuReluBackward
            .prepare::<C>([x_node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let output = B::cpu_relu(x);
                prep.finish(output.clone(), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::cpu_relu(x)),
        }
    }

    fn cpu_add_relu(a: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self> {
        let (a, a_node) = a.into_parts();
        let (b, b_node) = b.into_parts();
        match CpuReluBackward
            .prepare::<C>([a_node, b_node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let output = B::cpu_add_relu(a, b);
                prep.finish(output.clone(), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::cpu_add_relu(a, b)),
        }
    }
}
