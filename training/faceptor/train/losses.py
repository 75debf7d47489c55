"""Per-task training losses of Faceptor and the weighting that combines them.

Every loss returns `LossTerms`: the task's total and its named parts. Losses compute in float32
whatever the input dtype, so they stay finite under autocast.

Task type -> loss (the official choices):
- recog: CosFace, s = 64, m = 0.4, on the raw embedding; the classifier is training-only.
- age: DLDL-v2, KL(q || p) + mean |E_p[k] - a| with p = sigmoid(z) / sum sigmoid(z).
- affect: cross-entropy over the 7 expression logits.
- biattr: BCE-with-logits summed over attributes and divided by the batch size; -1 labels masked.
- parsing: per-pixel cross-entropy after bilinear upsampling to the input size.
- align: Euclidean distance of soft-argmax points plus heatmap BCE, 1:1.
"""

from __future__ import annotations

import math
from typing import Mapping, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..config import FaceptorConfig, TaskSpec

AGE_BINS = 101
AGE_SIGMA = 2.0
AGE_PROBABILITY_FLOOR = 1e-12
HEATMAP_RADIUS = 5.0
SOFT_ARGMAX_MIN_MASS = 1e-6


class LossTerms(NamedTuple):
    """A task's loss and its named parts (the parts sum to `total` with weight 1 each)."""

    total: torch.Tensor
    """Scalar loss of the task."""
    parts: dict[str, torch.Tensor]
    """Scalar parts, for logs: for example {'kl': ..., 'l1': ...} for age."""


# ---------------------------------------------------------------------------------------------
# Identity


def cosface_logits(embeddings: torch.Tensor, classifier: torch.Tensor, labels: torch.Tensor, scale: float, margin: float) -> torch.Tensor:
    """CosFace logits s * (cos(theta_j) - m * [j == y]): (B, E), (K, E), (B,) -> (B, K).

    Cosines divide the dot product by max(|x| * |w|, 1e-8), as the official loss does.
    """
    dots = embeddings @ classifier.t()  # (B, K)
    norms = torch.outer(embeddings.norm(dim=1), classifier.norm(dim=1)).clamp(min=1e-8)  # (B, K)
    cosine = dots / norms
    margins = F.one_hot(labels, num_classes=classifier.shape[0]).to(cosine.dtype) * margin
    return scale * (cosine - margins)


class CosFaceLoss(nn.Module):
    """CosFace (large-margin cosine) loss with its own (K, E) classifier.

    The classifier is named `classifier`, so in the training model its key is the official
    `losses_module.losses.recog_ms1mv3.classifier`. Init U(-1/sqrt(E), 1/sqrt(E)).
    """

    def __init__(self, num_classes: int, embedding_dim: int = 512, scale: float = 64.0, margin: float = 0.4) -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError(f'CosFace needs at least 2 classes, got num_classes={num_classes}')
        self.scale = scale
        self.margin = margin
        self.classifier = nn.Parameter(torch.empty(num_classes, embedding_dim))
        bound = 1.0 / math.sqrt(embedding_dim)
        nn.init.uniform_(self.classifier, -bound, bound)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> LossTerms:
        """(B, E) raw embeddings and (B,) identity labels -> mean cross-entropy of the CosFace logits."""
        _check_class_labels(labels, self.classifier.shape[0], 'identity')
        logits = cosface_logits(embeddings.float(), self.classifier.float(), labels, self.scale, self.margin)
        loss = F.cross_entropy(logits, labels)
        return LossTerms(loss, {'cosface': loss})


# ---------------------------------------------------------------------------------------------
# Age


def age_label_distribution(ages: torch.Tensor, num_bins: int = AGE_BINS, sigma: float = AGE_SIGMA) -> torch.Tensor:
    """(B,) ages in years -> (B, num_bins) Gaussian label distributions over bins 0..num_bins-1.

    q_k is proportional to exp(-(k - a)^2 / (2 sigma^2)) and L1-normalized over the bins.
    """
    bins = torch.arange(num_bins, dtype=torch.float32, device=ages.device)
    density = torch.exp(-((bins[None, :] - ages.float()[:, None]) ** 2) / (2 * sigma**2))  # (B, K)
    return density / density.sum(dim=1, keepdim=True)


