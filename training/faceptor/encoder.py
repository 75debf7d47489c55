"""FaRL ViT encoder (the CLIP visual tower) as Faceptor uses it.

Parameter names follow the official checkpoint (`backbone_module.visual.*`). The encoder returns
the output of every block with the CLS token dropped, as (B, D, S, S) maps.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from .config import EncoderConfig

LAYER_NORM_EPS = 1e-5


class LayerNormFp32(nn.LayerNorm):
    """LayerNorm computed in float32 whatever the input dtype (FaRL's TF-style LayerNorm, eps 1e-5)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.layer_norm(x.float(), self.normalized_shape, self.weight.float(), self.bias.float(), self.eps)
        return out.to(x.dtype)


class QuickGELU(nn.Module):
    """x * sigmoid(1.702 x), the CLIP activation."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class DropPath(nn.Module):
    """Stochastic depth: zeroes whole slices along dim 0 with probability `rate` in training.

    NOTE: the blocks run in (L, B, D) layout, so dim 0 is the token axis, not the batch axis.
    This reproduces the official FaRL blocks, which apply timm's DropPath to (L, B, D) tensors.
    """

    def __init__(self, rate: float) -> None:
        super().__init__()
        self.rate = rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        mask_shape = (x.shape[0],) + (1,) * (x.dim() - 1)
        mask = x.new_empty(mask_shape).bernoulli_(keep)
        return x * mask / keep


class ResidualAttentionBlock(nn.Module):
    """Pre-LN block: x += attn(ln_1(x)); x += mlp(ln_2(x)), in (L, B, D) layout."""

    def __init__(self, width: int, heads: int, mlp_ratio: int, drop_path: float) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = LayerNormFp32(width, eps=LAYER_NORM_EPS)
        self.mlp = nn.Sequential(
            OrderedDict(
                [
                    ('c_fc', nn.Linear(width, width * mlp_ratio)),
                    ('gelu', QuickGELU()),
                    ('c_proj', nn.Linear(width * mlp_ratio, width)),
                ]
            )
        )
        self.ln_2 = LayerNormFp32(width, eps=LAYER_NORM_EPS)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.ln_1(x)
        x = x + self.drop_path(self.attn(h, h, h, need_weights=False)[0])
        x = x + self.drop_path(self.mlp(self.ln_2(x)))
        return x


class Transformer(nn.Module):
    """Stack of residual attention blocks (the checkpoint's `transformer.resblocks.*`)."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        rates = torch.linspace(0, cfg.drop_path_rate, cfg.layers).tolist()
        self.resblocks = nn.ModuleList(
            [ResidualAttentionBlock(cfg.width, cfg.heads, cfg.mlp_ratio, rate) for rate in rates]
        )


def resize_position_table(table: torch.Tensor, grid: int) -> torch.Tensor:
    """Resize a (1 + G*G, D) position table to (1 + grid*grid, D); row 0 is the CLS row.

    Bicubic, align_corners=False, no antialias: the call the official encoder makes at every
    forward. At grid == G it returns the grid rows unchanged.
    """
    rows, width = table.shape
    stored = int(round((rows - 1) ** 0.5))
    if stored * stored + 1 != rows:
        raise ValueError(f'position table has {rows} rows; expected 1 + G*G for a square grid G')
    grid_rows = table[1:].reshape(1, stored, stored, width).permute(0, 3, 1, 2)  # (1, D, G, G)
    resized = F.interpolate(grid_rows, size=(grid, grid), mode='bicubic', align_corners=False)
    resized = resized.reshape(width, grid * grid).t()  # (grid*grid, D), row-major (y, then x)
    return torch.cat([table[:1], resized], dim=0)


class VisualTransformer(nn.Module):
    """FaRL ViT parameters and the per-block forward Faceptor uses.

    `ln_post` and `proj` are never used by Faceptor; they exist so that the official checkpoint
    loads with strict key checks.
    """

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        scale = cfg.width**-0.5
        self.patch_size = cfg.patch_size
        self.class_embedding = nn.Parameter(scale * torch.randn(cfg.width))
        self.positional_embedding = nn.Parameter(scale * torch.randn(cfg.position_grid**2 + 1, cfg.width))
        self.proj = nn.Parameter(scale * torch.randn(cfg.width, cfg.output_dim))
        self.conv1 = nn.Conv2d(3, cfg.width, kernel_size=cfg.patch_size, stride=cfg.patch_size, bias=False)
        self.ln_pre = LayerNormFp32(cfg.width, eps=LAYER_NORM_EPS)
        self.transformer = Transformer(cfg)
        self.ln_post = LayerNormFp32(cfg.width, eps=LAYER_NORM_EPS)
        self.apply(_init_farl_weights)

    def forward(
        self, image: torch.Tensor, position_table: torch.Tensor | None = None, last_layer: int | None = None
    ) -> list[torch.Tensor]:
        """Run the blocks on a normalized (B, 3, R, R) image.

        `position_table` (1 + S*S, D) replaces the resize of the stored table (the export passes a
        precomputed constant). Blocks after `last_layer` are skipped.
        Returns block outputs 0..last_layer, each (B, D, S, S) with the CLS token dropped.
        """
        x = self.conv1(image)  # (B, D, S, S)
        side = x.shape[-1]
        width = x.shape[1]
        x = x.flatten(2).transpose(1, 2)  # (B, S*S, D)
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, width)
        x = torch.cat([cls, x], dim=1)  # (B, 1 + S*S, D)
        if position_table is None:
            position_table = resize_position_table(self.positional_embedding, side)
        x = x + position_table.to(x.dtype)
        x = self.ln_pre(x)
        x = x.permute(1, 0, 2)  # (L, B, D)

        blocks = self.transformer.resblocks
        last = len(blocks) - 1 if last_layer is None else last_layer
        features = []
        for block in blocks[: last + 1]:
            x = block(x)
            tokens = x[1:].permute(1, 2, 0)  # (B, D, S*S)
            features.append(tokens.reshape(-1, width, side, side).float())  # (B, D, S, S)
        return features


class FarlEncoder(nn.Module):
    """The official `backbone_module`: a holder whose only child is `visual`."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.visual = VisualTransformer(cfg)

    def forward(
        self, image: torch.Tensor, position_table: torch.Tensor | None = None, last_layer: int | None = None
    ) -> list[torch.Tensor]:
        return self.visual(image, position_table=position_table, last_layer=last_layer)

    def position_table(self, input_size: int) -> torch.Tensor:
        """Return the (1 + S*S, D) position table used for `input_size` px inputs."""
        grid = input_size // self.visual.patch_size
        return resize_position_table(self.visual.positional_embedding, grid)


def _init_farl_weights(module: nn.Module) -> None:
    # FaRL's init: truncated normal (std 0.02) for linear and conv weights, zero biases.
    if isinstance(module, (nn.Linear, nn.Conv2d)):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
