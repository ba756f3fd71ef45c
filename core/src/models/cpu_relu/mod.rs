//! ReLU and the residual `relu(a + b)` for Burn's CPU backend (Flex), used by every model's
//! activations through [`relu`] and [`add_relu`].
//!
//! Why: with [`super::cpu_conv`] and [`super::cpu_batch_norm`] in place, `perf` of a ResNet-18
//! training step on Flex showed Flex's element-wise ReLU, its backward mask and the residual
//! add running on the calling thread alone while the other cores waited. Ours runs on rayon's
//! pool, and `relu(a + b)` is one pass forward and one backward. The values are those of
//! `relu(a + b)` in f32 exactly (same additions, same mask: a gradient flows where the output
//! is positive), so only the speed changes.
//!
//! Where it applies: Flex devices (with or without autodiff), f32, and our CPU kernels switched
//! on ([`super::cpu_conv::enabled`]); everything else runs Burn's `relu` and `+`.

#[cfg(feature = "cpu-conv")]
pub mod extension;

use burn::tensor::Tensor;
use burn::tensor::activation;

/// `relu(x)`, by our CPU kernel where it applies (see the module documentation).
pub fn relu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "cpu-conv")]
    if super::cpu_conv::takes(&x) {
        use burn::backend::Dispatch;
        use extension::CpuReluBackend;
        return Tensor::from_dispatch(<Dispatch as CpuReluBackend>::cpu_relu(x.into_dispatch()));
    }
    activation::relu(x)
}

/// `relu(a + b)` (a residual connection), by our CPU kernel where it applies.
pub fn add_relu<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "cpu-conv")]
    if super::cpu_conv::takes(&a) && super::cpu_conv::takes(&b) && a.dims() == b.dims() {
        use burn::backend::Dispatch;
        use extension::CpuReluBackend;
        return Tensor::from_dispatch(<Dispatch as CpuReluBackend>::cpu_add_relu(
            a.into_dispatch(),
            b.into_dispatch(),
        ));
    }
    activation::relu(a + b)
}
