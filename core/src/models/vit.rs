//! The Vision Transformer (Dosovitskiy et al. 2021) as timm's `vit_*_patch16_224` builds it, the
//! backbone of the paper's Table 2 (ViT-B/16 supervised, MoCo v3, DINO).
//!
//! Structure and parameter names follow timm's `VisionTransformer` (class token, no distillation
//! token, `global_pool='token'`), which facebookresearch/dino `vision_transformer.py` and
//! facebookresearch/moco-v3 `vits.py` share: `patch_embed.proj` (a 16x16 stride-16 convolution),
//! `cls_token` `[1, 1, D]`, `pos_embed` `[1, 1 + P, D]`, pre-norm blocks `blocks.N.{norm1,
//! attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}` (fused qkv with bias, softmax(q kᵀ / sqrt(d_h)),
//! exact-erf GELU, MLP ratio 4), a final `norm` (LayerNorm, eps 1e-6 in all three code bases) and
//! the `head`. ViT-Ti/16, S/16 and B/16 have 3, 6 and 12 heads of 64 channels and 12 blocks; the
//! width (embedding size) and depth are free so tests can use small networks of the same shape.

use super::cpu_conv::conv2d;
use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::{gelu, softmax};
use burn::tensor::{Device, Distribution, Tensor};
use serde::{Deserialize, Serialize};

/// Side of the square patches.
pub const PATCH: usize = 16;
/// LayerNorm epsilon of timm's, DINO's and MoCo v3's ViTs (`partial(nn.LayerNorm, eps=1e-6)`).
const LN_EPS: f64 = 1e-6;

/// Which tokens become the backbone features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Readout {
    /// The class token after the final norm (timm, MoCo v3): `D` features.
    #[default]
    ClassToken,
    /// DINO's linear evaluation (facebookresearch/dino `eval_linear.py`): the normed class
    /// tokens of the last `last_blocks` blocks, concatenated, and with `avgpool` the mean of the
    /// last block's normed patch tokens, interleaved with the class token of the last block as
    /// `cat((cls.unsqueeze(-1), mean.unsqueeze(-1)), -1).reshape(N, -1)` does (one block only):
    /// `D * (last_blocks + avgpool)` features (ViT-S/16: 4 blocks; ViT-B/16: 1 block + avgpool).
    Dino {
        /// How many of the last blocks give their class token.
        last_blocks: usize,
        /// Whether the mean patch token is appended (interleaved).
        avgpool: bool,
    },
}

impl Readout {
    /// Rejects readouts a network of `depth` blocks cannot give.
    pub fn validate(self, depth: usize) -> crate::Result<()> {
        match self {
            Readout::Dino { last_blocks, avgpool } if last_blocks == 0 || last_blocks > depth || (avgpool && last_blocks != 1) => {
                Err(crate::Error::Model(format!(
                    "DINO readout of {last_blocks} last blocks{} does not fit a ViT of {depth} blocks \
                     (1..={depth} blocks; the mean patch token only with 1 block, as DINO's eval_linear.py)",
                    if avgpool { " with the mean patch token" } else { "" }
                )))
            }
            _ => Ok(()),
        }
    }

    /// Features per embedding channel.
    pub fn multiplier(self) -> usize {
        match self {
            Readout::ClassToken => 1,
            Readout::Dino { last_blocks, avgpool } => last_blocks + usize::from(avgpool),
        }
    }
}

/// The shape of a ViT: embedding width, heads, blocks and input side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VitShape {
    /// Embedding width D (192, 384, 768 for Ti, S, B).
    pub width: usize,
    /// Attention heads (3, 6, 12).
    pub heads: usize,
    /// Transformer blocks (12).
    pub depth: usize,
    /// Side of the square inputs (a multiple of 16; 224 for the public checkpoints).
    pub input_size: usize,
}

impl VitShape {
    /// Tokens per image: the class token and one per patch.
    pub fn tokens(&self) -> usize {
        (self.input_size / PATCH).pow(2) + 1
    }

    /// Rejects shapes that cannot be built.
    pub fn validate(&self) -> crate::Result<()> {
        if self.heads == 0 || self.width % self.heads != 0 || self.depth == 0 || self.input_size % PATCH != 0 {
            return Err(crate::Error::Model(format!(
                "a ViT needs a width divisible by its {} heads, at least one block and inputs a multiple of {PATCH} pixels \
                 (got width {}, depth {}, size {})",
                self.heads, self.width, self.depth, self.input_size
            )));
        }
        Ok(())
    }
}

/// `patch_embed`: the patch projection.
#[derive(Module, Debug)]
pub struct PatchEmbed {
    proj: Conv2d,
}

/// `attn`: multi-head self-attention with a fused qkv projection.
#[derive(Module, Debug)]
pub struct Attention {
    qkv: Linear,
    proj: Linear,
    heads: usize,
}

impl Attention {
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [n, t, d] = x.dims();
        let hd = d / self.heads;
        // [N, T, 3D] -> [N, T, 3, H, hd]; q, k, v each [N, H, T, hd].
        let qkv = self.qkv.forward(x).reshape([n, t, 3, self.heads, hd]);
        let part = |i: usize| qkv.clone().narrow(2, i, 1).reshape([n, t, self.heads, hd]).swap_dims(1, 2);
        let (q, k, v) = (part(0), part(1), part(2));
        let scores = q.matmul(k.swap_dims(2, 3)) * (hd as f64).powf(-0.5);
        let out = softmax(scores, 3).matmul(v); // [N, H, T, hd]
        self.proj.forward(out.swap_dims(1, 2).reshape([n, t, d]))
    }
}

