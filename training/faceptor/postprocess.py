"""Decoding of raw head outputs, as the official evaluators do it.

Coordinates have pixel centers at integer values: normalized u = (p + 0.5) / W, p = u * W - 0.5.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def l2_normalize(embedding: torch.Tensor) -> torch.Tensor:
    """(B, E) -> (B, E) rows scaled to unit L2 norm."""
    return embedding / embedding.norm(dim=1, keepdim=True)


def age_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """(B, 101) logits -> p_k = sigmoid(z_k) / sum_j sigmoid(z_j); sigmoid plus L1 norm, not softmax."""
    activated = torch.sigmoid(logits)
    return activated / activated.sum(dim=1, keepdim=True)


def expected_age(probabilities: torch.Tensor, first_bin_years: float = 0.0) -> torch.Tensor:
    """(B, K) bin probabilities -> (B,) expected age sum_k (first_bin_years + k) p_k."""
    years = first_bin_years + torch.arange(probabilities.shape[1], dtype=probabilities.dtype)
    return (probabilities * years).sum(dim=1)


def landmarks_from_heatmaps(logits: torch.Tensor) -> torch.Tensor:
    """(B, P, H, W) heatmap logits -> (B, P, 2) normalized (x, y) points.

    Soft-argmax over the whole sigmoid map: x = sum(x * h) / max(sum h, 1e-6) with x, y the 0-based
    pixel indices, then u = (x + 0.5) / W.
    """
    heat = torch.sigmoid(logits)
    _, _, height, width = heat.shape
    xs = torch.arange(width, dtype=heat.dtype)
    ys = torch.arange(height, dtype=heat.dtype)
    total = heat.sum(dim=(2, 3)).clamp(min=1e-6)
    x = (heat * xs[None, None, None, :]).sum(dim=(2, 3)) / total
    y = (heat * ys[None, None, :, None]).sum(dim=(2, 3)) / total
    return torch.stack([(x + 0.5) / width, (y + 0.5) / height], dim=-1)


def denormalize_points(points: torch.Tensor, size: int) -> torch.Tensor:
    """Normalized points -> pixel coordinates of a `size` x `size` frame: u * size - 0.5."""
    return points * size - 0.5


def upsample_parsing(logits: torch.Tensor, size: int) -> torch.Tensor:
    """(B, C, h, h) logits -> (B, size, size, C): bilinear, align_corners=False, channels last."""
    upsampled = F.interpolate(logits, size=(size, size), mode='bilinear', align_corners=False)
    return upsampled.permute(0, 2, 3, 1)