def age_dldl_loss(logits: torch.Tensor, ages: torch.Tensor, sigma: float = AGE_SIGMA) -> LossTerms:
    """DLDL-v2 age loss: (B, K) logits and (B,) ages -> KL(q || p) + mean |sum_k k p_k - a|.

    p = sigmoid(z) / sum sigmoid(z). The KL term is summed over bins and averaged over the
    batch; the L1 term is averaged over the batch. p is clamped at 1e-12 before the log, which
    changes nothing in float32 unless a bin's probability underflows.
    """
    logits = logits.float()
    activated = torch.sigmoid(logits)
    probabilities = activated / activated.sum(dim=1, keepdim=True)  # (B, K)
    target = age_label_distribution(ages, logits.shape[1], sigma)  # (B, K)

    log_p = probabilities.clamp(min=AGE_PROBABILITY_FLOOR).log()
    kl = (torch.xlogy(target, target) - target * log_p).sum() / logits.shape[0]
    bins = torch.arange(logits.shape[1], dtype=torch.float32, device=logits.device)
    expected = (probabilities * bins).sum(dim=1)  # (B,)
    l1 = (expected - ages.float()).abs().mean()
    return LossTerms(kl + l1, {'kl': kl, 'l1': l1})


# ---------------------------------------------------------------------------------------------
# Expression and attributes


def expression_loss(logits: torch.Tensor, labels: torch.Tensor) -> LossTerms:
    """(B, C) logits and (B,) class indices -> mean cross-entropy."""
    _check_class_labels(labels, logits.shape[1], 'expression')
    loss = F.cross_entropy(logits.float(), labels)
    return LossTerms(loss, {'ce': loss})


def attribute_loss(logits: torch.Tensor, labels: torch.Tensor) -> LossTerms:
    """(B, A) logits and (B, A) labels in {0, 1, -1} -> BCE summed over attributes / B.

    A -1 label marks a missing annotation and contributes nothing.
    """
    if labels.shape != logits.shape:
        raise ValueError(f'attribute labels have shape {tuple(labels.shape)}; expected {tuple(logits.shape)} like the logits')
    known = labels != -1
    targets = labels.clamp(min=0).float()
    per_label = F.binary_cross_entropy_with_logits(logits.float(), targets, reduction='none')
    loss = (per_label * known).sum() / logits.shape[0]
    return LossTerms(loss, {'bce': loss})


# ---------------------------------------------------------------------------------------------
# Parsing


def parsing_loss(logits: torch.Tensor, label_map: torch.Tensor) -> LossTerms:
    """(B, C, h, w) logits and (B, H, W) class indices -> per-pixel CE averaged over B*H*W.

    The logits are upsampled bilinearly (align_corners=False) to H x W first, as the official
    ParsingOutput does at 512 px (128 -> 512).
    """
    height, width = label_map.shape[-2:]
    _check_class_labels(label_map, logits.shape[1], 'parsing')
    upsampled = F.interpolate(logits.float(), size=(height, width), mode='bilinear', align_corners=False)
    loss = F.cross_entropy(upsampled, label_map)
    return LossTerms(loss, {'ce': loss})


# ---------------------------------------------------------------------------------------------
# Landmarks


def normalize_points(points: torch.Tensor, size: int) -> torch.Tensor:
    """Pixel coordinates of a `size` frame (pixel centers at integers) -> u = (p + 0.5) / size."""
    return (points + 0.5) / size


def soft_argmax(heatmap_logits: torch.Tensor) -> torch.Tensor:
    """(B, P, H, W) logits -> (B, P, 2) normalized (x, y): the sigmoid-weighted mean pixel position.

    x = sum(x * h) / max(sum h, 1e-6) over the whole map with h = sigmoid(logits), then
    u = (x + 0.5) / W; the same for y.
    """
    heat = torch.sigmoid(heatmap_logits)
    _, _, height, width = heat.shape
    xs = torch.arange(width, dtype=heat.dtype, device=heat.device)
    ys = torch.arange(height, dtype=heat.dtype, device=heat.device)
    mass = heat.sum(dim=(2, 3)).clamp(min=SOFT_ARGMAX_MIN_MASS)  # (B, P)
    x = (heat.sum(dim=2) * xs).sum(dim=2) / mass
    y = (heat.sum(dim=3) * ys).sum(dim=2) / mass
    return torch.stack([(x + 0.5) / width, (y + 0.5) / height], dim=-1)


