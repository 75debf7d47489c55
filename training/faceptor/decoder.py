"""Faceptor's shared transformer decoder (`heads_module.decoder`, official `TransformerDecoderLevel`).

Task queries cross-attend to a memory built from one or more encoder layers ("Layer-Attention").
Every listed layer is projected to width C by its own 1x1 convolution, and its tokens get their
own learned level embedding added to the key position code. Each decoder layer runs
cross-attention, then self-attention, then a ReLU FFN, each followed by a post-norm. There is no
final norm.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .config import DecoderConfig, TaskSpec

SINE_TEMPERATURE = 10000.0


class DecoderResult(NamedTuple):
    """Decoder outputs in the official (sequence, batch, channel) layouts."""

    output: torch.Tensor
    """(Q, B, C) query states after the last layer."""
    src: torch.Tensor
    """(S*S, B, C) projected tokens of the last encoder layer, without position codes."""


def sine_grid_code(side: int, num_feats: int) -> torch.Tensor:
    """Sine position code of an S x S token grid, (S*S, 2*num_feats), rows in (y, then x) order.

    Token (i, j) has normalized center v = (i + 0.5)/S, u = (j + 0.5)/S. Per axis, feature k is
    sin(2*pi*t / T**(2*floor(k/2)/num_feats)) for even k and cos(...) for odd k, T = 10000.
    The y features come first. Float32 throughout, in the official order of operations.
    """
    steps = torch.arange(1, side + 1, dtype=torch.float32)
    centers = (steps - 0.5) / steps[-1]  # (S,)
    v = centers[:, None].expand(side, side)  # row coordinate
    u = centers[None, :].expand(side, side)  # column coordinate
    k = torch.arange(num_feats, dtype=torch.float32)
    freqs = SINE_TEMPERATURE ** (2 * torch.div(k, 2, rounding_mode='floor') / num_feats)

    def encode(t: torch.Tensor) -> torch.Tensor:
        phase = (t * (2 * math.pi))[..., None] / freqs  # (S, S, F)
        return torch.stack((phase[..., 0::2].sin(), phase[..., 1::2].cos()), dim=-1).flatten(-2)

    code = torch.cat([encode(v), encode(u)], dim=-1)  # (S, S, 2F)
    return code.reshape(side * side, 2 * num_feats)


class CrossAttentionLayer(nn.Module):
    """q = norm(q + MHA(q + query_pos, memory + memory_pos, memory))."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.multihead_attn = nn.MultiheadAttention(width, heads, dropout=0.0)
        self.norm = nn.LayerNorm(width)
        _init_fan_in(self)

    def forward(
        self, tgt: torch.Tensor, memory: torch.Tensor, memory_pos: torch.Tensor, query_pos: torch.Tensor
    ) -> torch.Tensor:
        attended = self.multihead_attn(tgt + query_pos, memory + memory_pos, memory, need_weights=False)[0]
        return self.norm(tgt + attended)


