"""The multi-task training loop: one optimizer step per iteration over a batch from every task.

Each iteration t (0-based):
1. reseeds torch's RNG from (seed, rank, t), so the model's random ops (stochastic depth) are the
   same in a resumed run as in an uninterrupted one;
2. sets every group's lr to multiplier * schedule(t);
3. runs the training model (one encoder pass per input size, every head, every loss);
4. stops on a non-finite total loss on any rank, after logging every task's loss parts;
5. back-propagates (through a GradScaler for the fp16 precisions), clips the global gradient norm
   and steps AdamW;
6. on rank 0, logs every print_interval iterations and writes checkpoints.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import torch
from torch import nn

from ..config import ConfigError
from .checkpointing import NEWEST_NAME, build_checkpoint, checkpoint_name, unwrap, write_checkpoint
from .ddp import DistributedContext, all_ranks_true
from .multitask import StepLosses
from .optim import WarmupCosineSchedule

LOGGER = logging.getLogger('faceptor.train')


class NonFiniteLossError(RuntimeError):
    """A step produced a NaN or infinite loss; `tasks` names the tasks whose loss is not finite."""

    def __init__(self, step: int, tasks: list[str], table: str) -> None:
        self.step = step
        self.tasks = tasks
        where = f'in task(s) {", ".join(tasks)}' if tasks else 'on another rank'
        super().__init__(
            f'non-finite loss at iteration {step} {where}; task losses on this rank:\n{table}\n'
            'check that task\'s labels and learning rate, or resume from the last checkpoint with a lower peak_lr'
        )


@dataclass
class TrainerSettings:
    """Loop settings taken from the TrainConfig."""

    max_iter: int
    seed: int = 2048
    clip_grad_norm: float = 5.0
    precision: str = 'fp32'
    print_interval: int = 10
    save_interval: int = 5000
    newest_interval: int = 1000
    evaluate_interval: int = 0
    """Call the `evaluate` hook every this many iterations on rank 0; 0 never calls it."""


@dataclass
class StepRecord:
    """Result of one iteration, for logs and tests."""

    step: int
    lr: float
    """schedule(step), before the group multipliers."""
    total: float
    grad_norm: float
    tasks: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per task: 'total' and its named parts."""


def step_seed(seed: int, rank: int, step: int) -> int:
    """Seed of torch's RNG for iteration `step` on `rank`, well mixed by numpy's SeedSequence."""
    return int(np.random.SeedSequence([seed, rank, step]).generate_state(1, np.uint32)[0])


def move_to_device(batches: Mapping[str, Mapping[str, torch.Tensor]], device: torch.device) -> dict[str, dict[str, torch.Tensor]]:
    """Copy {task: {'image', 'label'}} tensors to `device` (non-blocking from pinned memory)."""
    return {task: {key: value.to(device, non_blocking=True) for key, value in batch.items()} for task, batch in batches.items()}


def format_task_losses(losses: StepLosses) -> str:
    """Format one line per task with its total and named parts."""
    lines = []
    for task, terms in losses.tasks.items():
        parts = ', '.join(f'{name} {value.item():.6g}' for name, value in terms.parts.items())
        lines.append(f'  {task}: {terms.total.item():.6g} ({parts})')
    return '\n'.join(lines)


