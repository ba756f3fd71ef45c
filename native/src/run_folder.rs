//! A training run on disk, written so that a killed run loses at most the epoch in progress:
//!
//! - `config.json`: the data, device and the complete [`TrainPlan`] (what `--resume` reads).
//! - `metrics.jsonl`: one JSON object per finished epoch.
//! - `checkpoints/epoch-N/`: everything needed to continue after epoch N: the weights
//!   (`model.*`, or `encoder.*` + `projection.bpk` while pre-training) and `optimizer.bpk`.
//! - `checkpoints/epoch-N-step-S/` (a run stopped by its `--budget` inside epoch N after S of
//!   its steps): the same files plus `partial.json`, the epoch's state so far
//!   ([`PartialEpoch`]).
//! - `checkpoint.json`: the epoch (and step) whose folder is complete. Written (through a
//!   rename) after the folder and the epoch's metrics line; only then is the previous folder
//!   deleted, so a kill at any moment leaves one consistent checkpoint.
//! - `model.bpk` + `model.json` (cross-entropy; after linear evaluation for contrastive runs)
//!   and `encoder.bpk` + `encoder.json` (contrastive): copies of the latest weights for users.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::optim::{ModuleOptimizer, OptimizerRecord};
use burn::tensor::DType;
use hypersphere_core::train::{PartialEpoch, Start, TrainPlan};
use serde::{Deserialize, Serialize};

use crate::model_files::write_atomic;

/// What `checkpoint.json` records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Last finished epoch.
    pub epoch: usize,
    /// Steps of the next epoch taken (a run stopped by its budget inside an epoch); 0 at an
    /// epoch boundary.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub step: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Checkpoint {
    /// The name of its folder under `checkpoints/`.
    pub fn folder_name(&self) -> String {
        if self.step == 0 { format!("epoch-{}", self.epoch) } else { format!("epoch-{}-step-{}", self.epoch + 1, self.step) }
    }
}

/// A run folder.
pub struct RunFolder {
    pub dir: PathBuf,
    /// How checkpoints store floats: f32 (exact), or f16/bf16 (half the size; see
    /// `train --checkpoint-precision`). Loading widens whatever it finds.
    pub store: DType,
}