class SelfAttentionLayer(nn.Module):
    """q = norm(q + MHA(q + query_pos, q + query_pos, q)), with an optional additive mask."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(width, heads, dropout=0.0)
        self.norm = nn.LayerNorm(width)
        _init_fan_in(self)

    def forward(
        self, tgt: torch.Tensor, query_pos: torch.Tensor, attn_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        q = tgt + query_pos
        attended = self.self_attn(q, q, tgt, attn_mask=attn_mask, need_weights=False)[0]
        return self.norm(tgt + attended)


class FFNLayer(nn.Module):
    """q = norm(q + linear2(relu(linear1(q))))."""

    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.linear1 = nn.Linear(width, hidden)
        self.linear2 = nn.Linear(hidden, width)
        self.norm = nn.LayerNorm(width)
        _init_fan_in(self)

    def forward(self, tgt: torch.Tensor) -> torch.Tensor:
        return self.norm(tgt + self.linear2(F.relu(self.linear1(tgt))))


class TaskDecoder(nn.Module):
    """The shared decoder with one pair of query tables per value or map task."""

    def __init__(self, cfg: DecoderConfig, encoder_width: int, encoder_layers: int, tasks: list[TaskSpec]) -> None:
        super().__init__()
        width = cfg.width
        self.width = width
        self.levels = tuple(cfg.levels)
        self.src_level = encoder_layers - 1

        # Registration order fixes the state_dict order: all query_feat tables, then all query_embed.
        self.query_feat = nn.ModuleDict({t.name: nn.Embedding(t.queries, width) for t in tasks})
        self.query_embed = nn.ModuleDict({t.name: nn.Embedding(t.queries, width) for t in tasks})
        self.level_embed = nn.Embedding(len(self.levels), width)
        self.input_proj = nn.ModuleList([nn.Conv2d(encoder_width, width, kernel_size=1) for _ in self.levels])
        self.transformer_self_attention_layers = nn.ModuleList(
            [SelfAttentionLayer(width, cfg.heads) for _ in range(cfg.layers)]
        )
        self.transformer_cross_attention_layers = nn.ModuleList(
            [CrossAttentionLayer(width, cfg.heads) for _ in range(cfg.layers)]
        )
        self.transformer_ffn_layers = nn.ModuleList([FFNLayer(width, cfg.ffn) for _ in range(cfg.layers)])
        self.adapt_pos2d = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width))

        for proj in self.input_proj:
            nn.init.kaiming_uniform_(proj.weight, a=1)
            nn.init.zeros_(proj.bias)
        for table in self.query_embed.values():
            nn.init.uniform_(table.weight, 0.0, 1.0)

    def memory_position(self, side: int) -> torch.Tensor:
        """Key position code of the memory for an S x S grid: (len(levels)*S*S, 1, C).

        adapt_pos2d(sine grid) + level_embed[j] for each level j, concatenated in level order.
        It depends on no input, so the export stores it as a constant.
        """
        grid = sine_grid_code(side, self.width // 2).to(self.level_embed.weight.device)
        location = self.adapt_pos2d(grid)[:, None, :]  # (S*S, 1, C)
        codes = [location + self.level_embed.weight[j][None, None, :] for j in range(len(self.levels))]
        return torch.cat(codes, dim=0)

    def build_memory(self, features: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Project the configured levels of the encoder output list.

        Returns the memory (len(levels)*S*S, B, C) and decoder_src (S*S, B, C), the projected
        last encoder layer.
        """
        memory = []
        src = None
        for j, level in enumerate(self.levels):
            tokens = self.input_proj[j](features[level]).flatten(2).permute(2, 0, 1)  # (S*S, B, C)
            memory.append(tokens)
            if level == self.src_level:
                src = tokens
        return torch.cat(memory, dim=0), src

    def run(
        self,
        memory: torch.Tensor,
        memory_pos: torch.Tensor,
        query_feat: torch.Tensor,
        query_pos: torch.Tensor,
        self_attn_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Run all layers for (Q, C) query tables against a (M, B, C) memory; returns (Q, B, C).

        `self_attn_mask` is an additive (Q, Q) mask; the export uses a block-diagonal one to run
        several tasks' queries in one pass.
        """
        batch = memory.shape[1]
        output = query_feat[:, None, :].repeat(1, batch, 1)  # (Q, B, C)
        query_pos = query_pos[:, None, :].repeat(1, batch, 1)  # (Q, B, C)
        layers = zip(
            self.transformer_cross_attention_layers,
            self.transformer_self_attention_layers,
            self.transformer_ffn_layers,
        )
        for cross, self_attn, ffn in layers:
            output = cross(output, memory, memory_pos, query_pos)
            output = self_attn(output, query_pos, self_attn_mask)
            output = ffn(output)
        return output

    def forward(self, features: list[torch.Tensor], task: str) -> DecoderResult:
        """Decode one task from the encoder output list (each (B, D, S, S))."""
        memory, src = self.build_memory(features)
        side = features[self.src_level].shape[-1]
        memory_pos = self.memory_position(side)
        output = self.run(memory, memory_pos, self.query_feat[task].weight, self.query_embed[task].weight)
        return DecoderResult(output=output, src=src)


def _init_fan_in(layer: nn.Module) -> None:
    # Official 'fan_in' init of the decoder layers: every matrix ~ N(0, 1/sqrt(fan_in)).
    for param in layer.parameters():
        if param.dim() > 1:
            with torch.no_grad():
                param.normal_(0.0, 1.0 / math.sqrt(param.shape[1]))
