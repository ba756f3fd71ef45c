//! Choosing the compute device: `auto` takes a real GPU (CUDA first) and otherwise the CPU
//! backend Flex. Software adapters (lavapipe, SwiftShader) never count as GPUs: on a CPU they
//! are ~70x slower than Flex.

use anyhow::{Result, bail};
use burn::tensor::{Device, DeviceKind};
#[cfg(feature = "cuda")]
use burn::tensor::DeviceType;

/// Which device the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DeviceChoice {
    /// A real GPU when there is one (CUDA, then Vulkan/Metal/DX12 via wgpu), else Flex on the CPU.
    #[default]
    Auto,
    /// wgpu on the default adapter (a software adapter when it is the only one).
    Wgpu,
    /// The first CUDA device.
    Cuda,
    /// Flex, the pure-Rust CPU backend.
    Flex,
}

/// The name [`select`] gives the CPU backend.
pub const FLEX_NAME: &str = "CPU (Flex)";

/// A device and a name to show for it.
pub struct Selected {
    pub device: Device,
    pub name: String,
}

/// Runs `f`, turning a panic inside a backend's probing into `None` (without printing it).
fn quietly<T>(f: impl FnOnce() -> T + std::panic::UnwindSafe) -> Option<T> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let out = std::panic::catch_unwind(f).ok();
    std::panic::set_hook(hook);
    out
}

#[cfg(feature = "cuda")]
fn describe(device: &Device, fallback: &str) -> String {
    quietly(|| device.identity()).flatten().map(|i| i.name).unwrap_or_else(|| fallback.to_string())
}

/// Resolves a device choice.
pub fn select(choice: DeviceChoice) -> Result<Selected> {
    let flex = || Selected { device: Device::flex(), name: FLEX_NAME.into() };
    match choice {
        DeviceChoice::Flex => Ok(flex()),
        #[cfg(not(feature = "cuda"))]
        DeviceChoice::Cuda => bail!(
            "this build has no CUDA backend: rebuild with `cargo build --release -p hypersphere --features cuda` \
             (needs network: cubecl downloads LLVM), or use --device auto/wgpu for NVIDIA GPUs via Vulkan"
        ),
        #[cfg(feature = "cuda")]
        DeviceChoice::Cuda => {
            let devices = quietly(|| Device::enumerate(DeviceType::Cuda).into_vec()).unwrap_or_default();
            match devices.into_iter().next() {
                Some(device) => Ok(Selected { name: format!("CUDA: {}", describe(&device, "GPU")), device }),
                None => bail!("no CUDA device found (is the NVIDIA driver installed?); try --device auto"),
            }
        }
        DeviceChoice::Wgpu => {
            let device = Device::wgpu(DeviceKind::DefaultDevice);
            match quietly(|| device.identity()) {
                Some(identity) => {
                    let software = identity.as_ref().is_some_and(|i| i.physical.is_none());
                    let name = identity.map(|i| i.name).unwrap_or_else(|| "wgpu".into());
                    if software {
                        eprintln!("warning: wgpu adapter '{name}' is a software renderer; --device flex is much faster");
                    }
                    Ok(Selected { name: format!("wgpu: {name}"), device })
                }
                None => bail!("no wgpu adapter could be opened (install Vulkan drivers, or use --device flex)"),
            }
        }
        DeviceChoice::Auto => {
            // Real cards only: `enumerate_physical` skips CPUs and software rasterisers.
            let gpus = quietly(Device::enumerate_physical).unwrap_or_default();
            for gpu in gpus {
                let devices = gpu.devices.into_vec();
                let cuda = devices.iter().find(|d| {
                    quietly(|| d.identity()).flatten().is_some_and(|i| i.fingerprint.starts_with("ptx") || i.fingerprint.contains("cuda"))
                });
                if let Some(device) = cuda.or(devices.first()) {
                    return Ok(Selected { name: gpu.name.clone(), device: device.clone() });
                }
            }
            Ok(flex())
        }
    }
}
