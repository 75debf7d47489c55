"""Assemble a training run from a TrainConfig: model, weights, loaders, optimizer, schedule, trainer.

`build_training(cfg, ctx, resume)` returns a `TrainingSession`; `session.run()` trains to max_iter.
The pieces are separate functions so a script (a distillation run, a test) can replace one of them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import torch
from torch import nn
from torch.utils.data import DataLoader

from ..config import ConfigError, FaceptorConfig, get_config
from ..data.sampling import multitask_steps
from .checkpointing import find_resume_checkpoint, load_initial_weights, resume_from
from .config import TrainConfig
from .data_pipeline import TaskSampleDataset, TaskTransform, build_reader, build_task_loader
from .ddp import DistributedContext, wrap_model
from .losses import build_losses_module, task_loss_weights
from .multitask import FaceptorTrainingModel
from .optim import build_optimizer, WarmupCosineSchedule
from .pretrained import load_farl_visual
from .stage2 import NEW_MODULE_NAMES, apply_stage2_trainable, enable_add_level
from .trainer import Trainer, TrainerSettings

LOGGER = logging.getLogger('faceptor.train')


def build_training_model(cfg: TrainConfig) -> FaceptorTrainingModel:
    """Build the training model of `cfg` on the CPU and load its initial weights.

    Order: random init; the FaRL encoder (pretrained_backbone); for stage 2 the AddLevel decoder,
    the stage-1 weights and the trainable list; otherwise init_checkpoint when set.
    """
    torch.manual_seed(cfg.seed)  # the same random init on every rank and in every rerun
    model_cfg = get_config(cfg.model)
    tasks = [task.name for task in cfg.tasks]
    losses = build_losses_module(model_cfg, tasks, num_identities=cfg.num_identities, heatmap_radius=cfg.heatmap_radius)
    alphas = task_loss_weights({task.name: task.raw_loss_weight for task in cfg.tasks}, cfg.task_weights)
    model = FaceptorTrainingModel(model_cfg, losses, alphas)
    LOGGER.info('loss weights alpha_t: %s (sum %.4g)', alphas, sum(alphas.values()))

    if cfg.pretrained_backbone:
        report = load_farl_visual(model, cfg.pretrained_backbone)
        LOGGER.info('encoder initialized from %s (%d FaRL visual keys unused)', cfg.pretrained_backbone, len(report['unused']))

    if cfg.stage2 is not None:
        enable_add_level(model, cfg.stage2.new_levels)
        report = load_initial_weights(model, cfg.stage2.init_checkpoint, NEW_MODULE_NAMES)
        LOGGER.info('stage 2: weights from %s; new modules at init: %s', cfg.stage2.init_checkpoint, report['kept_init'])
        trainable = apply_stage2_trainable(model, cfg.stage2.task, official=cfg.stage2.official_params)
        LOGGER.info('stage 2 trainable parameters (%s list): %s', 'official' if cfg.stage2.official_params else 'fixed', trainable)
    elif cfg.init_checkpoint:
        report = load_initial_weights(model, cfg.init_checkpoint)
        LOGGER.info('weights from %s; kept at init: %s; skipped: %s', cfg.init_checkpoint, report['kept_init'], report['skipped'])
    return model


def build_task_datasets(cfg: TrainConfig, model_cfg: FaceptorConfig, train: bool = True) -> dict[str, TaskSampleDataset]:
    """Open every task's reader and pair it with its transform."""
    datasets = {}
    for task in cfg.tasks:
        reader = build_reader(task.name, cfg.resolve_root(task), task.split, task.reader_options)
        if len(reader) == 0:
            raise ConfigError(f'task {task.name}: the {task.split!r} split of {cfg.resolve_root(task)} has no samples')
        identities = getattr(reader, 'num_identities', None)
        if identities is not None and identities > cfg.num_identities:
            raise ConfigError(f'{task.name}: the dataset has {identities} identities but num_identities is {cfg.num_identities}; raise num_identities')
        datasets[task.name] = TaskSampleDataset(reader, TaskTransform(task.name, model_cfg, train=train, dense_hflip=cfg.dense_hflip))
        LOGGER.info('task %s: %d samples from %s (%s), batch %d per process', task.name, len(reader), cfg.resolve_root(task), task.split, task.batch_size)
    return datasets


def build_loaders(cfg: TrainConfig, datasets: Mapping[str, TaskSampleDataset], ctx: DistributedContext, start_step: int = 0) -> dict[str, DataLoader]:
    """Build one loader per task, each yielding batches for iterations start_step..max_iter-1 of this rank."""
    return {
        task.name: build_task_loader(
            datasets[task.name], task.name, task.batch_size, cfg.max_iter, ctx.world_size, ctx.rank, cfg.seed,
            start_step, cfg.num_workers, pin_memory=ctx.device.type == 'cuda',
        )
        for task in cfg.tasks
    }


