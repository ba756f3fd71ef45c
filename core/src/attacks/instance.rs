//! Instance-wise adversarial views for adversarial contrastive learning: PGD in the l_inf ball
//! that *maximises the contrastive loss* of a view against its partner(s), with no label and no
//! classifier (Kim et al., *Adversarial Self-Supervised Contrastive Learning* (RoCL), NeurIPS
//! 2020, Eq. 6; Jiang et al., *Robust Pre-Training by Adversarial Contrastive Learning* (ACL),
//! NeurIPS 2020, Eq. 3-4).
//!
//! The views of a batch (view-major, `[N, 3, H, W]` each, in [0, 1]) go through backbone and
//! projection head in eval mode (`valid()`: BatchNorm uses, and never updates, its running
//! statistics; dual-BatchNorm networks through the set the caller names). The perturbed views
//! start at a uniform random point of their ball ([`super::norm::ball_start`], drawn on the host
//! from the seed, view `v` from `run_seed(seed, v)`), then take `steps` signed-gradient steps of
//! `alpha` on NT-Xent (the one masked loss, [`crate::losses::contrastive`], temperature
//! `temperature`) of all the views together, each followed by [`super::norm::project`] onto
//! its own ball and [0, 1]. Views that are not perturbed are embedded once.
//!
//! Defaults ([`InstanceAttack::rocl`], [`InstanceAttack::acl`]) are the references' training
//! budgets. Two differences from the reference code, both on purpose: the gradient is the true
//! gradient of NT-Xent (RoCL's `pairwise_similarity` detaches the transposed operand, so only
//! the anchor rows carry gradient), and the random start is clipped to [0, 1] before the first
//! step (ACL's `PGD_contrastive` clips only after it).

use burn::module::Module;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::norm::{ball_start, project, steepest_ascent};
use super::{Norm, run_seed};
use crate::losses::contrastive::{ContrastiveObjective, contrastive_loss};
use crate::models::{BnSet, Classifier, ProjectionHead};

/// An instance-wise l_inf PGD attack on the contrastive loss.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct InstanceAttack {
    /// Radius of the l_inf ball.
    pub eps: f32,
    /// Step size.
    pub alpha: f32,
    /// Ascent steps.
    pub steps: usize,
    /// Temperature of the NT-Xent the attack ascends (0.5 in both references).
    pub temperature: f32,
    /// Start from a uniform random point of the ball (both references) or from the view.
    pub random_start: bool,
}

impl InstanceAttack {
    /// RoCL's training attack (Kim-Minseon/RoCL `argument.py`, `attack_lib.py`
    /// `RepresentationAdv`): eps 0.0314 (8/255), alpha 0.007, 7 steps, random start, tau 0.5.
    pub fn rocl() -> Self {
        Self { eps: 0.0314, alpha: 0.007, steps: 7, temperature: 0.5, random_start: true }
    }

    /// ACL's pre-training attack (VITA-Group/Adversarial-Contrastive-Learning `train_simCLR.py`
    /// `PGD_contrastive`, `--pgd_iter 5`): eps 8/255, alpha 2/255, 5 steps, random start, tau 0.5.
    pub fn acl() -> Self {
        Self { eps: 8.0 / 255.0, alpha: 2.0 / 255.0, steps: 5, temperature: 0.5, random_start: true }
    }

    /// Rejects budgets that cannot run.
    pub fn validate(&self) -> crate::Result<()> {
        let ok = self.eps.is_finite()
            && (0.0..=1.0).contains(&self.eps)
            && self.alpha.is_finite()
            && self.alpha >= 0.0
            && self.temperature > 0.0
            && self.steps <= super::spec::MAX_STEPS;
        if !ok {
            return Err(crate::Error::Attack(format!(
                "instance-wise attack: need 0 <= eps <= 1, alpha >= 0, temperature > 0 and at most {} steps (got eps {}, alpha {}, temperature {}, {} steps)",
                super::spec::MAX_STEPS,
                self.eps,
                self.alpha,
                self.temperature,
                self.steps
            )));
        }
        Ok(())
    }