def landmark_heatmap_target(normalized_points: torch.Tensor, height: int, width: int, radius: float = HEATMAP_RADIUS) -> torch.Tensor:
    """(B, P, 2) normalized points -> (B, P, H, W) target heatmaps.

    Each point p = u * size - 0.5 (heatmap pixels) gets T(x, y) = exp(-8 r^2 / R^2) where
    r = |(x, y) - p| <= R, else 0. This is the dense form of the official p2i 'gaussian_awing'
    rendering with max-reduce: one point per channel and a zero background make it exact.
    """
    x = normalized_points[..., 0] * width - 0.5  # (B, P)
    y = normalized_points[..., 1] * height - 0.5
    xs = torch.arange(width, dtype=normalized_points.dtype, device=normalized_points.device)
    ys = torch.arange(height, dtype=normalized_points.dtype, device=normalized_points.device)
    dx2 = (xs[None, None, None, :] - x[..., None, None]) ** 2  # (B, P, 1, W)
    dy2 = (ys[None, None, :, None] - y[..., None, None]) ** 2  # (B, P, H, 1)
    r2 = dx2 + dy2  # (B, P, H, W)
    return torch.where(r2 <= radius**2, torch.exp(-8.0 * r2 / radius**2), torch.zeros_like(r2))


def landmark_loss(heatmap_logits: torch.Tensor, points: torch.Tensor, input_size: int, radius: float = HEATMAP_RADIUS) -> LossTerms:
    """Landmark loss from (B, P, h, w) heatmap logits and (B, P, 2) target points in crop pixels.

    coord: mean over points and batch of |u_target - u_pred| (Euclidean, on normalized
    coordinates; the official name "coord_l1_loss" notwithstanding). heatmap: BCE-with-logits
    between the logits and `landmark_heatmap_target`, averaged over all elements.
    """
    if points.shape[:2] != heatmap_logits.shape[:2] or points.shape[-1] != 2:
        raise ValueError(
            f'landmark targets have shape {tuple(points.shape)}; expected (B, P, 2) = '
            f'({heatmap_logits.shape[0]}, {heatmap_logits.shape[1]}, 2) for these heatmaps'
        )
    heatmap_logits = heatmap_logits.float()
    target = normalize_points(points.float(), input_size)  # (B, P, 2)
    predicted = soft_argmax(heatmap_logits)
    coord = (target - predicted).norm(dim=-1).mean()

    height, width = heatmap_logits.shape[-2:]
    target_heatmap = landmark_heatmap_target(target, height, width, radius)
    heatmap = F.binary_cross_entropy_with_logits(heatmap_logits, target_heatmap)
    return LossTerms(coord + heatmap, {'coord': coord, 'heatmap': heatmap})


# ---------------------------------------------------------------------------------------------
# Task modules and weighting


class AgeLoss(nn.Module):
    """`age_dldl_loss` as a module: (B, K) logits, (B,) ages."""

    def __init__(self, sigma: float = AGE_SIGMA) -> None:
        super().__init__()
        self.sigma = sigma

    def forward(self, logits: torch.Tensor, ages: torch.Tensor) -> LossTerms:
        return age_dldl_loss(logits, ages, self.sigma)


class ExpressionLoss(nn.Module):
    """`expression_loss` as a module: (B, C) logits, (B,) classes."""

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> LossTerms:
        return expression_loss(logits, labels)


class AttributeLoss(nn.Module):
    """`attribute_loss` as a module: (B, A) logits, (B, A) labels in {0, 1, -1}."""

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> LossTerms:
        return attribute_loss(logits, labels)


class ParsingLoss(nn.Module):
    """`parsing_loss` as a module: (B, C, h, w) logits, (B, H, W) label maps."""

    def forward(self, logits: torch.Tensor, label_map: torch.Tensor) -> LossTerms:
        return parsing_loss(logits, label_map)


