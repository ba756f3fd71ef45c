//! Attack specifications: `NAME:NORM:EPS[:STEPS[:LOSS]]`, e.g. `fgsm:linf:8/255`,
//! `pgd:linf:8/255:40`, `pgd:linf:8/255:40:dlr`, `apgd-t:l2:0.5`, `fab-t:linf:8/255:100`,
//! `square:linf:8/255:5000`,
//! `autoattack:linf:8/255` or `autoattack:linf:8/255:apgd-ce+square`. EPS accepts decimals and
//! fractions. The older three- and four-field forms parse exactly as before.

use serde::Serialize;

use super::objective::Objective;

/// Attack families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AttackKind {
    /// Fast gradient sign method (Goodfellow et al. 2015).
    #[serde(rename = "fgsm")]
    Fgsm,
    /// Projected gradient descent (Madry et al. 2018).
    #[serde(rename = "pgd")]
    Pgd,
    /// Auto-PGD on the cross-entropy (Croce & Hein 2020).
    #[serde(rename = "apgd-ce")]
    ApgdCe,
    /// Auto-PGD on the untargeted DLR loss (AutoAttack "plus"/"rand").
    #[serde(rename = "apgd-dlr")]
    ApgdDlr,
    /// Auto-PGD on the targeted DLR loss, one run per target class.
    #[serde(rename = "apgd-t")]
    ApgdT,
    /// Untargeted FAB (Croce & Hein 2020b), minimum-norm, eps-bounded at the end.
    #[serde(rename = "fab")]
    Fab,
    /// Targeted FAB, one run per target class (AutoAttack "standard").
    #[serde(rename = "fab-t")]
    FabT,
    /// Square attack (Andriushchenko et al. 2020), score-based random search.
    #[serde(rename = "square")]
    Square,
    /// AutoAttack: a list of attacks, each on the points still robust.
    #[serde(rename = "autoattack")]
    AutoAttack,
}

impl AttackKind {
    /// The name used in specs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Fgsm => "fgsm",
            Self::Pgd => "pgd",
            Self::ApgdCe => "apgd-ce",
            Self::ApgdDlr => "apgd-dlr",
            Self::ApgdT => "apgd-t",
            Self::Fab => "fab",
            Self::FabT => "fab-t",
            Self::Square => "square",
            Self::AutoAttack => "autoattack",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Some(match text.to_ascii_lowercase().as_str() {
            "fgsm" => Self::Fgsm,
            "pgd" => Self::Pgd,
            "apgd-ce" | "apgd" => Self::ApgdCe,
            "apgd-dlr" => Self::ApgdDlr,
            "apgd-t" | "apgdt" => Self::ApgdT,
            "fab" => Self::Fab,
            "fab-t" | "fabt" => Self::FabT,
            "square" => Self::Square,
            "autoattack" | "aa" => Self::AutoAttack,
            _ => return None,
        })
    }
}

/// Threat-model norms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Norm {
    /// l_inf ball.
    Linf,
    /// l_2 ball.
    L2,
    /// l_1 ball.
    L1,
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
    /// Iterations (1 for FGSM; queries for Square; APGD iterations for AutoAttack).
    pub steps: usize,
    /// The objective gradient attacks ascend (`ce` unless a PGD spec names another).
    pub loss: Objective,
    /// AutoAttack's components, in the order they run (empty for the other attacks).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<AttackKind>,
    /// AutoAttack: each component's iterations (queries for Square); the published defaults
    /// (APGD 100, Square 5000) unless a custom list says `name@N`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub component_steps: Vec<usize>,
}

/// The attack specifications this build understands, for error messages and `--help`.
pub const VALID_SPECS: &str = "fgsm:linf:EPS[:LOSS], pgd:{linf,l2,l1}:EPS[:STEPS[:LOSS]] (LOSS ce|ce-t|dlr|cw, ce-t: labels are targets; STEPS default 10), \
apgd-ce|apgd-dlr|apgd-t:{linf,l2}:EPS[:STEPS] (default 100), fab|fab-t:{linf,l2}:EPS[:STEPS] (default 100), \
square:{linf,l2}:EPS[:QUERIES] (default 5000), autoattack:{linf,l2}:EPS[:standard|rand|A[@N]+B[@N]+...] (EPS like 8/255 or 0.5)";

