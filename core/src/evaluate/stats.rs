//! The statistics of a study's numbers (issue 17): the paper averages 5 training runs, so the
//! study trains N seeds of each setting and every number it reports is a mean over seeds with
//! two kinds of uncertainty:
//!
//! - **training noise**: the sample standard deviation `s` over the N seeds (n - 1 in the
//!   denominator, as `numpy.std(ddof=1)`; 0 for one seed);
//! - **test-sample noise**: an accuracy measured on `n` test images is a binomial proportion;
//!   its 95% interval is Wilson's score interval ([`wilson_interval`], as
//!   `scipy.stats.binomtest(k, n).proportion_ci(method="wilson")`), and its variance
//!   `p (1 - p) / n`. Every seed is evaluated on the same test images, so this part does not
//!   shrink with N.
//!
//! The standard error of a mean proportion is therefore `sqrt(p (1 - p) / n + s^2 / N)`
//! ([`Proportion::standard_error`]), and a difference of two such means has the root sum of
//! squares of their standard errors ([`Difference::between`]; the two models are evaluated on
//! the same images, so treating them as independent is conservative). A difference counts as
//! real only when it exceeds `z` standard errors (`z` = [`Z95`], the two-sided 95% point).
//!
//! A relative drop `(clean - adversarial) / clean` is a proportion too: an image counts as
//! robust only if it is correct clean and after the attack, so `1 - drop` is the fraction of the
//! `n * clean` clean-correct images that survive the attack; its binomial part is
//! `drop (1 - drop) / (n * clean)`.
//!
//! The paper's "gap closed" (Table 4) has two readings and its printed values match neither
//! exactly (A-FNC 0.99 -> 0.7 under FGSM 8/255: raw accuracies give 56.7%, exact relative drops
//! 60.0%, the rounded drops of the table 58.3%, printed 58%), so [`GapClosed`] reports both:
//! `raw = (acc - acc_SimCLR) / (acc_SupCon - acc_SimCLR)` and `relative = (drop_SimCLR - drop) /
//! (drop_SimCLR - drop_SupCon)`, each only where its gap (SupCon above SimCLR in accuracy,
//! SimCLR above SupCon in drop) exceeds `z` standard errors of the gap; otherwise the gap is
//! noise and any ratio to it meaningless ("n/a (no gap)").
//!
//! The paper's Table 5 marks each "Augmented" method (A-RoCL, A-ACL) with its relative gain over
//! the base method, `(acc - acc_base) / acc_base` (43.6 -> 45.9 is ↑5.3%); [`RelativeGain`]
//! claims it only where `acc - acc_base` exceeds `z` standard errors, else "within noise".

use std::cmp::Ordering;

use super::EvalReport;

/// `z` of a two-sided 95% normal interval (`scipy.stats.norm.ppf(0.975)`).
pub const Z95: f64 = 1.959963984540054;

/// A closed interval `[low, high]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// Lower end.
    pub low: f64,
    /// Upper end.
    pub high: f64,
}

/// Wilson's score interval of a proportion `p` observed in `trials` trials at `z` (Wilson 1927;
/// Brown, Cai & DasGupta 2001 recommend it over the Wald interval for small n):
/// `(p + z²/2n ± z sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)`. Without trials it is `[0, 1]`.
pub fn wilson_interval(p: f64, trials: f64, z: f64) -> Interval {
    if trials <= 0.0 || !p.is_finite() {
        return Interval { low: 0.0, high: 1.0 };
    }
    let (n, z2) = (trials, z * z);
    let denominator = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denominator;
    let half = z / denominator * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).max(0.0).sqrt();
    Interval { low: (centre - half).max(0.0), high: (centre + half).min(1.0) }
}

/// Mean and sample standard deviation of some samples (the seeds of one number).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (n - 1 in the denominator); 0 for one sample.
    pub std: f64,
    /// Number of samples.
    pub count: usize,
}

impl Summary {
    /// The summary of `samples`; `None` when there are none.
    pub fn of(samples: &[f64]) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        let count = samples.len();
        let mean = samples.iter().sum::<f64>() / count as f64;
        let std = if count > 1 { (samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (count - 1) as f64).sqrt() } else { 0.0 };
        Some(Self { mean, std, count })
    }

    /// Standard error of the mean from the spread over samples, `std / sqrt(count)`.
    pub fn standard_error(&self) -> f64 {
        self.std / (self.count as f64).sqrt()
    }
}