impl RunFolder {
    /// Creates (or reuses) the folder.
    pub fn create(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self { dir: dir.to_path_buf(), store: DType::F32 })
    }

    /// An existing run folder (for `--resume`).
    pub fn open(dir: &Path) -> Result<Self> {
        if !dir.join("config.json").is_file() {
            bail!("{} is not a run folder (no config.json)", dir.display());
        }
        Ok(Self { dir: dir.to_path_buf(), store: DType::F32 })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn write_json(&self, name: &str, value: &impl Serialize) -> Result<()> {
        write_atomic(&self.path(name), serde_json::to_string_pretty(value)?.as_bytes())
    }

    pub fn read_json<T: for<'de> Deserialize<'de>>(&self, name: &str) -> Result<T> {
        let path = self.path(name);
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} is damaged", path.display()))
    }

    /// The training plan and data source that `config.json` recorded.
    pub fn plan(&self) -> Result<(TrainPlan, String)> {
        let config: serde_json::Value = self.read_json("config.json")?;
        let plan: TrainPlan = serde_json::from_value(config["plan"].clone())
            .with_context(|| format!("{} has no training plan (written by an older version?)", self.path("config.json").display()))?;
        let data = config["data"].as_str().context("config.json has no data")?.to_string();
        Ok((plan, data))
    }

    /// The last complete epoch, if any.
    pub fn checkpoint(&self) -> Result<Option<Checkpoint>> {
        if !self.path("checkpoint.json").exists() {
            return Ok(None);
        }
        self.read_json("checkpoint.json").map(Some)
    }

    /// The folder holding the state after `epoch` (created if needed).
    pub fn checkpoint_dir(&self, epoch: usize) -> Result<PathBuf> {
        self.folder_of(Checkpoint { epoch, step: 0 })
    }

    /// The folder of `checkpoint` (created if needed).
    pub fn folder_of(&self, checkpoint: Checkpoint) -> Result<PathBuf> {
        let dir = self.dir.join("checkpoints").join(checkpoint.folder_name());
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(dir)
    }

    /// Where training continues: after the last checkpoint (epoch 1 without one), inside an
    /// epoch when a budget stopped it there. Checks that the checkpoint's folder exists (and
    /// returns it) and drops metrics lines of later epochs.
    pub fn resume_point(&self) -> Result<(Start, Option<PathBuf>)> {
        let Some(checkpoint) = self.checkpoint()? else {
            self.truncate_metrics(0)?;
            return Ok((Start::from(1), None));
        };
        let folder = self.dir.join("checkpoints").join(checkpoint.folder_name());
        if (checkpoint.epoch > 0 || checkpoint.step > 0) && !folder.is_dir() {
            bail!("{} names epoch {} step {}, but {} does not exist", self.path("checkpoint.json").display(), checkpoint.epoch, checkpoint.step, folder.display());
        }
        self.truncate_metrics(checkpoint.epoch)?;
        let start = if checkpoint.step == 0 {
            Start::from(checkpoint.epoch + 1)
        } else {
            let path = folder.join("partial.json");
            let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            let partial: PartialEpoch = serde_json::from_str(&text).with_context(|| format!("{} is damaged", path.display()))?;
            if partial.epoch != checkpoint.epoch + 1 || partial.steps_done != checkpoint.step {
                bail!("{} does not match {} (epoch {} step {})", path.display(), self.path("checkpoint.json").display(), checkpoint.epoch + 1, checkpoint.step);
            }
            Start::from(partial)
        };
        Ok((start, (checkpoint.epoch > 0 || checkpoint.step > 0).then_some(folder)))
    }

    /// Marks `epoch` complete (its checkpoint folder is written), then removes older folders.
    pub fn set_checkpoint(&self, epoch: usize) -> Result<()> {
        self.mark(Checkpoint { epoch, step: 0 })
    }

    /// Makes `checkpoint` the run's current one (its folder is written), then removes the others.
    fn mark(&self, checkpoint: Checkpoint) -> Result<()> {
        self.write_json("checkpoint.json", &checkpoint)?;
        let keep = checkpoint.folder_name();
        if let Ok(entries) = std::fs::read_dir(self.dir.join("checkpoints")) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy() != keep {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        Ok(())
    }

    /// Appends one epoch's metrics.
    pub fn append_metrics(&self, line: &impl Serialize) -> Result<()> {
        let path = self.path("metrics.jsonl");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        writeln!(file, "{}", serde_json::to_string(line)?)?;
        file.sync_data().ok();
        Ok(())
    }

    /// Drops metrics lines of epochs after `epoch` (written by a run killed before its
    /// checkpoint), so a resumed run neither loses nor repeats an epoch; `0` empties the file.
    pub fn truncate_metrics(&self, epoch: usize) -> Result<()> {
        let path = self.path("metrics.jsonl");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let kept: Vec<&str> = text
            .lines()
            .filter(|l| {
                serde_json::from_str::<serde_json::Value>(l)
                    .ok()
                    .and_then(|v| v["epoch"].as_u64())
                    .is_some_and(|e| e as usize <= epoch)
            })
            .collect();
        let mut out = kept.join("\n");
        if !out.is_empty() {
            out.push('\n');
        }
        write_atomic(&path, out.as_bytes())
    }

    /// Ends an epoch safely, in the order a kill at any moment survives: the epoch's checkpoint
    /// folder (`save_weights` writes the weights into it, then the optimizer state), the metrics
    /// line, then `checkpoint.json` naming the epoch (which removes older checkpoint folders).
    pub fn commit_epoch(
        &self,
        epoch: usize,
        metrics: &impl Serialize,
        optim: &ModuleOptimizer,
        save_weights: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<()> {
        let dir = self.checkpoint_dir(epoch)?;
        save_weights(&dir)?;
        self.save_optimizer(&dir, optim)?;
        self.append_metrics(metrics)?;
        self.set_checkpoint(epoch)
    }

    /// Saves the state of an epoch a budget stopped partway, in the same order as
    /// [`Self::commit_epoch`]: the folder (`save_weights` writes the weights, then the optimizer
    /// state and `partial.json`), then `checkpoint.json` naming it. The epoch's metrics line
    /// comes when the epoch ends.
    pub fn commit_partial(&self, partial: &PartialEpoch, optim: &ModuleOptimizer, save_weights: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
        let checkpoint = Checkpoint { epoch: partial.epoch - 1, step: partial.steps_done };
        if checkpoint.step == 0 {
            // Nothing of the epoch taken: the previous epoch's checkpoint is this one.
            return Ok(());
        }
        let dir = self.folder_of(checkpoint)?;
        save_weights(&dir)?;
        self.save_optimizer(&dir, optim)?;
        write_atomic(&dir.join("partial.json"), serde_json::to_string(partial)?.as_bytes())?;
        self.mark(checkpoint)
    }

    /// Writes the optimizer state into `dir` (a checkpoint folder), its floats as [`Self::store`].
    pub fn save_optimizer(&self, dir: &Path, optim: &ModuleOptimizer) -> Result<()> {
        let mut bytes = optim.to_record().into_bytes().map_err(|e| anyhow::anyhow!("cannot serialise the optimizer state: {e:?}"))?.to_vec();
        if self.store != DType::F32 {
            bytes = hypersphere_core::models::recast_burnpack(bytes, self.store)?;
        }
        write_atomic(&dir.join("optimizer.bpk"), &bytes)
    }

    /// Loads the optimizer state saved in `dir` into `optim`.
    pub fn load_optimizer(dir: &Path, optim: ModuleOptimizer) -> Result<ModuleOptimizer> {
        let path = dir.join("optimizer.bpk");
        let bytes = hypersphere_core::models::widen_burnpack(std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?);
        let record = OptimizerRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes))
            .map_err(|e| anyhow::anyhow!("{} is damaged: {e:?}", path.display()))?;
        Ok(optim.load_record(record))
    }
}