/// The attacks AutoAttack "standard" runs, in order, as published: APGD-CE, APGD-T, FAB-T,
/// Square.
pub const STANDARD_COMPONENTS: [AttackKind; 4] = [AttackKind::ApgdCe, AttackKind::ApgdT, AttackKind::FabT, AttackKind::Square];

/// AutoAttack "rand" (for randomised defences): APGD-CE and APGD-DLR. The published version
/// averages 20 gradients per step (EoT); every model here is deterministic in eval mode, where
/// the 20 gradients are identical, so one is used.
pub const RAND_COMPONENTS: [AttackKind; 2] = [AttackKind::ApgdCe, AttackKind::ApgdDlr];

/// Most iterations (queries for Square) an attack may take: 10^6 steps of a tiny model on one
/// image already take hours; larger values are typing mistakes.
pub const MAX_STEPS: usize = 1_000_000;
/// Largest l2 / l1 radius (an l_inf radius is at most 1, the pixel range): beyond the diameter
/// of any image the models take, and small enough that step sizes stay finite in f32.
pub const MAX_EPS: f32 = 1e6;

/// A radius as specs write it: a decimal (`0.5`) or a fraction (`8/255`).
pub fn parse_eps(text: &str) -> Option<f32> {
    parse_number(text).filter(|e| e.is_finite() && *e >= 0.0)
}

fn parse_number(text: &str) -> Option<f32> {
    match text.split_once('/') {
        Some((a, b)) => {
            let (a, b): (f32, f32) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
            (b != 0.0).then_some(a / b)
        }
        None => text.trim().parse().ok(),
    }
}

/// The loss a fixed-objective attack ascends (FAB linearises logit differences, Square lowers
/// the margin); `None` for FGSM and PGD, whose loss is chosen.
fn fixed_loss(kind: AttackKind) -> Option<Objective> {
    match kind {
        AttackKind::Fgsm | AttackKind::Pgd => None,
        AttackKind::ApgdDlr => Some(Objective::Dlr),
        AttackKind::ApgdT => Some(Objective::DlrTargeted),
        AttackKind::Square | AttackKind::Fab | AttackKind::FabT => Some(Objective::Cw),
        AttackKind::ApgdCe | AttackKind::AutoAttack => Some(Objective::Ce),
    }
}

/// Default iterations (queries for Square) of each attack.
fn default_steps(kind: AttackKind) -> usize {
    match kind {
        AttackKind::Fgsm => 1,
        AttackKind::Pgd => 10,
        AttackKind::AutoAttack => 100,
        other => default_budget(other),
    }
}

/// Writes eps the way specs are written: `8/255` when it is a whole number of 255ths, else a
/// decimal.
fn eps_text(eps: f32) -> String {
    let k = eps * 255.0;
    if eps > 0.0 && (k - k.round()).abs() < 1e-4 && k.round() >= 1.0 { format!("{}/255", k.round() as u32) } else { format!("{eps}") }
}

impl AttackSpec {
    /// `kind` on the `norm` ball of radius `eps` with its default iterations and loss (PGD:
    /// 10 steps of cross-entropy; APGD, FAB: 100; Square: 5000 queries; AutoAttack: standard).
    pub fn new(kind: AttackKind, norm: Norm, eps: f32) -> crate::Result<Self> {
        let components = (kind == AttackKind::AutoAttack).then(|| STANDARD_COMPONENTS.iter().map(|&k| (k, None)).collect());
        Self::build(None, kind, norm, eps, None, None, components)
    }

    /// The same attack with `steps` iterations (queries for Square).
    pub fn with_steps(&self, steps: usize) -> crate::Result<Self> {
        self.rebuild(Some(steps), Some(self.loss))
    }

    /// The same attack ascending `loss` (FGSM: ce or ce-t; PGD: any but dlr-t).
    pub fn with_loss(&self, loss: Objective) -> crate::Result<Self> {
        self.rebuild(Some(self.steps), Some(loss))
    }