/// A proportion (an accuracy, a relative drop) measured once per seed, each time over `trials`
/// binomial trials.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Proportion {
    /// The values over seeds.
    pub seeds: Summary,
    /// Trials behind each seed's value (test images; clean-correct images for a drop).
    pub trials: f64,
}

impl Proportion {
    /// The proportion with values `per_seed`, each over `trials` trials; `None` without values.
    pub fn new(per_seed: &[f64], trials: f64) -> Option<Self> {
        Some(Self { seeds: Summary::of(per_seed)?, trials })
    }

    /// The mean over seeds.
    pub fn mean(&self) -> f64 {
        self.seeds.mean
    }

    /// `sqrt(p (1 - p) / trials + s² / N)`: test-sample and training noise of the mean.
    pub fn standard_error(&self) -> f64 {
        let p = self.mean();
        let binomial = if self.trials > 0.0 { (p * (1.0 - p)).max(0.0) / self.trials } else { 0.0 };
        (binomial + self.seeds.standard_error().powi(2)).sqrt()
    }

    /// Wilson's interval of the mean for its number of trials (see [`wilson_interval`]).
    pub fn wilson(&self, z: f64) -> Interval {
        wilson_interval(self.mean(), self.trials, z)
    }
}

/// A difference of two measured numbers with its standard error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Difference {
    /// `a - b`.
    pub value: f64,
    /// Its standard error (0: no uncertainty is known, e.g. one seed of a geometry number).
    pub standard_error: f64,
}

impl Difference {
    /// `a - b` for two proportions: standard errors added in quadrature.
    pub fn between(a: &Proportion, b: &Proportion) -> Self {
        Self { value: a.mean() - b.mean(), standard_error: a.standard_error().hypot(b.standard_error()) }
    }

    /// `a - b` for two numbers known only through their spread over seeds (a separation ratio).
    pub fn of_means(a: &Summary, b: &Summary) -> Self {
        Self { value: a.mean - b.mean, standard_error: a.standard_error().hypot(b.standard_error()) }
    }

    /// Paired differences (one per item, e.g. per corruption): their mean, and the standard
    /// error of that mean from their spread; `None` without items.
    pub fn paired(differences: &[f64]) -> Option<Self> {
        let s = Summary::of(differences)?;
        Some(Self { value: s.mean, standard_error: s.standard_error() })
    }

    /// `Greater` when the difference exceeds `z` standard errors, `Less` when it is below `-z`
    /// of them, `Equal` within (with no known uncertainty: the plain sign, 0 as `Equal`).
    pub fn sign(&self, z: f64) -> Ordering {
        let margin = z * self.standard_error;
        if self.value > margin {
            Ordering::Greater
        } else if self.value < -margin {
            Ordering::Less
        } else {
            Ordering::Equal
        }
    }
}

/// The paper's "gap closed" (Table 4): `(x - low) / (high - low)`, for accuracies (raw) or for
/// relative drops (`(drop - drop_low) / (drop_high - drop_low)`, the same ratio); `None` when
/// `high == low`. [`GapClosed`] decides whether there is a gap to close.
pub fn gap_closed(x: f64, low: f64, high: f64) -> Option<f64> {
    ((high - low).abs() > 1e-12).then(|| (x - low) / (high - low))
}

/// One model's clean accuracy over seeds: one value per report, over its test images.
pub fn clean_stats(reports: &[&EvalReport]) -> Option<Proportion> {
    let values: Vec<f64> = reports.iter().map(|r| r.clean_accuracy).collect();
    Proportion::new(&values, trials(reports.iter().map(|r| r.images as f64)))
}

fn trials(values: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = values.collect();
    if v.is_empty() { 0.0 } else { v.iter().sum::<f64>() / v.len() as f64 }
}

/// One model's accuracy and relative drop under one attack, over seeds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AttackStats {
    /// Accuracy under the attack, over the test images.
    pub accuracy: Proportion,
    /// Relative drop, over the clean-correct images.
    pub drop: Proportion,
}

