//! Choosing the compute device and its precision. `auto` takes, on the first real GPU, the
//! fastest route this build has to it: CUDA (CUDA C++ kernels through NVRTC, TF32/f16 tensor
//! cores), then wgpu on Vulkan with SPIR-V kernels (cooperative matrices) or Metal with MSL, then
//! any other wgpu API (WGSL kernels, no tensor cores); without a GPU, Flex on the CPU. Software
//! adapters (lavapipe, SwiftShader) never count as GPUs: on a CPU they are ~70x slower than Flex.
//!
//! Probing opens every runtime; their native libraries (the Vulkan loader, EGL, Wayland) print
//! warnings of their own on machines without a GPU. Those are silenced while probing (set
//! `HYPERSPHERE_DEBUG_DEVICE=1` to see them); the outcome is stated once, in the run header.

use anyhow::{Result, bail};
use burn::tensor::{Device, DeviceKind, DeviceType};
use hypersphere_core::runtime::{Precision, RuntimeInfo, configure_precision};

/// Which device the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DeviceChoice {
    /// The fastest real GPU route (CUDA, then Vulkan/SPIR-V or Metal, then other wgpu APIs), else Flex on the CPU.
    #[default]
    Auto,
    /// The first CUDA device.
    Cuda,
    /// wgpu pinned to Vulkan (SPIR-V kernels; a software adapter when it is the only one).
    Vulkan,
    /// wgpu on its default adapter and graphics API.
    Wgpu,
    /// Flex, the pure-Rust CPU backend.
    Flex,
}

impl DeviceChoice {
    /// The name `--device` takes.
    pub fn name(self) -> &'static str {
        match self {
            DeviceChoice::Auto => "auto",
            DeviceChoice::Cuda => "cuda",
            DeviceChoice::Vulkan => "vulkan",
            DeviceChoice::Wgpu => "wgpu",
            DeviceChoice::Flex => "flex",
        }
    }
}

/// The device flags every computing command shares.
#[derive(clap::Args, Debug, Clone, Copy, Default)]
pub struct DeviceArgs {
    /// Compute device.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// Float precision: f32 (default; comparable with PyTorch/torchattacks with TF32 off), tf32
    /// (f32 storage, tensor-core matmuls where the GPU has them), f16, bf16 (evaluation and
    /// attacks compute in it; training runs mixed precision: f32 master weights, f16 with
    /// dynamic loss scaling).
    #[arg(long, default_value = "f32", value_parser = parse_precision)]
    pub precision: Precision,
}

fn parse_precision(text: &str) -> Result<Precision, String> {
    text.parse().map_err(|e: hypersphere_core::Error| e.to_string())
}

impl DeviceArgs {
    /// Opens the device with its precision.
    pub fn select(&self) -> Result<Selected> {
        select_with(self.device, self.precision)
    }

    /// Opens the device for training: f32/tf32 as the device precision; f16/bf16 as mixed
    /// precision on an f32 device (f32 master weights), named in `runtime.mixed_precision`.
    pub fn select_for_training(&self) -> Result<Selected> {
        match self.precision.training_half() {
            None => self.select(),
            Some(half) => {
                let mut selected = select_with(self.device, Precision::F32)?;
                if !selected.device.supports_dtype(half.float_dtype()) {
                    bail!("--precision {}: this device ({}) cannot compute in {}", self.precision, selected.runtime, half.name());
                }
                selected.runtime.mixed_precision = Some(half);
                Ok(selected)
            }
        }
    }
}

/// A device, the concrete choice it came from and what it is.
pub struct Selected {
    pub device: Device,
    /// `auto` resolved (never `Auto`), to hand to child processes without probing again.
    pub choice: DeviceChoice,
    /// Device, backend, compiler and precision, for JSON; its `Display` is the header line
    /// (`NVIDIA H200 · cuda<cpp> · f32`).
    pub runtime: RuntimeInfo,
}

/// Runs `f`, turning a panic inside a backend's probing into `None` (without printing it), with
/// stderr silenced unless `HYPERSPHERE_DEBUG_DEVICE` is set.
fn quietly<T>(f: impl FnOnce() -> T + std::panic::UnwindSafe) -> Option<T> {
    let _mute = (std::env::var_os("HYPERSPHERE_DEBUG_DEVICE").is_none()).then(StderrMute::new);
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let out = std::panic::catch_unwind(f).ok();
    std::panic::set_hook(hook);
    out
}

/// Redirects the process's stderr (file descriptor 2, which C libraries write to) to /dev/null
/// while alive.
struct StderrMute {
    #[cfg(unix)]
    saved: Option<i32>,
}

impl StderrMute {
    fn new() -> Self {
        #[cfg(unix)]
        {
            use std::io::Write;
            let _ = std::io::stderr().flush();
            // SAFETY: plain descriptor calls on fd 2 and a fresh descriptor of /dev/null; every
            // descriptor opened here is closed or restored in `drop`.
            let saved = unsafe {
                let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY);
                if null < 0 {
                    None
                } else {
                    let saved = libc::dup(2);
                    if saved >= 0 {
                        libc::dup2(null, 2);
                    }
                    libc::close(null);
                    (saved >= 0).then_some(saved)
                }
            };
            Self { saved }
        }
        #[cfg(not(unix))]
        Self {}
    }
}