    /// AutoAttack with these components in this order, each with its iterations (queries for
    /// Square; `None`: the published budget).
    pub fn with_components(&self, components: Vec<(AttackKind, Option<usize>)>) -> crate::Result<Self> {
        if self.kind != AttackKind::AutoAttack {
            return Err(crate::Error::Attack(format!("'{}': only AutoAttack has components", self.spec)));
        }
        Self::build(None, self.kind, self.norm, self.eps, Some(self.steps), Some(self.loss), Some(components))
    }

    /// The same attack at radius `eps`.
    pub fn with_eps(&self, eps: f32) -> crate::Result<Self> {
        let mut spec = self.clone();
        spec.eps = eps;
        spec.rebuild(Some(self.steps), Some(self.loss))
    }

    fn rebuild(&self, steps: Option<usize>, loss: Option<Objective>) -> crate::Result<Self> {
        let components = (self.kind == AttackKind::AutoAttack)
            .then(|| self.components.iter().zip(&self.component_steps).map(|(&k, &n)| (k, Some(n))).collect());
        Self::build(None, self.kind, self.norm, self.eps, steps, loss, components)
    }

    /// The spec in the text grammar (what `spec` holds for specs built from fields).
    pub fn to_text(&self) -> String {
        let head = format!("{}:{}:{}", self.kind.name(), norm_name(self.norm), eps_text(self.eps));
        match self.kind {
            AttackKind::Fgsm if self.loss == Objective::Ce => head,
            AttackKind::Fgsm => format!("{head}:{}", self.loss.name()),
            AttackKind::Pgd if self.loss == Objective::Ce => format!("{head}:{}", self.steps),
            AttackKind::Pgd => format!("{head}:{}:{}", self.steps, self.loss.name()),
            AttackKind::AutoAttack => {
                let items: Vec<String> = self.components.iter().zip(&self.component_steps).map(|(k, n)| format!("{}@{n}", k.name())).collect();
                format!("{head}:{}", items.join("+"))
            }
            _ => format!("{head}:{}", self.steps),
        }
    }

