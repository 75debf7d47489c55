"""The Faceptor model (single encoder, dual decoder) and its `build_model` factory."""

from __future__ import annotations

import torch
from torch import nn

from .config import FaceptorConfig
from .decoder import DecoderResult
from .encoder import FarlEncoder
from .heads import FaceptorHeads


class Faceptor(nn.Module):
    """FaRL encoder plus Faceptor heads, with the official module names.

    state_dict keys are the official checkpoint keys without the `module.` prefix and without the
    training-only `losses_module.*`.
    """

    def __init__(self, cfg: FaceptorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.backbone_module = FarlEncoder(cfg.encoder)
        self.heads_module = FaceptorHeads(cfg)

    def encode(self, image: torch.Tensor) -> list[torch.Tensor]:
        """Encoder block outputs for a normalized (B, 3, R, R) image: a list of (B, D, S, S)."""
        return self.backbone_module(image)

    def embed_identity(self, features: list[torch.Tensor]) -> torch.Tensor:
        """Raw (B, E) identity embedding from the last encoder layer; not L2-normalized."""
        return self.heads_module.interpreters['feature_v2'](features[-1])

    def decode(self, features: list[torch.Tensor], task: str) -> DecoderResult:
        """Run the shared decoder with `task`'s queries: output (Q, B, C) and src (S*S, B, C)."""
        self.cfg.task(task)
        return self.heads_module.decoder(features, task)

    def interpret(self, features: list[torch.Tensor], task: str, decoded: DecoderResult | None = None) -> torch.Tensor:
        """Raw head output of `task` from the encoder output list.

        identity: (B, E) embedding. value: (B, Q) logits. map: (B, Q, 4S, 4S) logits (parsing
        class logits or landmark heatmap logits) before any upsampling or sigmoid.
        """
        spec = self.cfg.task(task)
        if spec.kind == 'identity':
            return self.embed_identity(features)
        if decoded is None:
            decoded = self.decode(features, task)
        if spec.kind == 'value':
            return self.heads_module.interpreters['value'](decoded.output)
        return self.heads_module.interpreters['map_v2'](decoded.output, decoded.src)

    def forward(self, image: torch.Tensor, task: str) -> torch.Tensor:
        """Raw head output of `task` for a normalized image (see `interpret`)."""
        return self.interpret(self.encode(image), task)


def build_model(cfg: FaceptorConfig) -> Faceptor:
    """Build an initialized Faceptor for `cfg` (random init as in the official code)."""
    return Faceptor(cfg)


def count_parameters(model: nn.Module) -> int:
    """Unique parameters (shared storage counted once), buffers excluded."""
    return sum(p.numel() for p in model.parameters())
