"""Faceptor's interpreters: the identity head, the shared value head and the shared map head.

Official names: `heads_module.interpreters.feature_v2` (identity), `.value`, `.map_v2`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import FaceptorConfig
from .decoder import TaskDecoder


class IdentityHead(nn.Module):
    """LN over each token, mean over tokens, Linear (no bias), BN1d, Linear (no bias), BN1d.

    Reads the last encoder layer (B, D, S, S) and returns a raw (B, E) embedding, not L2-normalized.
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(in_features)
        self.head = nn.Sequential(
            nn.Linear(in_features, in_features, bias=False),
            nn.BatchNorm1d(in_features, eps=2e-5),
            nn.Linear(in_features, out_features, bias=False),
            nn.BatchNorm1d(out_features, eps=2e-5),
        )

    def forward(self, last_layer: torch.Tensor) -> torch.Tensor:
        tokens = last_layer.flatten(2).transpose(1, 2)  # (B, S*S, D)
        pooled = self.norm(tokens).mean(dim=1)  # (B, D)
        return self.head(pooled)  # (B, E)


class ValueHead(nn.Module):
    """One Linear(C -> 1) shared by every value task: (Q, B, C) decoder output -> (B, Q) logits."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.fc = nn.Linear(width, 1)

    def forward(self, decoder_output: torch.Tensor) -> torch.Tensor:
        return self.fc(decoder_output.permute(1, 0, 2)).flatten(1)  # (B, Q)


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channel axis of (B, C, H, W) maps, eps 1e-6 (official `Norm2d`).

    The official module registers its affine parameters twice, as `weight`/`bias` and as
    `ln.weight`/`ln.bias` of an inner nn.LayerNorm. Both names share storage here too, so the
    state_dict has the same four keys as the official checkpoint.
    """

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps
        self.ln = nn.LayerNorm(channels, eps=eps)
        self.ln.weight = self.weight
        self.ln.bias = self.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class MaskEmbedding(nn.Module):
    """Three Linear(C -> C) layers with ReLU after the first two (official `MLP`, key `layers.*`)."""

    def __init__(self, width: int, depth: int = 3) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(width, width) for _ in range(depth)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x


class MapHead(nn.Module):
    """Pixel decoder plus mask embedding, shared by every map task (official `MapInterpreter_V2`).

    decoder_src (S*S, B, C) -> ConvT 2x2 -> channel LN -> GELU (erf) -> ConvT 2x2 = E (B, C, 4S, 4S).
    logits[b, q] = sum_c mask_embed(h_q)[c] * E[b, c]: (B, Q, 4S, 4S).
    """

    def __init__(self, width: int) -> None:
        super().__init__()
        self.mask_map = nn.Sequential(
            nn.ConvTranspose2d(width, width, kernel_size=2, stride=2),
            ChannelLayerNorm(width),
            nn.GELU(),
            nn.ConvTranspose2d(width, width, kernel_size=2, stride=2),
        )
        self.mask_embed = MaskEmbedding(width)

    def pixel_features(self, decoder_src: torch.Tensor, side: int | None = None) -> torch.Tensor:
        """(S*S, B, C) tokens -> (B, C, 4S, 4S) per-pixel embeddings.

        `side` (S) is derived from the token count unless given; the export passes it as a
        constant because shapes are tensors while tracing.
        """
        width = self.mask_embed.layers[0].in_features
        if side is None:
            side = math.isqrt(decoder_src.shape[0])
        grid = decoder_src.permute(1, 2, 0).reshape(-1, width, side, side)  # (B, C, S, S)
        return self.mask_map(grid)

    def forward(self, decoder_output: torch.Tensor, decoder_src: torch.Tensor, side: int | None = None) -> torch.Tensor:
        features = self.pixel_features(decoder_src, side)  # (B, C, H, W)
        _, width, height, map_width = features.shape
        embeddings = self.mask_embed(decoder_output.permute(1, 0, 2))  # (B, Q, C)
        logits = torch.matmul(embeddings, features.reshape(-1, width, height * map_width))  # (B, Q, H*W)
        return logits.reshape(logits.shape[0], logits.shape[1], height, map_width)


class FaceptorHeads(nn.Module):
    """The official `heads_module`: the shared decoder and the interpreters the tasks need."""

    def __init__(self, cfg: FaceptorConfig) -> None:
        super().__init__()
        decoded_tasks = [t for t in cfg.tasks if t.kind != 'identity']
        self.decoder = TaskDecoder(cfg.decoder, cfg.encoder.width, cfg.encoder.layers, decoded_tasks)
        self.interpreters = nn.ModuleDict()
        if cfg.tasks_of_kind('identity'):
            self.interpreters['feature_v2'] = IdentityHead(cfg.encoder.width, cfg.identity_dim)
        if cfg.tasks_of_kind('value'):
            self.interpreters['value'] = ValueHead(cfg.decoder.width)
        if cfg.tasks_of_kind('map'):
            self.interpreters['map_v2'] = MapHead(cfg.decoder.width)
