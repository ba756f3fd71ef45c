//! Stand-in for `cubecl-llvm` 0.11.3: the names `cubecl-cuda` uses, without LLVM (README.md).
//!
//! The CUDA runtime keeps both of its compilers in one enum; hypersphere only ever selects the
//! CUDA C++ (NVRTC) one, so the LLVM compiler here refuses every kernel with a clear error.

use core::fmt;

/// Compilation targets of the LLVM backend (only the ones cubecl-cuda names).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LlvmTarget {
    /// The host CPU.
    #[default]
    Cpu,
    /// NVIDIA PTX.
    Nvptx,
}

/// Options of the LLVM backend, as cubecl-cuda fills them.
#[derive(Clone, Debug, Default)]
pub struct PlironOptions {
    /// AMD architecture (never set by the CUDA runtime).
    pub arch: Option<()>,
    /// NVIDIA architecture.
    pub sm_arch: Option<cubecl_core::ir::nvidia::SmArch>,
    /// PTX version to emit.
    pub ptx_version: Option<nvptx::ptx_version::PtxVersion>,
    /// Scalars in the kernel parameter block.
    pub grid_constants: bool,
}

/// A PTX module the LLVM backend would produce.
#[derive(Clone, Debug)]
pub struct NvptxModule {
    /// NUL-terminated PTX text.
    pub ptx: Vec<core::ffi::c_char>,
    /// Kernel entry point.
    pub entrypoint: String,
    /// Intermediate representation, for logs.
    pub ir: String,
    /// Dynamic shared memory per launch, in bytes.
    pub shared_memory_size: usize,
    /// Buffer access modes in binding order.
    pub io: Vec<cubecl_runtime::kernel::BufferIOAttr>,
}

/// What the LLVM backend produces.
#[derive(Clone, Debug)]
pub enum PlironArtifact {
    /// PTX for the CUDA driver.
    NvptxCode(NvptxModule),
    /// Never produced here; keeps cubecl-cuda's catch-all match arm meaningful.
    Unavailable,
}

/// The LLVM kernel compiler: not built into this binary.
#[derive(Clone, Debug, Default)]
pub struct PlironCompiler {
    /// Target the caller asked for.
    pub target: LlvmTarget,
}

impl PlironCompiler {
    /// Refuses: this build has no LLVM. cubecl-cuda only calls it when its LLVM backend is
    /// selected, which hypersphere never does (`cubecl-cuda/cpp` is on).
    pub fn compile(
        &mut self,
        _kernel: cubecl_core::prelude::KernelDefinition,
        _options: &PlironOptions,
    ) -> Result<PlironArtifact, cubecl_runtime::compiler::CompilationError> {
        Err(cubecl_runtime::compiler::CompilationError::Generic {
            reason: "this build of hypersphere runs CUDA kernels through CUDA C++ and NVRTC; \
                     CubeCL's LLVM backend is not compiled in"
                .to_string(),
            backtrace: cubecl_environment::backtrace::BackTrace::capture(),
        })
    }

    /// Language tag of the (absent) backend's output.
    pub fn lang_tag(&self) -> &'static str {
        "llvm"
    }
}

/// Target-independent parts.
pub mod shared {
    /// Narrowing a device's advertised features to what the LLVM backend lowers.
    pub mod lowered_features {
        /// GPU targets of the LLVM backend.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum GpuTarget {
            /// NVIDIA PTX.
            Nvptx,
        }

        /// Leaves the properties as the C++ backend reported them: with no LLVM backend in
        /// the build, nothing is lowered through it and nothing needs narrowing.
        pub fn restrict_features(
            _props: &mut cubecl_core::ir::DeviceProperties,
            _target: GpuTarget,
        ) {
        }
    }
}

/// NVIDIA-specific parts.
pub mod nvptx {
    /// PTX ISA versions.
    pub mod ptx_version {
        use super::super::fmt;

        /// A PTX ISA version (8.7 is 87). Only the LLVM backend reads it.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct PtxVersion(pub u32);

        impl PtxVersion {
            /// No version is chosen without the LLVM backend: the C++ backend lets NVRTC
            /// decide, so this always answers `None`.
            pub fn for_driver(_driver: i32) -> Option<Self> {
                None
            }
        }

        impl fmt::Display for PtxVersion {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "ptx{}", self.0)
            }
        }
    }
}