impl Drop for StderrMute {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(saved) = self.saved {
            // SAFETY: `saved` is the descriptor duplicated from fd 2 in `new`.
            unsafe {
                libc::dup2(saved, 2);
                libc::close(saved);
            }
        }
    }
}

/// Rank of a device in `auto`'s order (lower is preferred); `None` for software adapters.
fn rank(device: &Device) -> Option<u8> {
    let info = quietly(|| RuntimeInfo::of(device))?;
    if info.software {
        return None;
    }
    Some(match (info.backend.as_str(), info.compiler.as_str()) {
        ("cuda", _) => 0,
        ("wgpu", "spirv" | "msl") => 1,
        _ => 2,
    })
}

/// Devices of one type that sit on a real card.
fn hardware(kind: DeviceType) -> Vec<Device> {
    quietly(|| Device::enumerate(kind).into_vec()).unwrap_or_default()
}

/// Resolves a device choice and sets its precision.
pub fn select_with(choice: DeviceChoice, precision: Precision) -> Result<Selected> {
    let (mut device, choice) = match choice {
        DeviceChoice::Flex => (Device::flex(), DeviceChoice::Flex),
        #[cfg(not(feature = "cuda"))]
        DeviceChoice::Cuda => bail!("this build has no CUDA backend (built without the `cuda` feature); use --device auto or vulkan"),
        #[cfg(feature = "cuda")]
        DeviceChoice::Cuda => match hardware(DeviceType::Cuda).into_iter().next() {
            Some(device) => (device, DeviceChoice::Cuda),
            None => bail!("no CUDA device found (is the NVIDIA driver installed?); try --device auto"),
        },
        DeviceChoice::Vulkan | DeviceChoice::Wgpu => {
            let device = if choice == DeviceChoice::Vulkan { Device::vulkan(DeviceKind::DefaultDevice) } else { Device::wgpu(DeviceKind::DefaultDevice) };
            let probe = device.clone();
            match quietly(move || RuntimeInfo::of(&probe)) {
                Some(info) if info.software && info.compiler == "spirv" => bail!(
                    "{} is a software renderer, and Mesa's lavapipe crashes compiling cubecl's SPIR-V reduction and \
                     matmul kernels (measured with Mesa 22.3 and 25.0); use --device flex (also ~70x faster there)",
                    info.device
                ),
                Some(info) => {
                    if info.software {
                        eprintln!("warning: {} is a software renderer; --device flex is much faster", info.device);
                    }
                    (device, choice)
                }
                None => bail!("no {} adapter could be opened (install the GPU's Vulkan driver, or use --device flex)", choice.name()),
            }
        }
        DeviceChoice::Auto => {
            let mut best: Option<(u8, Device, DeviceChoice)> = None;
            #[cfg(feature = "cuda")]
            let cuda = hardware(DeviceType::Cuda);
            #[cfg(not(feature = "cuda"))]
            let cuda: Vec<Device> = Vec::new();
            let candidates = cuda
                .into_iter()
                .map(|d| (d, DeviceChoice::Cuda))
                .chain(hardware(DeviceType::Vulkan).into_iter().map(|d| (d, DeviceChoice::Vulkan)))
                .chain(hardware(DeviceType::Wgpu).into_iter().map(|d| (d, DeviceChoice::Wgpu)));
            for (device, kind) in candidates {
                if let Some(r) = rank(&device)
                    && best.as_ref().is_none_or(|(b, _, _)| r < *b)
                {
                    best = Some((r, device, kind));
                }
            }
            match best {
                Some((_, device, kind)) => (device, kind),
                None => (Device::flex(), DeviceChoice::Flex),
            }
        }
    };
    configure_precision(&mut device, precision)?;
    let runtime = RuntimeInfo::of(&device);
    Ok(Selected { device, choice, runtime })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flex_is_named_with_backend_and_precision() {
        let s = select_with(DeviceChoice::Flex, Precision::F32).unwrap();
        assert_eq!(s.choice, DeviceChoice::Flex);
        assert_eq!(s.runtime.to_string(), "CPU · flex · f32");
    }

    #[test]
    fn half_precision_training_is_mixed_precision_on_an_f32_device() {
        let args = DeviceArgs { device: DeviceChoice::Flex, precision: Precision::Bf16 };
        let s = args.select_for_training().unwrap();
        assert_eq!(s.runtime.precision, Precision::F32);
        assert_eq!(s.runtime.mixed_precision, Some(hypersphere_core::train::HalfPrecision::Bf16));
        assert_eq!(s.runtime.to_string(), "CPU · flex · bf16 mixed (master weights f32)");
    }

    #[test]
    fn stderr_is_restored_after_a_muted_probe() {
        let out = quietly(|| 7).unwrap();
        assert_eq!(out, 7);
        // fd 2 must be a valid descriptor again (not /dev/null's closed copy).
        // SAFETY: fcntl on fd 2 only queries it.
        #[cfg(unix)]
        assert!(unsafe { libc::fcntl(2, libc::F_GETFD) } >= 0);
    }
}
