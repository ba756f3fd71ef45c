//! What actually runs a computation: the device, the backend, the kernel compiler and the float
//! precision. Every run header, JSON result and benchmark row carries a [`RuntimeInfo`], so a
//! number is never separated from the hardware and code path that produced it.
//!
//! Precision ([`Precision`]) is a device setting in Burn 0.22 (`Device::configure` with a
//! `FloatDType`): it must be chosen before the first tensor is created on the device.

use std::fmt;

use burn::tensor::{Device, FloatDType};
use serde::{Deserialize, Serialize};

/// The half-precision compute type of mixed-precision training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HalfPrecision {
    /// IEEE f16 (5 exponent bits): needs loss scaling.
    F16,
    /// bfloat16 (8 exponent bits, as f32): no loss scaling.
    Bf16,
}

impl HalfPrecision {
    /// Burn's float dtype.
    pub fn float_dtype(self) -> FloatDType {
        match self {
            HalfPrecision::F16 => FloatDType::F16,
            HalfPrecision::Bf16 => FloatDType::BF16,
        }
    }

    /// The precision's name (`f16`, `bf16`).
    pub fn name(self) -> &'static str {
        match self {
            HalfPrecision::F16 => "f16",
            HalfPrecision::Bf16 => "bf16",
        }
    }
}

/// The float precision a device computes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// IEEE f32 everywhere (the default; comparable with PyTorch with TF32 off).
    #[default]
    F32,
    /// f32 storage with matrix products allowed to run at tensor-core precision (TF32 on NVIDIA
    /// sm >= 80): Burn's `flex32`, the analogue of PyTorch's `allow_tf32`.
    Tf32,
    /// IEEE half precision for all float tensors.
    F16,
    /// bfloat16 for all float tensors.
    Bf16,
}

impl Precision {
    /// All precisions, in the order shown to users.
    pub const ALL: [Precision; 4] = [Precision::F32, Precision::Tf32, Precision::F16, Precision::Bf16];

    /// The name used in text (`f32`, `tf32`, `f16`, `bf16`).
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Tf32 => "tf32",
            Precision::F16 => "f16",
            Precision::Bf16 => "bf16",
        }
    }

    /// Burn's float dtype for this precision.
    pub fn float_dtype(self) -> FloatDType {
        match self {
            Precision::F32 => FloatDType::F32,
            Precision::Tf32 => FloatDType::Flex32,
            Precision::F16 => FloatDType::F16,
            Precision::Bf16 => FloatDType::BF16,
        }
    }

    /// The precision a device's default float dtype corresponds to (`None` for f64).
    pub fn of_dtype(dtype: FloatDType) -> Option<Self> {
        match dtype {
            FloatDType::F32 => Some(Precision::F32),
            FloatDType::Flex32 => Some(Precision::Tf32),
            FloatDType::F16 => Some(Precision::F16),
            FloatDType::BF16 => Some(Precision::Bf16),
            FloatDType::F64 => None,
        }
    }

    /// How training runs in this precision: f32 and tf32 as the device's own precision; f16
    /// and bf16 as mixed precision (the device stays f32 for the master weights, the forward
    /// and backward passes run in half precision: `train::mixed_precision`).
    pub fn training_half(self) -> Option<HalfPrecision> {
        match self {
            Precision::F32 | Precision::Tf32 => None,
            Precision::F16 => Some(HalfPrecision::F16),
            Precision::Bf16 => Some(HalfPrecision::Bf16),
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Precision {
    type Err = crate::Error;

    fn from_str(text: &str) -> crate::Result<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "f32" | "fp32" => Ok(Precision::F32),
            "tf32" | "flex32" => Ok(Precision::Tf32),
            "f16" | "fp16" | "half" => Ok(Precision::F16),
            "bf16" => Ok(Precision::Bf16),
            other => Err(crate::Error::Device(format!("unknown precision '{other}' (known: f32, tf32, f16, bf16)"))),
        }
    }
}

/// Sets the device's float precision. Must run before the first tensor is created on `device`
/// (Burn locks a device's dtypes at its first tensor). f32 on a fresh device is a no-op.
pub fn configure_precision(device: &mut Device, precision: Precision) -> crate::Result<()> {
    let dtype = precision.float_dtype();
    if !device.supports_dtype(dtype) {
        return Err(crate::Error::Device(format!("this device does not support {precision} (backend {})", backend_and_compiler(device).0)));
    }
    if precision == Precision::F32 && device.settings().float_dtype == FloatDType::F32 {
        return Ok(());
    }
    device
        .configure(dtype)
        .map_err(|e| crate::Error::Device(format!("cannot set precision {precision}: {e} (it must be set before the device is first used)")))
}