def trainer_settings(cfg: TrainConfig, evaluate_interval: int = 0) -> TrainerSettings:
    """TrainerSettings from the run config."""
    return TrainerSettings(
        max_iter=cfg.max_iter, seed=cfg.seed, clip_grad_norm=cfg.optim.clip_grad_norm, precision=cfg.precision,
        print_interval=cfg.print_interval, save_interval=cfg.save_interval, newest_interval=cfg.newest_interval,
        evaluate_interval=evaluate_interval,
    )


@dataclass
class TrainingSession:
    """Everything a run needs; `run()` trains from start_step to max_iter."""

    cfg: TrainConfig
    ctx: DistributedContext
    model: FaceptorTrainingModel
    """The unwrapped training model (official key names without `module.`)."""
    wrapped: nn.Module
    """`model` inside DDP when the world has several processes, else `model` itself."""
    trainer: Trainer
    loaders: dict[str, DataLoader]
    start_step: int

    def run(self, on_step=None):
        """Train until max_iter; returns the last StepRecord (None when nothing was left to do).

        `on_step(record)` is called after every iteration (see Trainer.run).
        """
        return self.trainer.run(multitask_steps(self.loaders), self.start_step, on_step)


def build_training(
    cfg: TrainConfig, ctx: DistributedContext, resume: str | None = 'auto',
    evaluate: Callable[[nn.Module, int], Mapping[str, float]] | None = None, evaluate_interval: int | None = None,
) -> TrainingSession:
    """Build a run; `resume` is 'auto' (the latest checkpoint in output_dir, if any), a path, or None.

    Without an `evaluate` hook, rank 0 evaluates the test splits every cfg.evaluate_interval
    iterations when that is positive (faceptor.train.evaluate.build_evaluation_hook).
    """
    model_cfg = get_config(cfg.model)
    evaluate_interval = cfg.evaluate_interval if evaluate_interval is None else evaluate_interval
    if evaluate is None and evaluate_interval > 0 and ctx.is_main:
        from .evaluate import build_evaluation_hook
        evaluate = build_evaluation_hook(cfg, ctx.device)
    output = Path(cfg.output_dir)
    model = build_training_model(cfg).to(ctx.device)
    optimizer = build_optimizer(model, cfg.optim)
    schedule = WarmupCosineSchedule.from_config(cfg.optim, cfg.max_iter)
    trainer = Trainer(
        model, optimizer, schedule, ctx, trainer_settings(cfg, evaluate_interval), checkpoint_dir=output / 'checkpoints',
        log_path=output / 'logs' / 'train_log.jsonl', checkpoint_extra={'config': cfg.to_dict()}, evaluate=evaluate,
    )

    start_step = 0
    path = find_resume_checkpoint(output / 'checkpoints') if resume == 'auto' else resume
    if path is not None:
        checkpoint = resume_from(path, model, optimizer, trainer.scaler)
        check_resume_compatible(checkpoint, cfg, ctx, str(path))
        start_step = int(checkpoint['step'])
        LOGGER.info('resumed from %s at iteration %d', path, start_step)

    wrapped = wrap_model(model, ctx, fp16_gradients=cfg.precision == 'official-fp16')
    trainer.model = wrapped
    loaders = build_loaders(cfg, build_task_datasets(cfg, model_cfg), ctx, start_step)
    return TrainingSession(cfg, ctx, model, wrapped, trainer, loaders, start_step)


def check_resume_compatible(checkpoint: dict, cfg: TrainConfig, ctx: DistributedContext, source: str) -> None:
    """Raise ConfigError when the sample order of the run that wrote `checkpoint` differs from this one's.

    The order depends on max_iter, the seed, the world size and the batch sizes.
    """
    saved = checkpoint.get('config') or {}
    problems = []
    if checkpoint.get('world_size', ctx.world_size) != ctx.world_size:
        problems.append(f'world size {checkpoint.get("world_size")} vs {ctx.world_size}')
    for key in ('max_iter', 'seed'):
        if key in saved and saved[key] != getattr(cfg, key):
            problems.append(f'{key} {saved[key]} vs {getattr(cfg, key)}')
    saved_batches = {task['name']: task['batch_size'] for task in saved.get('tasks', [])}
    current = {task.name: task.batch_size for task in cfg.tasks}
    if saved_batches and saved_batches != current:
        problems.append(f'task batch sizes {saved_batches} vs {current}')
    if problems:
        raise ConfigError(f'cannot resume from {source}: the run differs in {"; ".join(problems)} (checkpoint vs now); resume with the original settings')
