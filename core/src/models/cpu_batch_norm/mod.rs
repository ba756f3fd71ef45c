//! Our training-mode BatchNorm for Burn's CPU backend (Flex), used by every model's BatchNorm
//! layers through [`batch_norm`].
//!
//! Why: after [`super::cpu_conv`], `perf` of a ResNet-18 training step on Flex showed Burn's
//! `batch_norm_train` and its backward (transposed copies for the per-channel means, then one
//! element-wise op at a time) as the largest cost outside the matrix multiplies. Ours computes
//! the statistics and normalises in two passes over the activation, and its backward in two
//! ([`kernels`]), as a backend extension with its own backward pass ([`extension`]). The
//! running statistics are updated exactly as `burn::nn::BatchNorm::forward` does (momentum,
//! biased batch variance).
//!
//! The evaluation path (running statistics: inference, and every attack, which runs the model
//! in evaluation mode) is ours too: Burn's runs four broadcast element-wise ops on the calling
//! thread alone (a seventh of an inference pass's time on 2 cores); ours is one parallel pass
//! `x·scale + shift` per channel and one for the input gradient (`dy·scale`), the running
//! statistics held constant as in Burn's.
//!
//! Where it applies: Flex in f32, both paths. Everything else (GPU backends, half precision,
//! the page's wasm build) runs `BatchNorm::forward`. `HYPERSPHERE_CPU_CONV=burn` switches it
//! off together with the convolution.

#[cfg(feature = "cpu-conv")]
pub mod extension;
#[cfg(feature = "cpu-conv")]
pub mod kernels;

use burn::nn::BatchNorm;
use burn::tensor::Tensor;

/// `bn.forward(x)`, by our CPU kernels where they apply (see the module documentation): the
/// batch statistics where `BatchNorm::forward` uses them (an autodiff device and the layer's
/// training flag on), else the running statistics.
pub fn batch_norm<const D: usize>(bn: &BatchNorm, x: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "cpu-conv")]
    if D >= 2 && super::cpu_conv::takes(&x) && bn.gamma.val().dtype() == burn::tensor::DType::F32 {
        return if x.device().is_autodiff() && bn.training.is_enabled() { with_batch_statistics(bn, x) } else { with_running_statistics(bn, x) };
    }
    bn.forward(x)
}

/// Training mode: normalises with the batch's statistics and updates the running ones.
#[cfg(feature = "cpu-conv")]
fn with_batch_statistics<const D: usize>(bn: &BatchNorm, x: Tensor<D>) -> Tensor<D> {
    use burn::backend::Dispatch;
    use extension::CpuBatchNormBackend;
    let channels = bn.gamma.dims()[0];
    let statistics = Tensor::<2>::from_dispatch(<Dispatch as CpuBatchNormBackend>::cpu_batch_norm_statistics(x.clone().into_dispatch()));
    let y = <Dispatch as CpuBatchNormBackend>::cpu_batch_norm(
        x.into_dispatch(),
        bn.gamma.val().into_dispatch(),
        bn.beta.val().into_dispatch(),
        statistics.clone().into_dispatch(),
        bn.epsilon,
    );
    // burn::nn::BatchNorm::forward_train's update of the running statistics.
    let device = statistics.device();
    let mean = statistics.clone().slice([0..1, 0..channels]).reshape([channels]).detach();
    let var = statistics.slice([1..2, 0..channels]).reshape([channels]).detach();
    let m = bn.momentum;
    let running_mean = bn.running_mean.value_sync().to_device(&device).mul_scalar(1.0 - m).add(mean.mul_scalar(m));
    let running_var = bn.running_var.value_sync().to_device(&device).mul_scalar(1.0 - m).add(var.mul_scalar(m));
    bn.running_mean.update(running_mean.detach());
    bn.running_var.update(running_var.detach());
    Tensor::<D>::from_dispatch(y)
}

/// Evaluation mode: normalises with the running statistics, constants under autodiff.
#[cfg(feature = "cpu-conv")]
fn with_running_statistics<const D: usize>(bn: &BatchNorm, x: Tensor<D>) -> Tensor<D> {
    use burn::backend::Dispatch;
    use extension::CpuBatchNormBackend;
    let channels = bn.gamma.dims()[0];
    let device = x.device();
    let mean = bn.running_mean.value().to_device(&device).reshape([1, channels]);
    let var = bn.running_var.value().to_device(&device).reshape([1, channels]);
    let statistics = Tensor::cat(vec![mean, var], 0).detach();
    let y = <Dispatch as CpuBatchNormBackend>::cpu_batch_norm_frozen(
        x.into_dispatch(),
        bn.gamma.val().into_dispatch(),
        bn.beta.val().into_dispatch(),
        statistics.into_dispatch(),
        bn.epsilon,
    );
    Tensor::<D>::from_dispatch(y)
}
