"""Vision Transformer in timm's layout (Dosovitskiy et al., "An Image is Worth 16x16 Words",
ICLR 2021; the AugReg weights of Steiner et al., "How to train your ViT?", TMLR 2022).

Pre-norm encoder: ``x = x + proj(attn(norm1(x)))``, ``x = x + fc2(gelu(fc1(norm2(x))))``, a class
token, learned position embeddings, final LayerNorm (eps 1e-6), and the class token as the pooled
feature. Submodules are named like timm's ``VisionTransformer`` (``patch_embed.proj``,
``cls_token``, ``pos_embed``, ``blocks.N.norm1`` / ``attn.qkv`` / ``attn.proj`` / ``norm2`` /
``mlp.fc1`` / ``mlp.fc2``, ``norm``, ``head``) so timm state dicts map by name.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from parc_jax.models._head import classifier

# name -> (embed dim, depth, heads), all patch 16 at 224 px.
CONFIGS: dict[str, tuple[int, int, int]] = {
    "vit_tiny_patch16_224": (192, 12, 3),
    "vit_small_patch16_224": (384, 12, 6),
    "vit_base_patch16_224": (768, 12, 12),
}

trunc_normal = nn.initializers.truncated_normal(0.02)


class Attention(nn.Module):
    """Multi-head self-attention: ``softmax(q k^T / sqrt(d_head)) v`` with a fused qkv."""

    dim: int
    num_heads: int
    dtype: Any = None
    precision: Any = None

    @nn.compact
    def __call__(self, x):
        b, n, d = x.shape
        hd = d // self.num_heads
        qkv = nn.Dense(3 * d, kernel_init=trunc_normal, dtype=self.dtype, precision=self.precision, name="qkv")(x)
        qkv = qkv.reshape(b, n, 3, self.num_heads, hd)
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]  # [B, N, H, hd]
        logits = jnp.einsum("bqhd,bkhd->bhqk", q * hd**-0.5, k, precision=self.precision)
        attn = jax.nn.softmax(logits.astype(jnp.float32), axis=-1).astype(v.dtype)
        y = jnp.einsum("bhqk,bkhd->bqhd", attn, v, precision=self.precision).reshape(b, n, d)
        return nn.Dense(d, kernel_init=trunc_normal, dtype=self.dtype, precision=self.precision, name="proj")(y)


class Mlp(nn.Module):
    """``fc2(gelu(fc1(x)))`` with exact (erf) GELU, as torch's ``nn.GELU``."""

    hidden: int
    dtype: Any = None
    precision: Any = None

    @nn.compact
    def __call__(self, x):
        d = x.shape[-1]
        x = nn.Dense(self.hidden, kernel_init=trunc_normal, dtype=self.dtype, precision=self.precision, name="fc1")(x)
        x = nn.gelu(x, approximate=False)
        return nn.Dense(d, kernel_init=trunc_normal, dtype=self.dtype, precision=self.precision, name="fc2")(x)


class Block(nn.Module):
    """Pre-norm transformer block."""

    num_heads: int
    mlp_ratio: float = 4.0
    dtype: Any = None
    precision: Any = None

    @nn.compact
    def __call__(self, x):
        d = x.shape[-1]
        ln = lambda name: nn.LayerNorm(epsilon=1e-6, dtype=self.dtype, name=name)  # noqa: E731
        x = x + Attention(d, self.num_heads, self.dtype, self.precision, name="attn")(ln("norm1")(x))
        x = x + Mlp(int(d * self.mlp_ratio), self.dtype, self.precision, name="mlp")(ln("norm2")(x))
        return x


class VisionTransformer(nn.Module):
    """timm ``VisionTransformer`` with class-token pooling.

    ``out`` holds ``"patch_embed"`` (``[B, N, D]`` patch tokens), ``"blocks.N"`` (token sequences
    ``[B, 1 + N, D]``), ``"features"`` (normalised class token, ``[B, D]``).

    Attributes:
      embed_dim: token width ``D``.
      depth: transformer blocks.
      num_heads: attention heads.
      patch_size: square patch side.
      num_classes: classifier outputs.
      dtype: compute dtype (``None``: inferred).
      precision: matmul precision.
    """

    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    patch_size: int = 16
    num_classes: int = 1000
    dtype: Any = None
    precision: Any = None

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool = False):
        del train  # no dropout / batch statistics
        out = {}
        p = self.patch_size
        x = nn.Conv(
            self.embed_dim,
            (p, p),
            strides=(p, p),
            padding="VALID",
            dtype=self.dtype,
            precision=self.precision,
            name="patch_embed.proj",
        )(x)
        b, h, w, d = x.shape
        x = x.reshape(b, h * w, d)
        out["patch_embed"] = x
        cls = self.param("cls_token", nn.initializers.normal(1e-6), (1, 1, d))
        pos = self.param("pos_embed", trunc_normal, (1, 1 + h * w, d))
        x = jnp.concatenate([jnp.broadcast_to(cls, (b, 1, d)).astype(x.dtype), x], axis=1)
        x = x + pos.astype(x.dtype)
        for i in range(self.depth):
            x = Block(self.num_heads, dtype=self.dtype, precision=self.precision, name=f"blocks.{i}")(x)
            out[f"blocks.{i}"] = x
        x = nn.LayerNorm(epsilon=1e-6, dtype=self.dtype, name="norm")(x)
        feats = x[:, 0]
        return classifier(
            feats,
            out,
            num_classes=self.num_classes,
            name="head",
            dtype=self.dtype,
            precision=self.precision,
            kernel_init=trunc_normal,
        )


def depth(num_blocks: int) -> int:
    """Linear layers on the main path: patch embedding, 4 per block (qkv, proj, fc1, fc2), head."""
    return 1 + 4 * num_blocks + 1
