//! Our convolution for Burn's CPU backend (Flex), used by every model's `Conv2d` layers through
//! [`conv2d`].
//!
//! Why: profiling a ResNet-18 training step on Flex (`perf`, batch 128, width 64) showed its
//! convolutions' weight gradient, which Burn derives as a convolution with the batch as channels
//! and a 3x3 output, running at a fifth of the rate of the same multiply done as one matrix
//! product, and its forward spending more time converting layouts than multiplying. Ours is
//! im2col + `gemm` per chunk of images for the forward pass and both gradients
//! ([`kernels`]), hooked into autodiff as a backend extension with its own backward pass
//! ([`extension`]). The gain is measured by `scripts/bench-cpu.sh` (README, CPU parity).
//!
//! Where it applies: Flex devices (with or without autodiff), f32, groups 1, dilation 1,
//! symmetric padding. Everything else (GPU backends, half precision, the page's wasm build)
//! runs Burn's `Conv2d::forward`. `HYPERSPHERE_CPU_CONV=burn` in the environment switches ours
//! off (and [`super::cpu_batch_norm`] with it), to compare with Burn's.

#[cfg(feature = "cpu-conv")]
pub mod extension;
#[cfg(feature = "cpu-conv")]
pub mod kernels;

use burn::nn::conv::Conv2d;
use burn::tensor::Tensor;

/// `conv.forward(x)`, by our CPU kernels where they apply (see the module documentation).
pub fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    #[cfg(feature = "cpu-conv")]
    if let Some(spec) = ours(conv, &x) {
        use burn::backend::Dispatch;
        use extension::CpuConvBackend;
        let ([sh, sw], [ph, pw]) = (spec.stride, spec.padding);
        let y = <Dispatch as CpuConvBackend>::cpu_conv2d(x.into_dispatch(), conv.weight.val().into_dispatch(), sh, sw, ph, pw);
        let y = Tensor::<4>::from_dispatch(y);
        return match &conv.bias {
            Some(bias) => {
                let c = bias.dims()[0];
                y + bias.val().reshape([1, c, 1, 1])
            }
            None => y,
        };
    }
    conv.forward(x)
}

/// Whether ours is switched on (`HYPERSPHERE_CPU_CONV` unset or anything but `burn`).
#[cfg(feature = "cpu-conv")]
pub fn enabled() -> bool {
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ENABLED.get_or_init(|| std::env::var("HYPERSPHERE_CPU_CONV").map_or(true, |v| v != "burn"))
}

/// Whether our CPU kernels (this convolution, [`super::cpu_batch_norm`], [`super::cpu_relu`])
/// can take `x`: switched on, f32, on Flex (with or without autodiff). Each layer adds its own
/// conditions (parameters in f32, a supported geometry).
#[cfg(feature = "cpu-conv")]
pub(crate) fn takes<const D: usize>(x: &Tensor<D>) -> bool {
    enabled() && x.dtype() == burn::tensor::DType::F32 && crate::runtime::is_flex(&x.device())
}

/// Without the `cpu-conv` feature Burn's convolution always runs.
#[cfg(not(feature = "cpu-conv"))]
pub fn enabled() -> bool {
    false
}

/// The stride and padding when our kernels handle `conv` on `x`, else `None`.
#[cfg(feature = "cpu-conv")]
fn ours(conv: &Conv2d, x: &Tensor<4>) -> Option<extension::ConvSpec> {
    use burn::nn::PaddingConfig2d;
    use burn::tensor::DType;
    if !takes(x) || conv.groups != 1 || conv.dilation != [1, 1] || conv.weight.val().dtype() != DType::F32 {
        return None;
    }
    let padding = match conv.padding {
        PaddingConfig2d::Valid => [0, 0],
        PaddingConfig2d::Explicit(top, left, bottom, right) if top == bottom && left == right => [top, left],
        _ => return None,
    };
    let [batch, c_in, height, width] = x.dims();
    let geometry = kernels::ConvGeometry { batch, c_in, height, width, c_out: 0, kernel: conv.kernel_size, stride: conv.stride, padding };
    geometry.is_valid().then_some(extension::ConvSpec { stride: conv.stride, padding })
}
