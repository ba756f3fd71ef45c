//! What the page asks for: an attack by name, radius, steps, seed and optional target class,
//! turned into one of core's attack specifications.

use hypersphere_core::attacks::{AttackKind, AttackSpec, Norm, Objective};
use hypersphere_core::error::one_line;
use serde::Deserialize;

/// One attack request from the page (JSON).
#[derive(Debug, Clone, Deserialize)]
pub struct AttackRequest {
    /// `fgsm`, `pgd` (l_inf), `pgd-l2` or `apgd-ce` (l_inf).
    pub attack: String,
    /// Radius in pixel units ([0, 1] scale; an l_2 radius for `pgd-l2`).
    pub eps: f32,
    /// Iterations of PGD / APGD (ignored by FGSM).
    #[serde(default = "default_steps")]
    pub steps: u32,
    /// Seed of the random start (PGD) or of APGD's first point.
    #[serde(default)]
    pub seed: u32,
    /// Target class of a targeted attack; untargeted (away from the clean prediction) when absent.
    #[serde(default)]
    pub target: Option<usize>,
}

fn default_steps() -> u32 {
    10
}

impl AttackRequest {
    /// Parses the page's JSON.
    pub fn from_json(json: &str) -> Result<Self, String> {
        serde_json::from_str(json).map_err(|e| format!("attack request: {}", one_line(&e.to_string())))
    }

    /// The same request at another radius (the bisection and the robustness curve).
    pub fn with_eps(&self, eps: f32) -> Self {
        Self { eps, ..self.clone() }
    }

    /// The core attack specification, built from typed fields: targeted requests ascend
    /// `-CE(z, target)` (`ce-t`).
    pub fn spec(&self) -> Result<AttackSpec, String> {
        if !self.eps.is_finite() || self.eps < 0.0 {
            return Err(format!("epsilon must be a number >= 0, got {}", self.eps));
        }
        let steps = self.steps.max(1) as usize;
        let (kind, norm) = match self.attack.as_str() {
            "fgsm" => (AttackKind::Fgsm, Norm::Linf),
            "pgd" => (AttackKind::Pgd, Norm::Linf),
            "pgd-l2" => (AttackKind::Pgd, Norm::L2),
            "apgd-ce" if self.target.is_some() => {
                return Err("APGD-CE is untargeted: clear the target class, or use PGD for a targeted attack".into());
            }
            "apgd-ce" => (AttackKind::ApgdCe, Norm::Linf),
            other => return Err(format!("unknown attack '{}' (fgsm, pgd, pgd-l2, apgd-ce)", one_line(other))),
        };
        let error = |e: hypersphere_core::Error| e.to_string();
        let mut spec = AttackSpec::new(kind, norm, self.eps).map_err(error)?;
        if kind != AttackKind::Fgsm {
            spec = spec.with_steps(steps).map_err(error)?;
        }
        if self.target.is_some() {
            spec = spec.with_loss(Objective::CeTargeted).map_err(error)?;
        }
        Ok(spec)
    }
}