class Trainer:
    """Runs iterations of a FaceptorTrainingModel (optionally DDP-wrapped) with AdamW and the schedule.

    `checkpoint_dir` receives the rank-0 checkpoints. `checkpoint_extra` is merged into every
    checkpoint (the run config, for instance). `evaluate(model, step)` is an optional hook that runs
    on rank 0 with the model in eval mode; it returns metrics to log.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        schedule: WarmupCosineSchedule,
        ctx: DistributedContext,
        settings: TrainerSettings,
        checkpoint_dir: str | Path | None = None,
        log_path: str | Path | None = None,
        checkpoint_extra: Mapping[str, Any] | None = None,
        evaluate: Callable[[nn.Module, int], Mapping[str, float]] | None = None,
    ) -> None:
        self.model = model
        self.optimizer = optimizer
        self.schedule = schedule
        self.ctx = ctx
        self.settings = settings
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self.log_path = Path(log_path) if log_path is not None else None
        self.checkpoint_extra = dict(checkpoint_extra or {})
        self.evaluate = evaluate

        uses_scaler = settings.precision in ('official-fp16', 'amp-fp16')
        if settings.precision != 'fp32' and ctx.device.type != 'cuda':
            raise ConfigError(f'precision {settings.precision!r} needs CUDA; set precision: fp32 to train on {ctx.device}')
        self.scaler = torch.cuda.amp.GradScaler(growth_interval=100) if uses_scaler else None
        self.parameters = [p for p in unwrap(model).parameters() if p.requires_grad]

    def _autocast(self):
        if self.settings.precision == 'amp-fp16':
            return torch.autocast('cuda', dtype=torch.float16)
        if self.settings.precision == 'amp-bf16':
            return torch.autocast('cuda', dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def train_step(self, batches: Mapping[str, Mapping[str, torch.Tensor]], step: int) -> StepRecord:
        """Run iteration `step` on one batch per task; returns its losses, lr and gradient norm."""
        torch.manual_seed(step_seed(self.settings.seed, self.ctx.rank, step))
        lr = self.schedule.apply(self.optimizer, step)
        self.model.train()

        with self._autocast():
            losses: StepLosses = self.model(move_to_device(batches, self.ctx.device))
        finite = bool(torch.isfinite(losses.total).item())
        if not all_ranks_true(finite, self.ctx):
            bad = [task for task, terms in losses.tasks.items() if not torch.isfinite(terms.total).item()]
            table = format_task_losses(losses)
            LOGGER.error('non-finite loss at iteration %d on rank %d:\n%s', step, self.ctx.rank, table)
            raise NonFiniteLossError(step, bad, table)

        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(losses.total).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            losses.total.backward()
        grad_norm = self._clip_gradients()
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()

        return StepRecord(
            step=step, lr=lr, total=losses.total.item(), grad_norm=grad_norm,
            tasks={task: {'total': terms.total.item(), **{name: value.item() for name, value in terms.parts.items()}} for task, terms in losses.tasks.items()},
        )

    def _clip_gradients(self) -> float:
        with_grad = [p for p in self.parameters if p.grad is not None]
        if not with_grad:
            return 0.0
        max_norm = self.settings.clip_grad_norm if self.settings.clip_grad_norm > 0 else math.inf
        return float(torch.nn.utils.clip_grad_norm_(with_grad, max_norm))

    def run(
        self, steps: Iterable[Mapping[str, Mapping[str, torch.Tensor]]], start_step: int = 0, on_step: Callable[[StepRecord], None] | None = None,
    ) -> StepRecord | None:
        """Train on `steps` (one {task: batch} dict per iteration) from iteration `start_step` to max_iter.

        `on_step` receives every StepRecord on every rank, after logging and checkpointing.
        """
        record = None
        if self.ctx.is_main:
            LOGGER.info('training iterations %d..%d on %d process(es)', start_step, self.settings.max_iter - 1, self.ctx.world_size)
        for offset, batches in enumerate(steps):
            step = start_step + offset
            if step >= self.settings.max_iter:
                break
            record = self.train_step(batches, step)
            completed = step + 1
            if self.ctx.is_main:
                self._log(record, completed)
                self._checkpoint(completed)
                self._evaluate(completed)
            if on_step is not None:
                on_step(record)
        return record

    def _log(self, record: StepRecord, completed: int) -> None:
        if completed % self.settings.print_interval != 0 and completed != 1 and completed != self.settings.max_iter:
            return
        tasks = ' | '.join(f'{task} {values["total"]:.4f}' for task, values in record.tasks.items())
        LOGGER.info('iter %d/%d lr %.3e loss %.4f grad_norm %.3f | %s', completed, self.settings.max_iter, record.lr, record.total, record.grad_norm, tasks)
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.log_path, 'a', encoding='utf-8') as handle:
                handle.write(json.dumps({'iter': completed, 'lr': record.lr, 'loss': record.total, 'grad_norm': record.grad_norm, 'tasks': record.tasks}) + '\n')

    def checkpoint(self, completed: int) -> dict:
        """Build the checkpoint dict after `completed` iterations."""
        return build_checkpoint(
            self.model, self.optimizer, completed, schedule=self.schedule.state_dict(),
            scaler=self.scaler.state_dict() if self.scaler is not None else None, world_size=self.ctx.world_size, **self.checkpoint_extra,
        )

    def _checkpoint(self, completed: int) -> None:
        if self.checkpoint_dir is None:
            return
        keep = completed % self.settings.save_interval == 0 or completed == self.settings.max_iter
        newest = completed % self.settings.newest_interval == 0
        if not (keep or newest):
            return
        checkpoint = self.checkpoint(completed)
        if newest:
            write_checkpoint(checkpoint, self.checkpoint_dir / NEWEST_NAME)
        if keep:
            path = write_checkpoint(checkpoint, self.checkpoint_dir / checkpoint_name(completed))
            LOGGER.info('wrote checkpoint %s', path)

    def _evaluate(self, completed: int) -> None:
        interval = self.settings.evaluate_interval
        if self.evaluate is None or interval <= 0 or (completed % interval != 0 and completed != self.settings.max_iter):
            return
        module = unwrap(self.model)
        module.eval()
        with torch.no_grad():
            metrics = self.evaluate(module, completed)
        module.train()
        LOGGER.info('evaluation at iter %d: %s', completed, json.dumps(dict(metrics)))
        if self.log_path is not None:
            with open(self.log_path, 'a', encoding='utf-8') as handle:
                handle.write(json.dumps({'iter': completed, 'evaluation': dict(metrics)}) + '\n')