    /// The one place a spec is validated, whether it came from text (`text` is then the input,
    /// quoted in errors and kept as `spec`) or from fields. `None` means the default.
    fn build(
        text: Option<&str>,
        kind: AttackKind,
        norm: Norm,
        eps: f32,
        steps: Option<usize>,
        loss: Option<Objective>,
        components: Option<Vec<(AttackKind, Option<usize>)>>,
    ) -> crate::Result<Self> {
        let bad = |why: &str| {
            let shown = text.map(str::to_string).unwrap_or_else(|| format!("{}:{}:{}", kind.name(), norm_name(norm), eps_text(eps)));
            crate::Error::Attack(format!("'{shown}': {why} (valid: {VALID_SPECS})"))
        };
        match (kind, norm) {
            (AttackKind::Fgsm, Norm::Linf) | (AttackKind::Pgd, _) => {}
            (AttackKind::Fgsm, _) => return Err(bad("FGSM is an l_inf attack")),
            (_, Norm::L1) => return Err(bad(&format!("{} supports linf and l2 only", kind.name()))),
            _ => {}
        }
        if !eps.is_finite() || eps < 0.0 {
            return Err(bad("eps must be >= 0"));
        }
        let max_eps = if norm == Norm::Linf { 1.0 } else { MAX_EPS };
        if eps > max_eps {
            return Err(bad(&format!(
                "eps {eps} is beyond {max_eps} ({})",
                if norm == Norm::Linf { "l_inf radii above 1 exceed the [0, 1] pixel range" } else { "larger radii overflow f32 step sizes" }
            )));
        }
        let steps = steps.unwrap_or(default_steps(kind));
        if steps == 0 || (kind == AttackKind::Fgsm && steps != 1) {
            return Err(bad(if kind == AttackKind::Fgsm { "FGSM takes one step" } else { "STEPS must be a positive integer" }));
        }
        if steps > MAX_STEPS {
            return Err(bad(&format!("STEPS {steps} is beyond {MAX_STEPS} (such an attack would not finish)")));
        }
        let loss = match (fixed_loss(kind), loss) {
            (Some(fixed), None) => fixed,
            (Some(fixed), Some(l)) if l == fixed => fixed,
            (Some(_), Some(_)) => return Err(bad(&format!("{} takes no LOSS", kind.name()))),
            (None, None) => Objective::Ce,
            (None, Some(l)) if kind == AttackKind::Fgsm && !matches!(l, Objective::Ce | Objective::CeTargeted) => {
                return Err(bad(&format!("FGSM's loss is ce or ce-t, got '{}'", l.name())));
            }
            (None, Some(Objective::DlrTargeted)) => return Err(bad("unknown PGD loss 'dlr-t' (ce, ce-t, dlr or cw)")),
            (None, Some(l)) => l,
        };
        let (mut component_kinds, mut component_steps) = (Vec::new(), Vec::new());
        if kind == AttackKind::AutoAttack {
            for (k, n) in components.unwrap_or_else(|| STANDARD_COMPONENTS.iter().map(|&k| (k, None)).collect()) {
                if !matches!(
                    k,
                    AttackKind::ApgdCe | AttackKind::ApgdDlr | AttackKind::ApgdT | AttackKind::Fab | AttackKind::FabT | AttackKind::Square
                ) {
                    return Err(bad(&format!(
                        "'{}' is not an AutoAttack component (apgd-ce, apgd-dlr, apgd-t, fab, fab-t, square)",
                        k.name()
                    )));
                }
                if n == Some(0) {
                    return Err(bad("STEPS must be a positive integer"));
                }
                if n.is_some_and(|n| n > MAX_STEPS) {
                    return Err(bad(&format!("STEPS is beyond {MAX_STEPS} (such an attack would not finish)")));
                }
                component_kinds.push(k);
                component_steps.push(n.unwrap_or(default_budget(k)));
            }
        }
        let mut spec = Self { spec: String::new(), kind, norm, eps, steps, loss, components: component_kinds, component_steps };
        spec.spec = text.map(str::to_string).unwrap_or_else(|| spec.to_text());
        Ok(spec)
    }
}

impl std::str::FromStr for AttackSpec {
    type Err = crate::Error;

