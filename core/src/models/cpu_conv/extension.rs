//! The convolution of [`super::kernels`] as a Burn backend extension: implemented on Flex, and
//! on `Autodiff<Flex>` with its own backward pass (the input and weight gradients of
//! [`super::kernels`]), so that autodiff never derives the weight gradient through a convolution
//! with the batch as channels.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Flex, backend_extension};
use burn::tensor::{DType, Shape, TensorData};

use super::kernels::{self, ConvGeometry};

/// Stride and padding (height, width) of one convolution; groups 1, dilation 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvSpec {
    pub stride: [usize; 2],
    pub padding: [usize; 2],
}

/// A convolution (no bias: the caller adds it) whose backward pass is ours.
#[backend_extension(Flex, Autodiff)]
pub trait CpuConvBackend: Backend {
    /// `x[B, c_in, H, W]`, `weight[c_out, c_in, kh, kw]` -> `[B, c_out, out_h, out_w]`.
    fn cpu_conv2d(x: FloatTensor<Self>, weight: FloatTensor<Self>, stride_h: usize, stride_w: usize, pad_h: usize, pad_w: usize) -> FloatTensor<Self>;
}

/// The backward kernels on the inner backend: the gradients of
/// [`CpuConvBackend::cpu_conv2d`] with respect to `x` and to `weight`.
pub trait CpuConvGradients: Backend {
    fn cpu_conv2d_grad_input(x: FloatTensor<Self>, weight: FloatTensor<Self>, output_grad: FloatTensor<Self>, spec: ConvSpec) -> FloatTensor<Self>;
    fn cpu_conv2d_grad_weight(x: FloatTensor<Self>, weight: FloatTensor<Self>, output_grad: FloatTensor<Self>, spec: ConvSpec) -> FloatTensor<Self>;
}

/// The geometry of `x` convolved with `weight`.
fn geometry(x: &FlexTensor, weight: &FlexTensor, spec: ConvSpec) -> ConvGeometry {
    let xs = x.layout().shape();
    let ws = weight.layout().shape();
    assert_eq!(xs.num_dims(), 4, "cpu conv: the input must be [batch, channels, height, width]");
    assert_eq!(ws.num_dims(), 4, "cpu conv: the weight must be [out, in, kh, kw]");
    assert_eq!(xs[1], ws[1], "cpu conv: input channels {} but the weight expects {}", xs[1], ws[1]);
    let geo = ConvGeometry {
        batch: xs[0],
        c_in: xs[1],
        height: xs[2],
        width: xs[3],
        c_out: ws[0],
        kernel: [ws[2], ws[3]],
        stride: spec.stride,
        padding: spec.padding,
    };
    assert!(geo.is_valid(), "cpu conv: kernel {:?} does not fit the padded input {:?}", geo.kernel, [geo.height, geo.width]);
    geo
}

/// The f32 values of a Flex tensor in row-major order (a copy only when it is a strided view).
pub(crate) fn values(t: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    assert_eq!(t.dtype(), DType::F32, "our CPU kernels run in f32 only");
    match t.as_slice::<f32>() {
        Some(slice) => std::borrow::Cow::Borrowed(slice),
        None => std::borrow::Cow::Owned(t.to_contiguous().as_slice::<f32>().expect("contiguous after to_contiguous").to_vec()),
    }
}

/// A contiguous f32 Flex tensor of `shape`.
pub(crate) fn tensor(values: Vec<f32>, shape: impl Into<Shape>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

fn spec(stride_h: usize, stride_w: usize, pad_h: usize, pad_w: usize) -> ConvSpec {
    ConvSpec { stride: [stride_h, stride_w], padding: [pad_h, pad_w] }
}

impl CpuConvBackend for Flex {
    fn cpu_conv2d(x: FlexTensor, weight: FlexTensor, stride_h: usize, stride_w: usize, pad_h: usize, pad_w: usize) -> FlexTensor {
        let geo = geometry(&x, &weight, spec(stride_h, stride_w, pad_h, pad_w));
        let y = kernels::forward(&geo, &values(&x), &values(&weight), None);
        let [oh, ow] = geo.out_size();
        tensor(y, [geo.batch, geo.c_out, oh, ow])
    }
}

impl CpuConvGradients for Flex {
    fn cpu_conv2d_grad_input(x: FlexTensor, weight: FlexTensor, output_grad: FlexTensor, spec: ConvSpec) -> FlexTensor {
        let geo = geometry(&x, &weight, spec);
        let dx = kernels::grad_input(&geo, &values(&weight), &values(&output_grad));
        tensor(dx, [geo.batch, geo.c_in, geo.height, geo.width])
    }

    fn cpu_conv2d_grad_weight(x: FlexTensor, weight: FlexTensor, output_grad: FlexTensor, spec: ConvSpec) -> FlexTensor {
        let geo = geometry(&x, &weight, spec);
        let dw = kernels::grad_weight(&geo, &values(&x), &values(&output_grad));
        tensor(dw, [geo.c_out, geo.c_in, geo.kernel[0], geo.kernel[1]])
    }
}

/// The backward step: both gradients from the saved input and weight.
#[derive(Debug)]
struct CpuConv2dBackward;

impl<B: CpuConvBackend + CpuConvGradients> Backward<B, 2> for CpuConv2dBackward {
    type State = (FloatTensor<B>, FloatTensor<B>, ConvSpec);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [node_x, node_weight] = ops.parents;
        let output_grad = grads.consume::<B>(&ops.node);
        let (x, weight, spec) = ops.state;
        if let Some(node) = node_x {
            let dx = B::cpu_conv2d_grad_input(x.clone(), weight.clone(), output_grad.clone(), spec);
            grads.register::<B>(node.id, dx);
        }
        if let Some(node) = node_weight {
            let dw = B::cpu_conv2d_grad_weight(x, weight, output_grad, spec);
            grads.register::<B>(node.id, dw);
        }
    }
}

impl<B: CpuConvBackend + CpuConvGradients, C: CheckpointStrategy> CpuConvBackend for Autodiff<B, C> {
    fn cpu_conv2d(x: FloatTensor<Self>, weight: FloatTensor<Self>, stride_h: usize, stride_w: usize, pad_h: usize, pad_w: usize) -> FloatTensor<Self> {
        let (x, x_node) = x.into_parts();
        let (weight, weight_node) = weight.into_parts();
        let forward = |x, weight| B::cpu_conv2d(x, weight, stride_h, stride_w, pad_h, pad_w);
        match CpuConv2dBackward.prepare::<C>([x_node, weight_node]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let state = (x.clone(), weight.clone(), spec(stride_h, stride_w, pad_h, pad_w));
                prep.finish(state, forward(x, weight))
            }
            OpsKind::UnTracked(prep) => prep.finish(forward(x, weight)),
        }
    }
}