/// The device, backend, kernel compiler and precision a run used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeInfo {
    /// The device as it names itself (`NVIDIA H200`, `llvmpipe (LLVM 15.0.7, 256 bits)`), or
    /// `CPU` for Flex.
    pub device: String,
    /// The backend: `cuda`, `wgpu` or `flex`.
    pub backend: String,
    /// The kernel compiler: `cpp` (CUDA C++ through NVRTC), `spirv` (Vulkan SPIR-V, with
    /// cooperative matrices where the device has them), `msl`, `wgsl`, or `none` (Flex runs
    /// Rust code, not kernels).
    pub compiler: String,
    /// The float precision (`f32`, `tf32`, `f16`, `bf16`).
    pub precision: Precision,
    /// Whether the device is a software renderer or the CPU rather than a GPU.
    pub software: bool,
    /// Mixed-precision training: the forward and backward passes ran in this half precision
    /// while `precision` is the master weights' (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mixed_precision: Option<HalfPrecision>,
}

impl RuntimeInfo {
    /// Reads what `device` is. Opens the device (a cubecl runtime starts its server).
    pub fn of(device: &Device) -> Self {
        let base = device.clone().without_autodiff();
        let (backend, compiler) = backend_and_compiler(&base);
        let identity = if backend == "flex" { None } else { base.identity() };
        let software = identity.as_ref().is_none_or(|i| i.physical.is_none());
        let name = identity.map(|i| i.name).unwrap_or_else(|| "CPU".to_string());
        let precision = Precision::of_dtype(base.settings().float_dtype).unwrap_or_default();
        Self { device: name, backend: backend.to_string(), compiler: compiler.to_string(), precision, software, mixed_precision: None }
    }

    /// `backend<compiler>` as cubecl names its runtimes (`wgpu<spirv>`, `cuda<cpp>`, `flex`).
    pub fn runtime(&self) -> String {
        if self.compiler == "none" { self.backend.clone() } else { format!("{}<{}>", self.backend, self.compiler) }
    }
}

impl fmt::Display for RuntimeInfo {
    /// `NVIDIA H200 · cuda<cpp> · f32`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} · {} · ", self.device, self.runtime())?;
        match self.mixed_precision {
            Some(half) => write!(f, "{} mixed (master weights {})", half.name(), self.precision)?,
            None => write!(f, "{}", self.precision)?,
        }
        if self.software && self.backend != "flex" {
            write!(f, " (software renderer)")?;
        }
        Ok(())
    }
}

/// Whether `device` is Burn's CPU backend, Flex (autodiff looked through). Cheap: it does not
/// open a cubecl device (the layers ask it on every call).
pub fn is_flex(device: &Device) -> bool {
    matches!(device.clone().without_autodiff().as_dispatch(), burn_dispatch::DispatchDevice::Flex(_))
}

/// The backend and kernel compiler of a device (autodiff looked through).
fn backend_and_compiler(device: &Device) -> (&'static str, &'static str) {
    use burn_dispatch::DispatchDevice;
    match device.clone().without_autodiff().as_dispatch() {
        DispatchDevice::Flex(_) => ("flex", "none"),
        DispatchDevice::Cube(cube) => split_runtime_name(cube.client().name()),
        #[allow(unreachable_patterns)]
        _ => ("other", "unknown"),
    }
}

/// Splits cubecl's runtime name (`wgpu<spirv>`, `cuda`) into backend and compiler. cubecl names
/// the CUDA runtime plain `cuda`; this workspace builds it with the CUDA C++ (NVRTC) compiler
/// only (its LLVM compiler is not compiled in: patches/cubecl-llvm), so its compiler is `cpp`.
pub fn split_runtime_name(name: &'static str) -> (&'static str, &'static str) {
    match name {
        "cuda" => ("cuda", "cpp"),
        _ => match name.split_once('<') {
            Some((backend, rest)) => (backend, rest.trim_end_matches('>')),
            None => (name, "default"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_names_split_into_backend_and_compiler() {
        assert_eq!(split_runtime_name("wgpu<spirv>"), ("wgpu", "spirv"));
        assert_eq!(split_runtime_name("wgpu<wgsl>"), ("wgpu", "wgsl"));
        assert_eq!(split_runtime_name("cuda"), ("cuda", "cpp"));
    }

    #[test]
    fn precision_names_round_trip_and_bad_names_are_refused() {
        for p in Precision::ALL {
            assert_eq!(p.name().parse::<Precision>().unwrap(), p);
        }
        let err = "f8".parse::<Precision>().unwrap_err().to_string();
        assert!(err.contains("unknown precision 'f8'"), "{err}");
        assert_eq!((Precision::Tf32.training_half(), Precision::Bf16.training_half()), (None, Some(HalfPrecision::Bf16)));
    }

    #[test]
    fn flex_reports_itself_in_f32() {
        let info = RuntimeInfo::of(&Device::flex());
        assert_eq!((info.backend.as_str(), info.compiler.as_str(), info.precision), ("flex", "none", Precision::F32));
        assert!(info.software);
        assert_eq!(info.runtime(), "flex");
        let autodiff = RuntimeInfo::of(&Device::flex().autodiff());
        assert_eq!(autodiff.backend, "flex");
    }
}