class LandmarkLoss(nn.Module):
    """`landmark_loss` as a module: (B, P, h, w) heatmap logits, (B, P, 2) points in crop pixels."""

    def __init__(self, input_size: int, radius: float = HEATMAP_RADIUS) -> None:
        super().__init__()
        self.input_size = input_size
        self.radius = radius

    def forward(self, heatmap_logits: torch.Tensor, points: torch.Tensor) -> LossTerms:
        return landmark_loss(heatmap_logits, points, self.input_size, self.radius)


class LossesModule(nn.Module):
    """The official `losses_module`: one loss module per task under `losses.<task>`."""

    def __init__(self, losses: Mapping[str, nn.Module]) -> None:
        super().__init__()
        self.losses = nn.ModuleDict(dict(losses))

    def forward(self, task: str, head_output: torch.Tensor, label: torch.Tensor) -> LossTerms:
        return self.losses[task](head_output, label)


def build_task_loss(spec: TaskSpec, cfg: FaceptorConfig, num_identities: int | None = None, heatmap_radius: float = HEATMAP_RADIUS) -> nn.Module:
    """Build the loss module of one task; recognition needs `num_identities` (93,431 for MS1MV3)."""
    if spec.type == 'recog':
        if num_identities is None:
            raise ValueError(f'task {spec.name!r} needs num_identities for its CosFace classifier')
        return CosFaceLoss(num_identities, cfg.identity_dim)
    if spec.type == 'age':
        return AgeLoss()
    if spec.type == 'affect':
        return ExpressionLoss()
    if spec.type == 'biattr':
        return AttributeLoss()
    if spec.type == 'parsing':
        return ParsingLoss()
    return LandmarkLoss(cfg.dense_input_size, heatmap_radius)


def build_losses_module(cfg: FaceptorConfig, tasks: list[str], num_identities: int | None = None, heatmap_radius: float = HEATMAP_RADIUS) -> LossesModule:
    """Build the losses module for the trained `tasks` (official task keys of `cfg`), in that order."""
    return LossesModule({task: build_task_loss(cfg.task(task), cfg, num_identities, heatmap_radius) for task in tasks})


def task_loss_weights(loss_weights: Mapping[str, float], type_weights: Mapping[str, float] | None = None) -> dict[str, float]:
    """Compute the official loss weights alpha_t from raw task weights w_t and type weights W_type.

    With type weights, alpha_t = W_type * w_t / sum of w over the tasks of that type; without
    them, alpha_t = w_t. Every task's type must then have a type weight.
    """
    for task, weight in loss_weights.items():
        if not weight > 0:
            raise ValueError(f'loss_weight of task {task!r} must be positive, got {weight}')
    if not type_weights:
        return dict(loss_weights)

    type_sums: dict[str, float] = {}
    for task, weight in loss_weights.items():
        task_type = task.split('_', 1)[0]
        if task_type not in type_weights:
            raise ValueError(f'task_weights has no entry for type {task_type!r} of task {task!r}; add one (present: {", ".join(type_weights)})')
        type_sums[task_type] = type_sums.get(task_type, 0.0) + weight
    return {task: type_weights[task.split('_', 1)[0]] * weight / type_sums[task.split('_', 1)[0]] for task, weight in loss_weights.items()}


def combine_task_losses(task_losses: Mapping[str, torch.Tensor], alphas: Mapping[str, float]) -> torch.Tensor:
    """Combine task losses into sum_t alpha_t L_t / sum_t alpha_t over the tasks in `task_losses`."""
    total_alpha = sum(alphas[task] for task in task_losses)
    total = sum(alphas[task] * loss for task, loss in task_losses.items())
    return total / total_alpha


def _check_class_labels(labels: torch.Tensor, num_classes: int, what: str) -> None:
    # CUDA reports an out-of-range class as an opaque device-side assert, so check on the host.
    if labels.numel() == 0:
        return
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= num_classes:
        bad = low if low < 0 else high
        raise ValueError(f'{what} label {bad} is outside 0..{num_classes - 1}; check the dataset labels for this task')
