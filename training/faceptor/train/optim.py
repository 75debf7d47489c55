"""AdamW with per-module learning-rate multipliers, and the warmup + cosine schedule.

Official recipe: AdamW (betas 0.9/0.999, eps 1e-8), weight decay 0.05 on every parameter
(biases, norms, embeddings and queries included), gradient-norm clipping at 5.0, and
lr(group, t) = multiplier(group) * schedule(t) with

    schedule(t) = base + (t / W) (peak - base)                                   for t < W
    schedule(t) = min + (peak - min) (1 + cos(pi (t - W) / (T - W))) / 2          for t >= W

(base 1e-6, peak 5e-5, W = 2000 warmup iterations, min 0, T = max_iter). The backbone has
multiplier 1; the decoder, interpreters, other heads and the loss modules (the CosFace
classifier) have 10, so heads peak at 5e-4.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

# Parameter-name prefix (inside the training model) -> group name, in match order.
GROUP_PREFIXES = (
    ('backbone_module.', 'backbone'),
    ('heads_module.decoder.', 'decoder'),
    ('heads_module.interpreters.', 'interpreters'),
    ('heads_module.', 'heads'),
    ('losses_module.', 'losses'),
)


@dataclass
class OptimConfig:
    """Optimizer, schedule and clipping settings (official values as defaults)."""

    base_lr: float = 1e-6
    """Schedule value at iteration 0, the start of the linear warmup."""
    peak_lr: float = 5e-5
    """Schedule value at the end of the warmup, where the cosine decay starts (official warmup_lr)."""
    min_lr: float = 0.0
    """Schedule value the cosine reaches at max_iter (official eta_min)."""
    warmup_steps: int = 2000
    """Iterations of linear warmup from base_lr to peak_lr. With 0, the schedule starts at peak_lr."""
    weight_decay: float = 0.05
    """AdamW decoupled weight decay, applied to every trained parameter."""
    betas: tuple[float, float] = (0.9, 0.999)
    """AdamW beta1, beta2."""
    eps: float = 1e-8
    """AdamW epsilon."""
    clip_grad_norm: float = 5.0
    """Max global L2 norm of the gradients (after unscaling); 0 turns clipping off."""
    multipliers: dict[str, float] = field(default_factory=lambda: {
        'backbone': 1.0, 'decoder': 10.0, 'interpreters': 10.0, 'heads': 10.0, 'losses': 10.0,
    })
    """LR multiplier per parameter group: backbone, decoder, interpreters, heads, losses."""

    def __post_init__(self) -> None:
        validate_optim_config(self)


def validate_optim_config(cfg: OptimConfig) -> None:
    """Raise ValueError naming the first invalid field of `cfg`."""
    for name in ('base_lr', 'peak_lr', 'min_lr', 'weight_decay', 'clip_grad_norm', 'eps'):
        if getattr(cfg, name) < 0:
            raise ValueError(f'optim.{name} must be >= 0, got {getattr(cfg, name)}')
    if cfg.warmup_steps < 0:
        raise ValueError(f'optim.warmup_steps must be >= 0, got {cfg.warmup_steps}')
    if not all(0 <= beta < 1 for beta in cfg.betas) or len(cfg.betas) != 2:
        raise ValueError(f'optim.betas must be two values in [0, 1), got {cfg.betas}')
    valid = [name for _, name in GROUP_PREFIXES]
    unknown = sorted(set(cfg.multipliers) - set(valid))
    if unknown:
        raise ValueError(f'optim.multipliers has unknown group(s) {unknown}; valid groups: {", ".join(valid)}')
    missing = [name for name in valid if name not in cfg.multipliers]
    if missing:
        raise ValueError(f'optim.multipliers lacks group(s) {missing}; give a multiplier for each of {", ".join(valid)}')


def parameter_group_name(name: str) -> str:
    """Group of a training-model parameter name: backbone, decoder, interpreters, heads or losses."""
    stripped = name[len('module.'):] if name.startswith('module.') else name
    for prefix, group in GROUP_PREFIXES:
        if stripped.startswith(prefix):
            return group
    raise ValueError(f'parameter {name!r} is outside backbone_module, heads_module and losses_module')


def build_param_groups(model: nn.Module, cfg: OptimConfig) -> list[dict]:
    """AdamW parameter groups: one per group name that has trainable parameters.

    Parameters with requires_grad False are left out. Shared tensors appear once (named_parameters
    removes duplicates). Each group carries 'name' and 'lr_multiplier'; its 'lr' starts at
    multiplier * schedule(0).
    """
    grouped: dict[str, list[nn.Parameter]] = {}
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            grouped.setdefault(parameter_group_name(name), []).append(parameter)
    groups = []
    for _, group in GROUP_PREFIXES:
        if group in grouped:
            multiplier = cfg.multipliers[group]
            groups.append({'name': group, 'params': grouped[group], 'lr_multiplier': multiplier, 'lr': multiplier * cfg.base_lr})
    if not groups:
        raise ValueError('the model has no trainable parameters; check the stage-2 trainable list or requires_grad flags')
    return groups


def build_optimizer(model: nn.Module, cfg: OptimConfig) -> torch.optim.AdamW:
    """Build AdamW over `build_param_groups(model, cfg)` with the config's betas, eps and weight decay."""
    return torch.optim.AdamW(build_param_groups(model, cfg), lr=cfg.base_lr, betas=tuple(cfg.betas), eps=cfg.eps, weight_decay=cfg.weight_decay)


