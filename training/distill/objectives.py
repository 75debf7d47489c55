"""Distillation losses of the four trained heads.

- landmarks: the official Faceptor landmark loss (soft-argmax point distance plus heatmap BCE with
  the R = 5 target) on the teacher's 68 points mapped into the landmark crop, plus the same point
  distance measured with a spatial softmax of the logits (`softmax_point_loss`). From random weights
  the official sigmoid soft-argmax barely moves: every background pixel adds sigmoid mass, so the
  points sit near the map center until the background logits are very negative. The softmax term
  teaches localization first, and the heatmap BCE then makes the served sigmoid decoding agree.
- age: the official DLDL-v2 loss on the teacher's age in years.
- expression: cross-entropy against the teacher's probabilities (soft targets), which equals
  KL(teacher || student) plus the teacher's entropy.
- identity: the served embedding is 512-d and the teacher's descriptor 128-d, so the student cannot
  copy it. Two terms make the student's cosine geometry follow the teacher's: within a batch, the
  squared difference of the student's and the teacher's pairwise cosine similarities plus
  1 - their Pearson correlation (relational), and 1 - cosine between a training-only linear
  projection (512 -> 128) of the embedding and the teacher descriptor. The projection is not exported.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from faceptor.train.losses import LossTerms, age_dldl_loss, landmark_loss, normalize_points

__all__ = ['LossTerms', 'age_dldl_loss', 'landmark_loss', 'softmax_point_loss', 'gaussian_log_density', 'heatmap_cross_entropy', 'soft_expression_loss', 'IdentityDistillation', 'pairwise_cosine']


def soft_expression_loss(logits: torch.Tensor, teacher_probabilities: torch.Tensor) -> LossTerms:
    """(B, C) logits and (B, C) teacher probabilities -> mean soft-target cross-entropy."""
    if logits.shape != teacher_probabilities.shape:
        raise ValueError(f'expression targets have shape {tuple(teacher_probabilities.shape)}; expected {tuple(logits.shape)}')
    loss = -(teacher_probabilities.float() * F.log_softmax(logits.float(), dim=1)).sum(dim=1).mean()
    return LossTerms(loss, {'soft_ce': loss})


def softmax_point_loss(heatmap_logits: torch.Tensor, points: torch.Tensor, input_size: int) -> LossTerms:
    """Mean distance between target points and the spatial-softmax expectation of each heatmap.

    (B, P, h, w) logits and (B, P, 2) crop pixels; distances are in normalized units u = (p + 0.5) / size,
    like the official coordinate term.
    """
    batch, count, height, width = heatmap_logits.shape
    weights = torch.softmax(heatmap_logits.float().reshape(batch, count, -1), dim=-1).reshape(batch, count, height, width)
    xs = torch.arange(width, dtype=weights.dtype)
    ys = torch.arange(height, dtype=weights.dtype)
    x = (weights.sum(dim=2) * xs).sum(dim=2)
    y = (weights.sum(dim=3) * ys).sum(dim=2)
    predicted = torch.stack([(x + 0.5) / width, (y + 0.5) / height], dim=-1)
    loss = (normalize_points(points.float(), input_size) - predicted).norm(dim=-1).mean()
    return LossTerms(loss, {'softmax_coord': loss})


def gaussian_log_density(points: torch.Tensor, input_size: int, map_side: int, sigma: float) -> torch.Tensor:
    """Compute, for (..., P, 2) crop-pixel points, the (..., P, map_side, map_side) log-density of an
    isotropic Gaussian of std `sigma` heatmap pixels around each point, up to a constant per map."""
    if not sigma > 0:
        raise ValueError(f'heatmap Gaussian sigma must be positive, got {sigma}')
    centers = normalize_points(points.float(), input_size) * map_side - 0.5  # heatmap pixel coordinates
    grid = torch.arange(map_side, dtype=torch.float32)
    dx = grid - centers[..., 0:1]  # (..., P, W)
    dy = grid - centers[..., 1:2]  # (..., P, H)
    return -(dy[..., :, None] ** 2 + dx[..., None, :] ** 2) / (2 * sigma**2)


def heatmap_cross_entropy(heatmap_logits: torch.Tensor, points: torch.Tensor, input_size: int, sigma: float) -> LossTerms:
    """Cross-entropy between each map's spatial softmax and a Gaussian of std `sigma` map pixels around the target.

    (B, P, s, s) logits and (B, P, 2) crop pixels. Unlike the expectation distance, every pixel gets a
    gradient of (softmax - target), so the maps sharpen from the first steps. The minimum is the
    target's entropy, not 0, so the log reports the excess over it.
    """
    batch, count, height, width = heatmap_logits.shape
    if height != width:
        raise ValueError(f'heatmap_cross_entropy needs square maps, got {height}x{width}')
    target_logits = gaussian_log_density(points, input_size, width, sigma).reshape(batch, count, -1)
    log_target = torch.log_softmax(target_logits, dim=-1)
    log_probabilities = torch.log_softmax(heatmap_logits.float().reshape(batch, count, -1), dim=-1)
    loss = -(log_target.exp() * log_probabilities).sum(dim=-1).mean()
    entropy = -(log_target.exp() * log_target).sum(dim=-1).mean()
    return LossTerms(loss, {'cross_entropy_excess': loss - entropy})


def pairwise_cosine(vectors: torch.Tensor) -> torch.Tensor:
    """(B, D) -> the B * (B - 1) / 2 cosine similarities of distinct pairs (upper triangle, row order)."""
    unit = F.normalize(vectors.float(), dim=1)
    similarity = unit @ unit.t()
    rows, cols = torch.triu_indices(len(vectors), len(vectors), offset=1)
    return similarity[rows, cols]


def pearson(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Pearson correlation of two 1-d tensors."""
    a = a - a.mean()
    b = b - b.mean()
    return (a * b).sum() / (a.norm() * b.norm()).clamp(min=eps)


class IdentityDistillation(nn.Module):
    """Identity loss with a training-only projection (see the module docstring)."""

    def __init__(self, embedding_dim: int, teacher_dim: int) -> None:
        super().__init__()
        self.projection = nn.Linear(embedding_dim, teacher_dim, bias=False)

    def forward(self, embeddings: torch.Tensor, teacher: torch.Tensor) -> LossTerms:
        """(B, E) raw student embeddings and (B, T) teacher descriptors, B >= 3 -> LossTerms."""
        if len(embeddings) < 3:
            raise ValueError(f'identity distillation needs a batch of at least 3 faces, got {len(embeddings)}')
        student_pairs = pairwise_cosine(embeddings)
        teacher_pairs = pairwise_cosine(teacher)
        squared = (student_pairs - teacher_pairs).pow(2).mean()
        correlation = 1 - pearson(student_pairs, teacher_pairs)
        projected = 1 - F.cosine_similarity(self.projection(embeddings.float()), teacher.float(), dim=1).mean()
        total = squared + correlation + projected
        return LossTerms(total, {'pair_mse': squared, 'pair_corr': correlation, 'projection': projected})
