//! The paper's training settings as named presets, at two scales.
//!
//! Names (Section 4 and Table 4 of the paper): `ce` (supervised cross-entropy), `supcon`,
//! `simclr`, `simclr-fnc` (fixed rho = 0.9), `simclr-afnc-0.9-0.5`, `simclr-afnc-0.99-0.7`.
//! Scales: `tiny` (the small CNN of width 16, 1,000 training and 500 test images, 5 epochs: the
//! whole six-preset study in minutes on a 2-core CPU, for a first look and for smoke tests),
//! `small` (ResNet-18 of width 8, 4,000 training and 1,000 test images, 12 epochs: each preset
//! finishes in well under 30 minutes on a 2-core CPU), `paper` (ResNet-50, 1,000 epochs, batch
//! 512: GPUs).
//! A [`TrainPlan`] is the complete, serialisable recipe of a run; command-line flags override
//! its fields and `--resume` reads it back from the run folder.

use serde::{Deserialize, Serialize};

use super::contrastive::{ContrastiveConfig, ContrastiveMethod, OptimizerKind};
use super::fnc::FncSchedule;
use super::knn::KnnConfig;
use super::linear_eval::LinearEvalConfig;
use super::supervised::SupervisedConfig;
use crate::data::views::ViewConfig;
use crate::models::Arch;

/// The three ways to train a backbone that the paper compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Supervised cross-entropy.
    Ce,
    /// Supervised contrastive (then linear evaluation).
    SupCon,
    /// Self-supervised contrastive, optionally with FNC / A-FNC (then linear evaluation).
    SimClr,
}

impl std::str::FromStr for Method {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "ce" => Ok(Self::Ce),
            "supcon" => Ok(Self::SupCon),
            "simclr" => Ok(Self::SimClr),
            _ => Err(crate::Error::Train(format!("unknown method '{s}' (valid: ce, supcon, simclr)"))),
        }
    }
}

/// Preset sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    /// The whole study in minutes on a CPU.
    Tiny,
    /// Minutes per preset on a CPU.
    Small,
    /// The paper's budget, for GPUs.
    Paper,
}

impl std::str::FromStr for Scale {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s {
            "tiny" => Ok(Self::Tiny),
            "small" => Ok(Self::Small),
            "paper" => Ok(Self::Paper),
            _ => Err(crate::Error::Train(format!("unknown scale '{s}' (valid: tiny, small, paper)"))),
        }
    }
}

impl Scale {
    /// The name used on the command line and in run folders.
    pub fn name(self) -> &'static str {
        match self {
            Self::Tiny => "tiny",
            Self::Small => "small",
            Self::Paper => "paper",
        }
    }
}

/// The presets: name, method, false-negative cancellation.
pub const PRESETS: [(&str, Method, &str); 6] = [
    ("ce", Method::Ce, "none"),
    ("supcon", Method::SupCon, "none"),
    ("simclr", Method::SimClr, "none"),
    ("simclr-fnc", Method::SimClr, "fixed:0.9"),
    ("simclr-afnc-0.9-0.5", Method::SimClr, "adaptive:0.9:0.5"),
    ("simclr-afnc-0.99-0.7", Method::SimClr, "adaptive:0.99:0.7"),
];

/// Everything a training run does, serialised into its `config.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainPlan {
    /// The preset this plan started from, if any.
    pub preset: Option<String>,
    /// Training method.
    pub method: Method,
    /// Backbone architecture.
    pub arch: Arch,
    /// Backbone width.
    pub width: usize,
    /// Class-balanced training subset size (all images when `None`).
    pub train_limit: Option<usize>,
    /// Test subset for per-epoch accuracy, kNN and linear evaluation (all when `None`).
    pub test_limit: Option<usize>,
    /// Settings of cross-entropy training (method `ce`).
    pub supervised: SupervisedConfig,
    /// Settings of contrastive pre-training (methods `supcon`, `simclr`).
    pub contrastive: ContrastiveConfig,
    /// Settings of the linear evaluation after contrastive pre-training.
    pub linear: LinearEvalConfig,
}

impl TrainPlan {
    /// The plan of preset `name` at `scale`.
    pub fn preset(name: &str, scale: Scale) -> crate::Result<Self> {
        let (_, method, fnc) = PRESETS.iter().find(|(n, _, _)| *n == name).ok_or_else(|| {
            let names: Vec<_> = PRESETS.iter().map(|(n, _, _)| *n).collect();
            crate::Error::Train(format!("unknown preset '{name}' (valid: {})", names.join(", ")))
        })?;
        let mut plan = Self::for_method(*method, scale);
        plan.preset = Some(format!("{name}@{}", scale.name()));
        plan.contrastive.fnc = fnc.parse()?;
        Ok(plan)
    }