impl AttackStats {
    /// The attack `spec` in every report that has it; `None` when none has it.
    pub fn of(reports: &[&EvalReport], spec: &str) -> Option<Self> {
        let found: Vec<(&EvalReport, &super::AttackResult)> =
            reports.iter().filter_map(|r| Some((*r, r.attacks.iter().find(|a| a.spec == spec)?))).collect();
        let accuracy: Vec<f64> = found.iter().map(|(_, a)| a.accuracy).collect();
        let drop: Vec<f64> = found.iter().map(|(_, a)| a.p_drop).collect();
        Some(Self {
            accuracy: Proportion::new(&accuracy, trials(found.iter().map(|(r, _)| r.images as f64)))?,
            drop: Proportion::new(&drop, trials(found.iter().map(|(r, _)| r.images as f64 * r.clean_accuracy)))?,
        })
    }
}

/// The gap closed by one model under one attack, in both readings (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GapClosed {
    /// `(acc - acc_low) / (acc_high - acc_low)`, where the accuracy gap is real.
    pub raw: Option<f64>,
    /// `(drop_low - drop) / (drop_low - drop_high)`, where the drop gap is real.
    pub relative: Option<f64>,
    /// `acc_high - acc_low` with its standard error.
    pub gap: Difference,
    /// `drop_low - drop_high` with its standard error.
    pub drop_gap: Difference,
}

impl GapClosed {
    /// The gap `model` closes between `low` (SimCLR) and `high` (SupCon); a reading is given
    /// only where its gap exceeds `z` standard errors.
    pub fn new(model: &AttackStats, low: &AttackStats, high: &AttackStats, z: f64) -> Self {
        let gap = Difference::between(&high.accuracy, &low.accuracy);
        let drop_gap = Difference::between(&low.drop, &high.drop);
        let real = |d: &Difference| d.sign(z) == Ordering::Greater;
        Self {
            raw: if real(&gap) { gap_closed(model.accuracy.mean(), low.accuracy.mean(), high.accuracy.mean()) } else { None },
            relative: if real(&drop_gap) { gap_closed(model.drop.mean(), low.drop.mean(), high.drop.mean()) } else { None },
            gap,
            drop_gap,
        }
    }

    /// The table cell: `raw / relative` in percent, `n/a` for a reading without a gap, and
    /// `n/a (no gap)` when neither has one.
    pub fn cell(&self) -> String {
        gap_cell(self.raw, self.relative)
    }
}

/// A gap-closed cell from its two readings: `raw / relative` in percent, `n/a` for a reading
/// without a gap, `n/a (no gap)` when neither has one.
pub fn gap_cell(raw: Option<f64>, relative: Option<f64>) -> String {
    let show = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{:.1}%", 100.0 * v));
    match (raw, relative) {
        (None, None) => "n/a (no gap)".into(),
        (raw, relative) => format!("{} / {}", show(raw), show(relative)),
    }
}

/// The paper's Table 5 gain of an "Augmented" method (A-FNC added: A-RoCL, A-ACL) over its
/// base method (RoCL, ACL) in one column: the relative gain `(a - b) / b` of accuracy `a` over
/// the base's `b` (the paper's "45.9 ↑5.3%" over RoCL's 43.6: 2.3 / 43.6 = 5.3%), and whether
/// the difference `a - b` exceeds `z` standard errors ([`Difference::between`]). Only then is
/// the gain claimed; otherwise the cell says the change is within noise, as [`GapClosed`]
/// shows no reading without a gap.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RelativeGain {
    /// `(a - b) / b`; `None` when the base accuracy is 0 (no relative change is defined).
    pub gain: Option<f64>,
    /// `a - b` with its standard error.
    pub difference: Difference,
    /// `Greater`: a gain beyond `z` standard errors; `Less`: a loss beyond them; `Equal`: noise.
    pub sign: Ordering,
}

/// `(a - b) / b`, the relative gain of `a` over `b`; `None` when `b` is 0.
pub fn relative_gain(a: f64, b: f64) -> Option<f64> {
    (b.abs() > 1e-12).then(|| (a - b) / b)
}