class WarmupCosineSchedule:
    """Linear warmup then cosine decay; `apply(optimizer, t)` sets each group's lr for iteration t.

    Iteration t (0-based) trains with lr = multiplier * schedule(t). The official solver instead
    steps its scheduler after the optimizer step, so there iteration t >= 1 uses schedule(t - 1);
    the two differ by one iteration of schedule.
    """

    def __init__(self, base_lr: float, peak_lr: float, warmup_steps: int, max_iter: int, min_lr: float = 0.0) -> None:
        if max_iter <= warmup_steps:
            raise ValueError(f'max_iter ({max_iter}) must exceed warmup_steps ({warmup_steps}) so the cosine phase has length')
        self.base_lr = base_lr
        self.peak_lr = peak_lr
        self.warmup_steps = warmup_steps
        self.max_iter = max_iter
        self.min_lr = min_lr

    @classmethod
    def from_config(cls, cfg: OptimConfig, max_iter: int) -> 'WarmupCosineSchedule':
        """Build the schedule of an OptimConfig for a run of `max_iter` iterations."""
        return cls(cfg.base_lr, cfg.peak_lr, cfg.warmup_steps, max_iter, cfg.min_lr)

    def value(self, step: int) -> float:
        """schedule(step), before the group multiplier."""
        if step < self.warmup_steps:
            return self.base_lr + step / self.warmup_steps * (self.peak_lr - self.base_lr)
        progress = min(step - self.warmup_steps, self.max_iter - self.warmup_steps) / (self.max_iter - self.warmup_steps)
        return self.min_lr + (self.peak_lr - self.min_lr) * (1 + math.cos(math.pi * progress)) / 2

    def apply(self, optimizer: torch.optim.Optimizer, step: int) -> float:
        """Set every group's lr to lr_multiplier * schedule(step); returns schedule(step)."""
        value = self.value(step)
        for group in optimizer.param_groups:
            group['lr'] = group.get('lr_multiplier', 1.0) * value
        return value

    def state_dict(self) -> dict:
        """Return the schedule's settings, stored in checkpoints so a resume can check them."""
        return {'base_lr': self.base_lr, 'peak_lr': self.peak_lr, 'warmup_steps': self.warmup_steps, 'max_iter': self.max_iter, 'min_lr': self.min_lr}