    /// A full-size run of `method` with the library defaults (ResNet-18 width 64, all images):
    /// the starting point of `hypersphere train` without `--preset`.
    pub fn new(method: Method) -> Self {
        let contrastive = ContrastiveConfig {
            method: if method == Method::SupCon { ContrastiveMethod::SupCon } else { ContrastiveMethod::SimClr },
            temperature: if method == Method::SupCon { 0.1 } else { 0.5 },
            views: if method == Method::SupCon { ViewConfig::supcon() } else { ViewConfig::simclr() },
            ..ContrastiveConfig::default()
        };
        Self {
            preset: None,
            method,
            arch: Arch::ResNet18Cifar,
            width: 64,
            train_limit: None,
            test_limit: None,
            supervised: SupervisedConfig::default(),
            contrastive,
            linear: LinearEvalConfig::default(),
        }
    }

    /// Default settings of `method` at `scale`, without cancellation.
    pub fn for_method(method: Method, scale: Scale) -> Self {
        let paper = scale == Scale::Paper;
        let tiny = scale == Scale::Tiny;
        let (epochs, batch_size) = match scale {
            Scale::Tiny => (5, 64),
            Scale::Small => (12, 128),
            Scale::Paper => (1000, 512),
        };
        let (temperature, lr, views) = match method {
            // SupContrast: temperature 0.1, its own crops (scale 0.2..1).
            Method::SupCon => (0.1, if paper { 0.25 } else { 0.3 }, ViewConfig::supcon()),
            // SimCLR on CIFAR: temperature 0.5 (the first author's runs: lr 0.25 at batch 512).
            _ => (0.5, if paper { 0.25 } else { 0.3 }, ViewConfig::simclr()),
        };
        let contrastive = ContrastiveConfig {
            method: if method == Method::SupCon { ContrastiveMethod::SupCon } else { ContrastiveMethod::SimClr },
            fnc: FncSchedule::None,
            temperature,
            projection_dim: 128,
            views,
            epochs,
            batch_size,
            optimizer: OptimizerKind::Sgd,
            lr,
            momentum: 0.9,
            weight_decay: 1e-4,
            warmup_epochs: if paper { 10 } else { 1 },
            knn: KnnConfig::default(),
            seed: 0,
        };
        let supervised = SupervisedConfig {
            epochs,
            batch_size: if paper { 256 } else { batch_size },
            lr: if paper { 0.2 } else { 0.1 },
            momentum: 0.9,
            weight_decay: 5e-4,
            warmup_epochs: if paper { 10 } else { 0 },
            augment: true,
            seed: 0,
        };
        let linear = LinearEvalConfig {
            epochs: if tiny { 30 } else { 100 },
            batch_size: if paper { 512 } else { 256 },
            lr: 0.1,
            ..LinearEvalConfig::default()
        };
        let (arch, width, train_limit, test_limit) = match scale {
            Scale::Tiny => (Arch::SmallCnn, 16, Some(1000), Some(500)),
            Scale::Small => (Arch::ResNet18Cifar, 8, Some(4000), Some(1000)),
            Scale::Paper => (Arch::ResNet50Cifar, 64, None, None),
        };
        Self {
            preset: None,
            method,
            arch,
            width,
            train_limit,
            test_limit,
            supervised,
            contrastive,
            linear,
        }
    }

    /// Sets the seed of every stage.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.supervised.seed = seed;
        self.contrastive.seed = seed;
        self.linear.seed = seed;
        self
    }

    /// Epochs of the main training stage.
    pub fn epochs(&self) -> usize {
        match self.method {
            Method::Ce => self.supervised.epochs,
            _ => self.contrastive.epochs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_builds_at_every_scale_and_round_trips_through_json() {
        for (name, method, _) in PRESETS {
            for scale in [Scale::Tiny, Scale::Small, Scale::Paper] {
                let plan = TrainPlan::preset(name, scale).unwrap();
                assert_eq!(plan.method, method);
                plan.contrastive.validate().unwrap();
                let back: TrainPlan = serde_json::from_str(&serde_json::to_string(&plan).unwrap()).unwrap();
                assert_eq!(back.contrastive.fnc, plan.contrastive.fnc);
            }
        }
        let afnc = TrainPlan::preset("simclr-afnc-0.99-0.7", Scale::Paper).unwrap();
        assert_eq!(afnc.contrastive.fnc.rho(0, 1000, 98), Some(0.99));
        assert_eq!(afnc.arch, Arch::ResNet50Cifar);
        assert_eq!(afnc.contrastive.epochs, 1000);
        assert!(TrainPlan::preset("moco", Scale::Small).unwrap_err().to_string().contains("simclr-fnc"));
    }
}