/// `mlp`: Linear, GELU (exact), Linear.
#[derive(Module, Debug)]
pub struct Mlp {
    fc1: Linear,
    fc2: Linear,
}

/// One pre-norm transformer block: `x + attn(norm1(x))`, then `x + mlp(norm2(x))`.
#[derive(Module, Debug)]
pub struct Block {
    norm1: LayerNorm,
    attn: Attention,
    norm2: LayerNorm,
    mlp: Mlp,
}

impl Block {
    fn new(width: usize, heads: usize, device: &Device) -> Self {
        Self {
            norm1: LayerNormConfig::new(width).with_epsilon(LN_EPS).init(device),
            attn: Attention {
                qkv: LinearConfig::new(width, 3 * width).init(device),
                proj: LinearConfig::new(width, width).init(device),
                heads,
            },
            norm2: LayerNormConfig::new(width).with_epsilon(LN_EPS).init(device),
            mlp: Mlp { fc1: LinearConfig::new(width, 4 * width).init(device), fc2: LinearConfig::new(4 * width, width).init(device) },
        }
    }

    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let x = x.clone() + self.attn.forward(self.norm1.forward(x));
        let h = self.mlp.fc2.forward(gelu(self.mlp.fc1.forward(self.norm2.forward(x.clone()))));
        x + h
    }
}

/// A Vision Transformer with patch size 16 and a linear `head` on the readout features.
#[derive(Module, Debug)]
pub struct VisionTransformer {
    patch_embed: PatchEmbed,
    cls_token: Param<Tensor<3>>,
    pos_embed: Param<Tensor<3>>,
    blocks: Vec<Block>,
    norm: LayerNorm,
    pub(crate) head: Linear,
    #[module(skip)]
    readout: Readout,
}

impl VisionTransformer {
    /// A freshly initialised network (truncation-free normal(0, 0.02) tokens, Burn's default
    /// layer initialisation; the public checkpoints replace all of it).
    pub fn new(shape: VitShape, readout: Readout, num_classes: usize, device: &Device) -> Self {
        let d = shape.width;
        let normal = |dims: [usize; 3]| Param::from_tensor(Tensor::random(dims, Distribution::Normal(0.0, 0.02), device));
        Self {
            patch_embed: PatchEmbed { proj: Conv2dConfig::new([3, d], [PATCH, PATCH]).with_stride([PATCH, PATCH]).init(device) },
            cls_token: normal([1, 1, d]),
            pos_embed: normal([1, shape.tokens(), d]),
            blocks: (0..shape.depth).map(|_| Block::new(d, shape.heads, device)).collect(),
            norm: LayerNormConfig::new(d).with_epsilon(LN_EPS).init(device),
            head: LinearConfig::new(d * readout.multiplier(), num_classes).init(device),
            readout,
        }
    }

    /// Width of the readout features.
    pub fn feature_dim(width: usize, readout: Readout) -> usize {
        width * readout.multiplier()
    }

    /// Backbone features of normalised `[N, 3, H, W]` images (H = W = the configured size).
    pub fn features(&self, x: Tensor<4>) -> Tensor<2> {
        let patches = conv2d(&self.patch_embed.proj, x); // [N, D, h, w]
        let [n, d, _, _] = patches.dims();
        let tokens = patches.flatten::<3>(2, 3).swap_dims(1, 2); // [N, P, D]
        let cls = self.cls_token.val().expand([n, 1, d]);
        let mut x = Tensor::cat(vec![cls, tokens], 1) + self.pos_embed.val();
        let depth = self.blocks.len();
        let class_token = |t: Tensor<3>| t.narrow(1, 0, 1).reshape([n, d]);
        match self.readout {
            Readout::ClassToken => {
                for block in &self.blocks {
                    x = block.forward(x);
                }
                class_token(self.norm.forward(x))
            }
            Readout::Dino { last_blocks, avgpool } => {
                let mut outputs = Vec::new();
                let mut last = None;
                for (i, block) in self.blocks.iter().enumerate() {
                    x = block.forward(x);
                    if depth - i <= last_blocks {
                        let normed = self.norm.forward(x.clone());
                        outputs.push(class_token(normed.clone()));
                        last = Some(normed);
                    }
                }
                let cls = Tensor::cat(outputs, 1);
                match (avgpool, last) {
                    // DINO concatenates along a new last axis, so [c0, m0, c1, m1, ...]
                    // (defined for one block only; `Readout::validate` checks it).
                    (true, Some(normed)) => {
                        let t = normed.dims()[1];
                        let mean = normed.narrow(1, 1, t - 1).mean_dim(1).reshape([n, d]);
                        Tensor::stack::<3>(vec![cls, mean], 2).reshape([n, 2 * d])
                    }
                    _ => cls,
                }
            }
        }
    }

    /// Class logits from backbone features.
    pub fn classify(&self, features: Tensor<2>) -> Tensor<2> {
        self.head.forward(features)
    }
}
