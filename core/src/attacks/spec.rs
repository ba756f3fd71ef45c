//! Attack specifications: `NAME:NORM:EPS[:STEPS]`, e.g. `fgsm:linf:8/255` or
//! `pgd:linf:8/255:10`. EPS accepts decimals and fractions.

use serde::Serialize;

/// Attack families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AttackKind {
    /// Fast gradient sign method (Goodfellow et al. 2015).
    Fgsm,
    /// Projected gradient descent (Madry et al. 2018).
    Pgd,
}

/// Threat-model norms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Norm {
    /// l_inf ball.
    Linf,
    /// l_2 ball.
    L2,
}

/// A parsed attack specification.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttackSpec {
    /// The text it was parsed from.
    pub spec: String,
    /// Attack family.
    #[serde(rename = "attack")]
    pub kind: AttackKind,
    /// Norm of the threat model.
    pub norm: Norm,
    /// Radius of the ball, in [0, 1] pixel units.
    pub eps: f32,
    /// Iterations (1 for FGSM).
    pub steps: usize,
}

/// The attack specifications this build understands, for error messages and `--help`.
pub const VALID_SPECS: &str =
    "fgsm:linf:EPS, pgd:linf:EPS[:STEPS], pgd:l2:EPS[:STEPS] (EPS like 8/255 or 0.5; STEPS default 10)";

fn parse_number(text: &str) -> Option<f32> {
    match text.split_once('/') {
        Some((a, b)) => {
            let (a, b): (f32, f32) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
            (b != 0.0).then_some(a / b)
        }
        None => text.trim().parse().ok(),
    }
}

impl std::str::FromStr for AttackSpec {
    type Err = crate::Error;

    fn from_str(text: &str) -> crate::Result<Self> {
        let bad = |why: &str| crate::Error::Attack(format!("'{text}': {why} (valid: {VALID_SPECS})"));
        let parts: Vec<&str> = text.split(':').collect();
        if parts.len() < 3 || parts.len() > 4 {
            return Err(bad("expected NAME:NORM:EPS[:STEPS]"));
        }
        let kind = match parts[0].to_ascii_lowercase().as_str() {
            "fgsm" => AttackKind::Fgsm,
            "pgd" => AttackKind::Pgd,
            other => return Err(bad(&format!("unknown attack '{other}'"))),
        };
        let norm = match parts[1].to_ascii_lowercase().as_str() {
            "linf" | "l_inf" | "inf" => Norm::Linf,
            "l2" | "l_2" => Norm::L2,
            other => return Err(bad(&format!("unsupported norm '{other}'"))),
        };
        if kind == AttackKind::Fgsm && norm != Norm::Linf {
            return Err(bad("FGSM is an l_inf attack"));
        }
        let eps = parse_number(parts[2]).ok_or_else(|| bad(&format!("'{}' is not a number", parts[2])))?;
        if !eps.is_finite() || eps < 0.0 {
            return Err(bad("eps must be >= 0"));
        }
        let steps = match (kind, parts.get(3)) {
            (AttackKind::Fgsm, None) => 1,
            (AttackKind::Fgsm, Some(_)) => return Err(bad("FGSM takes no STEPS")),
            (AttackKind::Pgd, None) => 10,
            (AttackKind::Pgd, Some(s)) => match s.parse::<usize>() {
                Ok(n) if n > 0 => n,
                _ => return Err(bad(&format!("STEPS must be a positive integer, got '{s}'"))),
            },
        };
        Ok(Self { spec: text.to_string(), kind, norm, eps, steps })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fractions_and_defaults() {
        let s: AttackSpec = "pgd:linf:8/255:40".parse().unwrap();
        assert_eq!((s.kind, s.norm, s.steps), (AttackKind::Pgd, Norm::Linf, 40));
        assert!((s.eps - 8.0 / 255.0).abs() < 1e-9);
        let f: AttackSpec = "fgsm:linf:0.5".parse().unwrap();
        assert_eq!((f.eps, f.steps), (0.5, 1));
        assert_eq!("pgd:linf:0".parse::<AttackSpec>().unwrap().steps, 10);
    }

    #[test]
    fn rejects_bad_specs_with_the_valid_list() {
        assert_eq!("pgd:l2:0.5".parse::<AttackSpec>().unwrap().norm, Norm::L2);
        for bad in ["cw:linf:1", "fgsm:l2:1", "pgd:l1:1", "fgsm:linf:-1/255", "pgd:linf:x", "pgd:linf:1:0", "fgsm", "fgsm:linf:1/0"] {
            let err = bad.parse::<AttackSpec>().unwrap_err().to_string();
            assert!(err.contains("valid: fgsm:linf"), "{bad}: {err}");
        }
    }
}