/// The median of `values` (the mean of the middle two for an even count); `None` without
/// values. The paper's Table 5 caption quotes the median gain across attacks (RoCL 5.5%, ACL 4.4%).
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

impl RelativeGain {
    /// The gain of `model` over `base` (accuracies over seeds and test images).
    pub fn new(model: &Proportion, base: &Proportion, z: f64) -> Self {
        let difference = Difference::between(model, base);
        Self { gain: relative_gain(model.mean(), base.mean()), difference, sign: difference.sign(z) }
    }

    /// The gain as the table shows it: `↑5.3%` for a gain beyond the uncertainty, `↓2.0%` for
    /// such a loss, `+1.2% (within noise)` otherwise; `n/a (base 0%)` without a base accuracy.
    pub fn cell(&self) -> String {
        let Some(g) = self.gain else { return "n/a (base 0%)".into() };
        match self.sign {
            Ordering::Greater => format!("↑{:.1}%", 100.0 * g),
            Ordering::Less => format!("↓{:.1}%", -100.0 * g),
            Ordering::Equal => format!("{:+.1}% (within noise)", 100.0 * g),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn fixture() -> Value {
        // written by scripts/make_stats_fixtures.py (SciPy/NumPy)
        serde_json::from_str(include_str!("../../tests/fixtures/stats.json")).unwrap()
    }

    #[test]
    fn wilson_interval_matches_scipy() {
        let f = fixture();
        assert!((f["z95"].as_f64().unwrap() - Z95).abs() < 1e-12);
        let cases = f["wilson"].as_array().unwrap();
        assert_eq!(cases.len(), 8);
        for c in cases {
            let (k, n) = (c["successes"].as_f64().unwrap(), c["trials"].as_f64().unwrap());
            let i = wilson_interval(k / n, n, Z95);
            assert!((i.low - c["low"].as_f64().unwrap()).abs() < 1e-12, "{c}: {i:?}");
            assert!((i.high - c["high"].as_f64().unwrap()).abs() < 1e-12, "{c}: {i:?}");
        }
        // hand-derived: p = 1/2, n = 4, z = 2: centre 1/2, half = (2/2) * sqrt(1/16 + 1/16) = 0.3536
        let i = wilson_interval(0.5, 4.0, 2.0);
        assert!((i.low - (0.5 - 0.125f64.sqrt())).abs() < 1e-12 && (i.high - (0.5 + 0.125f64.sqrt())).abs() < 1e-12, "{i:?}");
        assert_eq!(wilson_interval(0.3, 0.0, Z95), Interval { low: 0.0, high: 1.0 });
    }

    #[test]
    fn summaries_match_numpy() {
        for c in fixture()["summary"].as_array().unwrap() {
            let samples: Vec<f64> = c["samples"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
            let s = Summary::of(&samples).unwrap();
            assert_eq!(s.count, samples.len());
            assert!((s.mean - c["mean"].as_f64().unwrap()).abs() < 1e-14, "{c}: {s:?}");
            assert!((s.std - c["std"].as_f64().unwrap()).abs() < 1e-14, "{c}: {s:?}");
        }
        assert_eq!(Summary::of(&[0.4]), Some(Summary { mean: 0.4, std: 0.0, count: 1 }));
        assert_eq!(Summary::of(&[]), None);
    }

    #[test]
    fn standard_errors_combine_binomial_and_seed_noise() {
        // one seed: the binomial part only, sqrt(0.3 * 0.7 / 100)
        let one = Proportion::new(&[0.3], 100.0).unwrap();
        assert!((one.standard_error() - 0.0021f64.sqrt()).abs() < 1e-12);
        // two seeds 0.2 and 0.4 over 50 images: p = 0.3, s² = 0.02, s²/N = 0.01, binomial 0.0042
        let two = Proportion::new(&[0.2, 0.4], 50.0).unwrap();
        assert!((two.standard_error() - 0.0142f64.sqrt()).abs() < 1e-12, "{}", two.standard_error());
        let d = Difference::between(&two, &one);
        assert!((d.value - 0.0).abs() < 1e-12 && (d.standard_error - 0.0163f64.sqrt()).abs() < 1e-12, "{d:?}");
        // paired: differences 1, 2, 3 -> mean 2, s = 1, se = 1/sqrt(3)
        let p = Difference::paired(&[1.0, 2.0, 3.0]).unwrap();
        assert!((p.value - 2.0).abs() < 1e-12 && (p.standard_error - 1.0 / 3f64.sqrt()).abs() < 1e-12);
        assert_eq!(Difference { value: 0.1, standard_error: 0.05 }.sign(Z95), Ordering::Greater);
        assert_eq!(Difference { value: 0.09, standard_error: 0.05 }.sign(Z95), Ordering::Equal);
        assert_eq!(Difference { value: -0.1, standard_error: 0.05 }.sign(Z95), Ordering::Less);
        assert_eq!(Difference { value: 0.001, standard_error: 0.0 }.sign(Z95), Ordering::Greater);
    }

    fn attack(accuracy: f64, clean: f64, images: f64) -> AttackStats {
        AttackStats {
            accuracy: Proportion::new(&[accuracy], images).unwrap(),
            drop: Proportion::new(&[1.0 - accuracy / clean], images * clean).unwrap(),
        }
    }

    #[test]
    fn gap_closed_only_where_the_gap_exceeds_its_uncertainty() {
        // The paper's Table 4, FGSM 8/255 on 10,000 images: SimCLR 92.7 -> 26.8, SupCon 95.5 ->
        // 38.8, A-FNC 0.99 -> 0.7 93.5 -> 33.6.
        let (low, high, afnc) = (attack(0.268, 0.927, 1e4), attack(0.388, 0.955, 1e4), attack(0.336, 0.935, 1e4));
        let g = GapClosed::new(&afnc, &low, &high, Z95);
        assert!((g.raw.unwrap() - 6.8 / 12.0).abs() < 1e-12, "{g:?}");
        let d = |a: f64, c: f64| 1.0 - a / c;
        let relative = (d(0.268, 0.927) - d(0.336, 0.935)) / (d(0.268, 0.927) - d(0.388, 0.955));
        assert!((g.relative.unwrap() - relative).abs() < 1e-12 && (relative - 0.600).abs() < 1e-3, "{g:?}");
        assert_eq!(g.cell(), "56.7% / 60.0%");
        // The "9700%" case: SupCon and SimCLR within a point on 200 images; no reading is shown.
        let (low, high, other) = (attack(0.300, 0.50, 200.0), attack(0.305, 0.50, 200.0), attack(0.785, 0.9, 200.0));
        assert!((gap_closed(0.785, 0.300, 0.305).unwrap() - 97.0).abs() < 1e-9);
        let g = GapClosed::new(&other, &low, &high, Z95);
        assert_eq!((g.raw, g.relative), (None, None));
        assert_eq!(g.cell(), "n/a (no gap)");
        // A gap of 10 points on 200 images: se = sqrt(0.3*0.7/200 + 0.4*0.6/200) = 0.0474, so
        // 0.10 > 1.96 * 0.0474 = 0.093 is a gap; on 150 images (0.107) it is not.
        let g = GapClosed::new(&attack(0.35, 0.8, 200.0), &attack(0.3, 0.8, 200.0), &attack(0.4, 0.8, 200.0), Z95);
        assert!((g.gap.standard_error - (0.21f64 / 200.0 + 0.24 / 200.0).sqrt()).abs() < 1e-12);
        assert!((g.raw.unwrap() - 0.5).abs() < 1e-12, "{g:?}");
        let g = GapClosed::new(&attack(0.35, 0.8, 150.0), &attack(0.3, 0.8, 150.0), &attack(0.4, 0.8, 150.0), Z95);
        assert_eq!(g.raw, None);
        // SupCon below SimCLR: no gap to close either.
        let g = GapClosed::new(&attack(0.35, 0.8, 1e4), &attack(0.4, 0.8, 1e4), &attack(0.3, 0.8, 1e4), Z95);
        assert_eq!(g.cell(), "n/a (no gap)");
    }

    #[test]
    fn relative_gains_are_the_papers_up_arrows_and_claimed_only_beyond_noise() {
        // The paper's Table 5, RoCL -> A-RoCL, every column (hand-derived: 2.3 / 43.6 = 0.05275).
        let rocl = [43.6, 11.4, 70.9, 80.0, 40.8, 11.2];
        let arocl = [45.9, 13.2, 72.8, 82.1, 43.1, 12.1];
        let printed = ["5.3", "15.8", "2.7", "2.6", "5.6", "8.0"];
        let gains: Vec<f64> = rocl.iter().zip(&arocl).map(|(b, a)| relative_gain(*a, *b).unwrap()).collect();
        assert!((gains[0] - 2.3 / 43.6).abs() < 1e-12 && (gains[0] - 0.052752).abs() < 1e-6, "{gains:?}");
        for (g, p) in gains.iter().zip(printed) {
            assert_eq!(format!("{:.1}", 100.0 * g), p);
        }
        // the caption's median gains: RoCL 5.5% (5.3 and 5.6 in the middle), ACL 4.4% (3.7, 5.0)
        assert!((median(&gains).unwrap() - (2.3 / 43.6 + 2.3 / 40.8) / 2.0).abs() < 1e-12);
        assert_eq!(format!("{:.1}", 100.0 * median(&gains).unwrap()), "5.5");
        // (ACL's printed arrows ↑9.5% and ↑5.5% at 16/255 do not follow from its printed
        // accuracies, 1.1 / 12.1 = 9.1% and 0.6 / 10.2 = 5.9%; the median does: 3.8% and 5.0%.)
        let acl = [41.2, 12.1, 72.3, 80.7, 39.8, 10.2];
        let aacl = [42.5, 13.2, 75.9, 83.5, 41.3, 10.8];
        let acl_gains: Vec<f64> = acl.iter().zip(&aacl).map(|(b, a)| relative_gain(*a, *b).unwrap()).collect();
        assert_eq!(format!("{:.1}", 100.0 * median(&acl_gains).unwrap()), "4.4");
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[]), None);
        assert_eq!(relative_gain(0.1, 0.0), None);

        // On the paper's 10,000 test images, 43.6 -> 45.9 is beyond noise: se = sqrt(0.436*0.564
        // + 0.459*0.541) / 100 = 0.00701, 1.96 se = 0.0137 < 0.023.
        let (a, b) = (Proportion::new(&[0.459], 1e4).unwrap(), Proportion::new(&[0.436], 1e4).unwrap());
        let g = RelativeGain::new(&a, &b, Z95);
        assert!((g.difference.standard_error - (0.436f64 * 0.564 + 0.459 * 0.541).sqrt() / 100.0).abs() < 1e-12);
        assert_eq!(g.sign, Ordering::Greater);
        assert_eq!(g.cell(), "↑5.3%");
        // On 500 images the same accuracies are within noise (1.96 se = 0.0616).
        let (a, b) = (Proportion::new(&[0.459], 500.0).unwrap(), Proportion::new(&[0.436], 500.0).unwrap());
        assert_eq!(RelativeGain::new(&a, &b, Z95).cell(), "+5.3% (within noise)");
        // A real loss is shown as one; a base of 0% has no relative gain.
        let (a, b) = (Proportion::new(&[0.30], 1e4).unwrap(), Proportion::new(&[0.40], 1e4).unwrap());
        assert_eq!(RelativeGain::new(&a, &b, Z95).cell(), "↓25.0%");
        let (a, b) = (Proportion::new(&[0.30], 1e4).unwrap(), Proportion::new(&[0.0], 1e4).unwrap());
        assert_eq!(RelativeGain::new(&a, &b, Z95).cell(), "n/a (base 0%)");
        // Spread over seeds adds to the uncertainty: 0.45 -> 0.50 on 10,000 images is a gain
        // with one seed, noise with seeds 0.40 and 0.60 (se of the mean 0.1).
        let base = Proportion::new(&[0.45], 1e4).unwrap();
        assert_eq!(RelativeGain::new(&Proportion::new(&[0.50], 1e4).unwrap(), &base, Z95).sign, Ordering::Greater);
        assert_eq!(RelativeGain::new(&Proportion::new(&[0.40, 0.60], 1e4).unwrap(), &base, Z95).sign, Ordering::Equal);
    }
}
