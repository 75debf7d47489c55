"""Optimizer parameter groups and the warmup + cosine schedule."""

from __future__ import annotations

import math

import pytest
import torch

from faceptor.config import TINY
from faceptor.train.losses import build_losses_module
from faceptor.train.multitask import FaceptorTrainingModel
from faceptor.train.optim import (
    OptimConfig,
    WarmupCosineSchedule,
    build_optimizer,
    build_param_groups,
    parameter_group_name,
)


@pytest.fixture(scope='module')
def tiny_training_model() -> FaceptorTrainingModel:
    torch.manual_seed(0)
    tasks = [task.name for task in TINY.tasks]
    return FaceptorTrainingModel(TINY, build_losses_module(TINY, tasks, num_identities=8), {task: 1.0 for task in tasks})


@pytest.mark.parametrize('step, expected', [
    (0, 1e-6),
    (1000, 1e-6 + 0.5 * (5e-5 - 1e-6)),   # halfway through the linear warmup: 2.55e-5
    (2000, 5e-5),                        # warmup done: the cosine starts at the peak
    (14000, 5e-5 * (1 + math.sqrt(0.5)) / 2),   # a quarter of the cosine: cos(pi / 4)
    (26000, 2.5e-5),                     # halfway: cos(pi / 2) = 0
    (50000, 0.0),                        # max_iter: cos(pi) = -1
])
def test_schedule_official_values(step: int, expected: float) -> None:
    schedule = WarmupCosineSchedule(base_lr=1e-6, peak_lr=5e-5, warmup_steps=2000, max_iter=50000)
    assert schedule.value(step) == pytest.approx(expected, rel=1e-9, abs=1e-15)


def test_schedule_min_lr_floor() -> None:
    schedule = WarmupCosineSchedule(base_lr=0.0, peak_lr=1.0, warmup_steps=0, max_iter=10, min_lr=0.2)
    assert schedule.value(0) == pytest.approx(1.0)
    assert schedule.value(5) == pytest.approx(0.6)
    assert schedule.value(10) == pytest.approx(0.2)
    assert schedule.value(12) == pytest.approx(0.2)


def test_schedule_rejects_short_run() -> None:
    with pytest.raises(ValueError, match=r'max_iter \(2000\) must exceed warmup_steps \(2000\)'):
        WarmupCosineSchedule(1e-6, 5e-5, 2000, 2000)


def test_schedule_applies_multipliers(tiny_training_model) -> None:
    optimizer = build_optimizer(tiny_training_model, OptimConfig())
    schedule = WarmupCosineSchedule.from_config(OptimConfig(), max_iter=50000)
    schedule.apply(optimizer, 2000)
    lrs = {group['name']: group['lr'] for group in optimizer.param_groups}
    assert lrs['backbone'] == pytest.approx(5e-5)
    for name in ('decoder', 'interpreters', 'losses'):
        assert lrs[name] == pytest.approx(5e-4), name


def test_param_groups_cover_every_parameter(tiny_training_model) -> None:
    groups = build_param_groups(tiny_training_model, OptimConfig())
    names = [group['name'] for group in groups]
    assert names == ['backbone', 'decoder', 'interpreters', 'losses']
    grouped = sum(p.numel() for group in groups for p in group['params'])
    assert grouped == sum(p.numel() for p in tiny_training_model.parameters())
    classifier = tiny_training_model.losses_module.losses['recog_ms1mv3'].classifier
    assert any(p is classifier for p in groups[3]['params'])


def test_optimizer_adamw_settings(tiny_training_model) -> None:
    optimizer = build_optimizer(tiny_training_model, OptimConfig())
    assert isinstance(optimizer, torch.optim.AdamW)
    for group in optimizer.param_groups:
        assert group['weight_decay'] == 0.05
        assert group['betas'] == (0.9, 0.999)
        assert group['eps'] == 1e-8
        assert group['lr'] == pytest.approx(group['lr_multiplier'] * 1e-6)


def test_param_groups_skip_frozen(tiny_training_model) -> None:
    for parameter in tiny_training_model.backbone_module.parameters():
        parameter.requires_grad = False
    try:
        names = [group['name'] for group in build_param_groups(tiny_training_model, OptimConfig())]
    finally:
        for parameter in tiny_training_model.backbone_module.parameters():
            parameter.requires_grad = True
    assert 'backbone' not in names


@pytest.mark.parametrize('name, group', [
    ('module.backbone_module.visual.conv1.weight', 'backbone'),
    ('heads_module.decoder.query_feat.age_morph2.weight', 'decoder'),
    ('heads_module.interpreters.value.fc.weight', 'interpreters'),
    ('losses_module.losses.recog_ms1mv3.classifier', 'losses'),
])
def test_parameter_group_names(name: str, group: str) -> None:
    assert parameter_group_name(name) == group


def test_parameter_group_rejects_stray_name() -> None:
    with pytest.raises(ValueError, match="parameter 'extra.weight' is outside"):
        parameter_group_name('extra.weight')


def test_optim_config_rejects_unknown_group() -> None:
    with pytest.raises(ValueError, match=r"unknown group\(s\) \['neck'\]"):
        OptimConfig(multipliers={'backbone': 1, 'decoder': 10, 'interpreters': 10, 'heads': 10, 'losses': 10, 'neck': 1})


def test_optim_config_rejects_negative_lr() -> None:
    with pytest.raises(ValueError, match='optim.peak_lr must be >= 0'):
        OptimConfig(peak_lr=-1.0)