    /// Reads the text grammar into fields; [`AttackSpec::build`] validates them.
    fn from_str(text: &str) -> crate::Result<Self> {
        let bad = |why: &str| crate::Error::Attack(format!("'{text}': {why} (valid: {VALID_SPECS})"));
        let parts: Vec<&str> = text.split(':').collect();
        if parts.len() < 3 || parts.len() > 5 {
            return Err(bad("expected NAME:NORM:EPS[:STEPS[:LOSS]]"));
        }
        let kind = AttackKind::parse(parts[0]).ok_or_else(|| bad(&format!("unknown attack '{}'", parts[0])))?;
        let norm = match parts[1].to_ascii_lowercase().as_str() {
            "linf" | "l_inf" | "inf" => Norm::Linf,
            "l2" | "l_2" => Norm::L2,
            "l1" | "l_1" => Norm::L1,
            other => return Err(bad(&format!("unsupported norm '{other}'"))),
        };
        let eps = parse_number(parts[2]).ok_or_else(|| bad(&format!("'{}' is not a number", parts[2])))?;
        let positive = |s: &str| match s.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(bad(&format!("STEPS must be a positive integer, got '{s}'"))),
        };
        let (mut steps, mut loss, mut components) = (None, None, None);
        match kind {
            AttackKind::Fgsm => {
                if let Some(name) = parts.get(3) {
                    loss = Some(
                        Objective::parse(name)
                            .filter(|o| matches!(o, Objective::Ce | Objective::CeTargeted))
                            .ok_or_else(|| bad(&format!("FGSM takes no STEPS; its optional 4th field is the loss (ce or ce-t), got '{name}'")))?,
                    );
                }
                if parts.len() > 4 {
                    return Err(bad("FGSM takes NORM:EPS[:LOSS]"));
                }
            }
            AttackKind::Pgd => {
                if let Some(name) = parts.get(4) {
                    loss = Some(
                        Objective::parse(name)
                            .filter(|o| *o != Objective::DlrTargeted)
                            .ok_or_else(|| bad(&format!("unknown PGD loss '{name}' (ce, ce-t, dlr or cw)")))?,
                    );
                }
                steps = parts.get(3).map(|s| positive(s)).transpose()?;
            }
            AttackKind::AutoAttack => {
                if parts.len() > 4 {
                    return Err(bad("autoattack takes NORM:EPS[:VERSION]"));
                }
                components = Some(match parts.get(3).map(|s| s.to_ascii_lowercase()) {
                    None => STANDARD_COMPONENTS.iter().map(|&k| (k, None)).collect(),
                    Some(v) if v == "standard" => STANDARD_COMPONENTS.iter().map(|&k| (k, None)).collect(),
                    Some(v) if v == "rand" => RAND_COMPONENTS.iter().map(|&k| (k, None)).collect(),
                    Some(list) => {
                        let mut items = Vec::new();
                        for item in list.split('+') {
                            let (name, budget) = match item.split_once('@') {
                                Some((name, n)) => (name, Some(positive(n)?)),
                                None => (item, None),
                            };
                            let k = AttackKind::parse(name).ok_or_else(|| {
                                bad(&format!("'{name}' is not an AutoAttack component (apgd-ce, apgd-dlr, apgd-t, fab, fab-t, square)"))
                            })?;
                            items.push((k, budget));
                        }
                        items
                    }
                });
            }
            _ => {
                if parts.len() > 4 {
                    return Err(bad(&format!("{} takes no LOSS", kind.name())));
                }
                steps = parts.get(3).map(|s| positive(s)).transpose()?;
            }
        }
        Self::build(Some(text), kind, norm, eps, steps, loss, components)
    }
}

impl AttackSpec {
    /// Parses a spec whose EPS field may list several radii separated by commas
    /// (`pgd:linf:2/255,4/255,8/255:40`), giving one spec per radius, in order.
    pub fn parse_list(text: &str) -> crate::Result<Vec<AttackSpec>> {
        let parts: Vec<&str> = text.split(':').collect();
        match parts.get(2) {
            Some(eps) if eps.contains(',') => eps
                .split(',')
                .map(|e| {
                    let mut p = parts.clone();
                    p[2] = e.trim();
                    p.join(":").parse()
                })
                .collect(),
            _ => Ok(vec![text.parse()?]),
        }
    }

    /// The same threat model (norm, eps) for another attack with its default settings, e.g. an
    /// AutoAttack component (with the budget this spec gives it).
    pub fn component(&self, kind: AttackKind) -> AttackSpec {
        let steps = self.components.iter().position(|&k| k == kind).map_or(default_budget(kind), |i| self.component_steps[i]);
        AttackSpec::new(kind, self.norm, self.eps)
            .and_then(|s| s.with_steps(steps))
            .expect("a component of a valid spec is valid")
    }
}

/// The published budget of an AutoAttack component: 100 APGD or FAB iterations, 5000 Square
/// queries.
pub fn default_budget(kind: AttackKind) -> usize {
    if kind == AttackKind::Square { 5000 } else { 100 }
}