    /// The loss the attack ascends on `views` views per image: NT-Xent at the attack's temperature.
    pub fn objective(&self, views: usize) -> ContrastiveObjective {
        ContrastiveObjective::nt_xent(self.temperature, views)
    }

    /// The value of that loss at `views` (eval mode, BatchNorm set `set`).
    pub fn loss(&self, encoder: &Classifier, head: &ProjectionHead, set: BnSet, views: &[Tensor<4>]) -> Tensor<1> {
        let (encoder, head) = (encoder.valid(), head.valid());
        let x = Tensor::cat(views.iter().map(|v| v.clone().without_autodiff()).collect(), 0);
        let z = head.forward(encoder.features_with(x, set));
        contrastive_loss(z, None, &self.objective(views.len())).expect("NT-Xent needs no labels").loss
    }

    /// Adversarial versions of the views marked in `attacked` (the others are returned as
    /// they are), all without autodiff. `views` are the view-major views of one batch
    /// (`[N, 3, H, W]` each, in [0, 1]); `encoder` and `head` are used in eval mode whatever
    /// mode they are in, through BatchNorm set `set`; `seed` drives the random starts.
    pub fn perturb(
        &self,
        encoder: &Classifier,
        head: &ProjectionHead,
        set: BnSet,
        views: &[Tensor<4>],
        attacked: &[bool],
        seed: u64,
    ) -> Vec<Tensor<4>> {
        assert_eq!(views.len(), attacked.len(), "one flag per view");
        let clean: Vec<Tensor<4>> = views.iter().map(|v| v.clone().without_autodiff()).collect();
        if self.eps == 0.0 || (self.steps == 0 && !self.random_start) || !attacked.contains(&true) {
            return clean;
        }
        let (encoder, head) = (encoder.valid(), head.valid());
        let embed = |x: Tensor<4>| head.forward(encoder.features_with(x, set));
        let n = clean[0].dims()[0];
        // The views that are not attacked are constants of the objective: embedded once.
        let fixed: Vec<Option<Tensor<2>>> =
            clean.iter().zip(attacked).map(|(x, &a)| (!a).then(|| embed(x.clone()))).collect();
        let mut adv: Vec<Tensor<4>> = clean
            .iter()
            .enumerate()
            .map(|(v, x)| match attacked[v] && self.random_start {
                true => ball_start(Norm::Linf, x, self.eps, run_seed(seed, v as u64)),
                false => x.clone(),
            })
            .collect();
        let objective = self.objective(views.len());
        let targets: Vec<usize> = (0..views.len()).filter(|&v| attacked[v]).collect();
        for _ in 0..self.steps {
            let tracked: Vec<Tensor<4>> = targets.iter().map(|&v| adv[v].clone().detach().autodiff().require_grad()).collect();
            let z = embed(Tensor::cat(tracked.clone(), 0));
            let d = z.dims()[1];
            let mut k = 0;
            let parts: Vec<Tensor<2>> = (0..views.len())
                .map(|v| match &fixed[v] {
                    Some(f) => f.clone().autodiff(),
                    None => {
                        k += 1;
                        z.clone().slice([(k - 1) * n..k * n, 0..d])
                    }
                })
                .collect();
            let loss = contrastive_loss(Tensor::cat(parts, 0), None, &objective).expect("NT-Xent needs no labels").loss;
            let grads = loss.backward();
            for (x, &v) in tracked.iter().zip(&targets) {
                let grad = x.grad(&grads).expect("the view is a tracked leaf, so it has a gradient");
                let step = steepest_ascent(Norm::Linf, grad) * self.alpha;
                adv[v] = project(Norm::Linf, adv[v].clone() + step, &clean[v], self.eps);
            }
        }
        adv
    }
}
