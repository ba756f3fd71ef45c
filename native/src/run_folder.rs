//! A training run on disk, written so that a killed run loses at most the epoch in progress:
//!
//! - `config.json`: the data, device and the complete [`TrainPlan`] (what `--resume` reads).
//! - `metrics.jsonl`: one JSON object per finished epoch.
//! - `checkpoints/epoch-N/`: everything needed to continue after epoch N: the weights
//!   (`model.*`, or `encoder.*` + `projection.bpk` while pre-training) and `optimizer.bpk`.
//! - `checkpoint.json`: the epoch whose folder is complete. Written (through a rename) after
//!   the folder and the epoch's metrics line; only then is the previous folder deleted, so a
//!   kill at any moment leaves one consistent checkpoint.
//! - `model.bpk` + `model.json` (cross-entropy; after linear evaluation for contrastive runs)
//!   and `encoder.bpk` + `encoder.json` (contrastive): copies of the latest weights for users.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::optim::{ModuleOptimizer, OptimizerRecord};
use hypersphere_core::train::TrainPlan;
use serde::{Deserialize, Serialize};

use crate::model_files::write_atomic;

/// What `checkpoint.json` records.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Last finished epoch.
    pub epoch: usize,
}

/// A run folder.
pub struct RunFolder {
    pub dir: PathBuf,
}

impl RunFolder {
    /// Creates (or reuses) the folder.
    pub fn create(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self { dir: dir.to_path_buf() })
    }

    /// An existing run folder (for `--resume`).
    pub fn open(dir: &Path) -> Result<Self> {
        if !dir.join("config.json").is_file() {
            bail!("{} is not a run folder (no config.json)", dir.display());
        }
        Ok(Self { dir: dir.to_path_buf() })
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
        let dir = self.dir.join("checkpoints").join(format!("epoch-{epoch}"));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(dir)
    }

    /// Marks `epoch` complete (its checkpoint folder is written), then removes older folders.
    pub fn set_checkpoint(&self, epoch: usize) -> Result<()> {
        self.write_json("checkpoint.json", &Checkpoint { epoch })?;
        let keep = format!("epoch-{epoch}");
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

    /// Writes the optimizer state into `dir` (a checkpoint folder).
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
        Self::save_optimizer(&dir, optim)?;
        self.append_metrics(metrics)?;
        self.set_checkpoint(epoch)
    }

    pub fn save_optimizer(dir: &Path, optim: &ModuleOptimizer) -> Result<()> {
        let bytes = optim.to_record().into_bytes().map_err(|e| anyhow::anyhow!("cannot serialise the optimizer state: {e:?}"))?;
        write_atomic(&dir.join("optimizer.bpk"), &bytes)
    }

    /// Loads the optimizer state saved in `dir` into `optim`.
    pub fn load_optimizer(dir: &Path, optim: ModuleOptimizer) -> Result<ModuleOptimizer> {
        let path = dir.join("optimizer.bpk");
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let record = OptimizerRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes))
            .map_err(|e| anyhow::anyhow!("{} is damaged: {e:?}", path.display()))?;
        Ok(optim.load_record(record))
    }
}