/// The spec name of a norm.
pub fn norm_name(norm: Norm) -> &'static str {
    match norm {
        Norm::Linf => "linf",
        Norm::L2 => "l2",
        Norm::L1 => "l1",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fractions_and_defaults() {
        let s: AttackSpec = "pgd:linf:8/255:40".parse().unwrap();
        assert_eq!((s.kind, s.norm, s.steps, s.loss), (AttackKind::Pgd, Norm::Linf, 40, Objective::Ce));
        assert!((s.eps - 8.0 / 255.0).abs() < 1e-9);
        let f: AttackSpec = "fgsm:linf:0.5".parse().unwrap();
        assert_eq!((f.eps, f.steps), (0.5, 1));
        assert_eq!("pgd:linf:0".parse::<AttackSpec>().unwrap().steps, 10);
    }

    #[test]
    fn parses_targeted_losses() {
        assert_eq!("fgsm:linf:8/255:ce-t".parse::<AttackSpec>().unwrap().loss, Objective::CeTargeted);
        assert_eq!("pgd:l2:0.5:20:ce-t".parse::<AttackSpec>().unwrap().loss, Objective::CeTargeted);
        assert!("fgsm:linf:8/255:10".parse::<AttackSpec>().is_err());
        assert!("fgsm:linf:8/255:dlr".parse::<AttackSpec>().is_err());
    }

    #[test]
    fn parses_the_new_attacks_losses_and_lists() {
        let s: AttackSpec = "pgd:linf:8/255:40:dlr".parse().unwrap();
        assert_eq!((s.steps, s.loss), (40, Objective::Dlr));
        assert_eq!("pgd:l2:0.5:20:cw".parse::<AttackSpec>().unwrap().loss, Objective::Cw);
        assert_eq!("pgd:l1:10".parse::<AttackSpec>().unwrap().norm, Norm::L1);
        let a: AttackSpec = "apgd-t:l2:0.5".parse().unwrap();
        assert_eq!((a.kind, a.steps, a.loss), (AttackKind::ApgdT, 100, Objective::DlrTargeted));
        let f: AttackSpec = "fab-t:l2:0.5".parse().unwrap();
        assert_eq!((f.kind, f.norm, f.steps), (AttackKind::FabT, Norm::L2, 100));
        assert_eq!("fab:linf:8/255:20".parse::<AttackSpec>().unwrap().kind, AttackKind::Fab);
        let q: AttackSpec = "square:linf:8/255".parse().unwrap();
        assert_eq!((q.kind, q.steps), (AttackKind::Square, 5000));
        let aa: AttackSpec = "autoattack:linf:8/255".parse().unwrap();
        assert_eq!(aa.components, STANDARD_COMPONENTS.to_vec());
        let r: AttackSpec = "autoattack:l2:0.5:rand".parse().unwrap();
        assert_eq!(r.components, RAND_COMPONENTS.to_vec());
        let c: AttackSpec = "aa:linf:8/255:apgd-ce+square".parse().unwrap();
        assert_eq!(c.components, vec![AttackKind::ApgdCe, AttackKind::Square]);
        assert_eq!(c.component_steps, vec![100, 5000]);
        assert_eq!(aa.component_steps, vec![100, 100, 100, 5000]);
        let t: AttackSpec = "aa:l2:0.5:fab-t@20+fab".parse().unwrap();
        assert_eq!((t.components, t.component_steps), (vec![AttackKind::FabT, AttackKind::Fab], vec![20, 100]));
        let b: AttackSpec = "aa:l2:0.5:apgd-t@20+square@300".parse().unwrap();
        assert_eq!(b.component_steps, vec![20, 300]);
        assert_eq!(b.component(AttackKind::Square).steps, 300);
        assert_eq!(aa.component(AttackKind::Square).steps, 5000);
        let many = AttackSpec::parse_list("pgd:l2:0.25,0.5:20:dlr").unwrap();
        assert_eq!(many.iter().map(|s| s.spec.as_str()).collect::<Vec<_>>(), ["pgd:l2:0.25:20:dlr", "pgd:l2:0.5:20:dlr"]);
        assert!(AttackSpec::parse_list("pgd:l2:0.25,x:20").is_err());
        assert_eq!(AttackSpec::parse_list("fgsm:linf:1/255").unwrap().len(), 1);
        let comp = aa.component(AttackKind::ApgdT);
        assert_eq!((comp.kind, comp.norm, comp.eps, comp.steps), (AttackKind::ApgdT, Norm::Linf, aa.eps, 100));
    }

    #[test]
    fn typed_constructors_agree_with_the_grammar() {
        let pgd = AttackSpec::new(AttackKind::Pgd, Norm::Linf, 8.0 / 255.0).unwrap().with_steps(40).unwrap();
        assert_eq!(pgd.spec, "pgd:linf:8/255:40");
        let parsed: AttackSpec = "pgd:linf:8/255:40".parse().unwrap();
        assert_eq!(pgd, parsed);
        let targeted = pgd.with_loss(Objective::CeTargeted).unwrap();
        assert_eq!((targeted.spec.as_str(), targeted.steps), ("pgd:linf:8/255:40:ce-t", 40));
        assert_eq!(targeted, "pgd:linf:8/255:40:ce-t".parse().unwrap());
        let fgsm = AttackSpec::new(AttackKind::Fgsm, Norm::Linf, 0.03).unwrap();
        assert_eq!((fgsm.spec.as_str(), fgsm.steps, fgsm.loss), ("fgsm:linf:0.03", 1, Objective::Ce));
        let square = AttackSpec::new(AttackKind::Square, Norm::L2, 0.5).unwrap();
        assert_eq!((square.steps, square.loss), (5000, Objective::Cw));
        let aa = AttackSpec::new(AttackKind::AutoAttack, Norm::Linf, 4.0 / 255.0).unwrap();
        assert_eq!(aa.components, STANDARD_COMPONENTS.to_vec());
        assert_eq!(aa, aa.spec.parse().unwrap(), "{}", aa.spec);
        assert_eq!(pgd.with_eps(2.0 / 255.0).unwrap().spec, "pgd:linf:2/255:40");
        let custom = aa.with_components(vec![(AttackKind::ApgdCe, Some(10)), (AttackKind::Square, None)]).unwrap();
        assert_eq!(custom.spec, "autoattack:linf:4/255:apgd-ce@10+square@5000");
        assert_eq!(custom, custom.spec.parse().unwrap());
        assert!(aa.with_components(vec![(AttackKind::Pgd, None)]).is_err() && pgd.with_components(vec![]).is_err());
        // The grammar's rules hold for fields too.
        for err in [
            AttackSpec::new(AttackKind::Fgsm, Norm::L2, 0.1).unwrap_err(),
            fgsm.with_steps(5).unwrap_err(),
            square.with_loss(Objective::Ce).unwrap_err(),
            pgd.with_loss(Objective::DlrTargeted).unwrap_err(),
            pgd.with_steps(0).unwrap_err(),
            AttackSpec::new(AttackKind::Pgd, Norm::Linf, f32::NAN).unwrap_err(),
            AttackSpec::new(AttackKind::ApgdCe, Norm::L1, 1.0).unwrap_err(),
        ] {
            assert!(err.to_string().contains("valid: fgsm:linf"), "{err}");
        }
    }

    #[test]
    fn rejects_bad_specs_with_the_valid_list() {
        assert_eq!("pgd:l2:0.5".parse::<AttackSpec>().unwrap().norm, Norm::L2);
        for bad in [
            "cw:linf:1",
            "fgsm:l2:1",
            "fgsm:linf:-1/255",
            "pgd:linf:x",
            "pgd:linf:1:0",
            "fgsm",
            "fgsm:linf:1/0",
            "pgd:linf:1:10:nope",
            "pgd:linf:1:10:dlr-t",
            "apgd-ce:l1:1",
            "square:linf:1:10:ce",
            "fab-t:l1:1",
            "fab:linf:1:10:ce",
            "autoattack:linf:1:pgd",
            "autoattack:linf:1:square@0",
            "pgd:linf:8/255:1000000000000",
            "autoattack:linf:8/255:apgd-ce@1000001",
            "pgd:linf:1e30:10",
            "fgsm:linf:1.5",
            "pgd:l2:1e30:10",
            "square:linf:8/255:0",
        ] {
            let err = bad.parse::<AttackSpec>().unwrap_err().to_string();
            assert!(err.contains("valid: fgsm:linf"), "{bad}: {err}");
        }
        assert!("pgd:l2:1000:10".parse::<AttackSpec>().is_ok() && "pgd:linf:1:1000000".parse::<AttackSpec>().is_ok());
        let err = "autoattack:linf:1:fgsm".parse::<AttackSpec>().unwrap_err().to_string();
        assert!(err.contains("is not an AutoAttack component"), "{err}");
    }
}
