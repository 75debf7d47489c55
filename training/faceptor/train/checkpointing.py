"""Training checkpoints in the official layout, and resuming from them.

A checkpoint is a torch.save'd dict with the official keys:
- 'step': completed iterations N (a resume continues with iteration N),
- 'state_dict': the training model's state_dict with every key prefixed `module.`, including the
  training-only CosFace classifier `module.losses_module.losses.recog_ms1mv3.classifier`,
- 'optimizer': the AdamW state_dict,
plus keys the official loader ignores: 'schedule' (the LR schedule settings), 'scaler' (GradScaler
state or None), 'world_size', and 'config' (the TrainConfig as a dict).

Files (rank 0 writes them): `checkpoint_rank0_iter_<N>.pth.tar` every save_interval and at the
end, and `checkpoint_rank0_iter_newest.pth.tar`, overwritten every newest_interval. Every file is
written to a temporary name first and renamed, so a crash never leaves a truncated checkpoint.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..checkpoint import DDP_PREFIX, CheckpointError, read_checkpoint, strip_ddp_prefix

NEWEST_NAME = 'checkpoint_rank0_iter_newest.pth.tar'
_ITER_PATTERN = re.compile(r'^checkpoint_rank0_iter_(\d+)\.pth\.tar$')


def checkpoint_name(step: int) -> str:
    """File name of the kept checkpoint after `step` iterations."""
    return f'checkpoint_rank0_iter_{step}.pth.tar'


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel wrapper, or `model` itself."""
    return model.module if hasattr(model, 'module') and isinstance(model, nn.parallel.DistributedDataParallel) else model


def official_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Return the training model's state_dict with `module.` on every key, whether or not it is DDP-wrapped."""
    return {DDP_PREFIX + key: value for key, value in unwrap(model).state_dict().items()}


def build_checkpoint(model: nn.Module, optimizer: torch.optim.Optimizer, step: int, **extra: Any) -> dict:
    """Build the checkpoint dict of the official layout plus `extra` keys."""
    return {'step': step, 'state_dict': official_state_dict(model), 'optimizer': optimizer.state_dict(), **extra}


def write_checkpoint(checkpoint: dict, path: str | Path) -> Path:
    """torch.save `checkpoint` to `path` through a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + '.tmp')
    torch.save(checkpoint, temporary)
    os.replace(temporary, path)
    return path


def find_resume_checkpoint(directory: str | Path) -> Path | None:
    """Find the checkpoint with the highest 'step' in `directory` (kept or newest); None if there is none."""
    directory = Path(directory)
    if not directory.is_dir():
        return None
    candidates: list[tuple[int, Path]] = []
    for path in directory.iterdir():
        match = _ITER_PATTERN.match(path.name)
        if match:
            candidates.append((int(match.group(1)), path))
    newest = directory / NEWEST_NAME
    if newest.is_file():
        step = read_checkpoint(str(newest)).get('step')
        if isinstance(step, int):
            candidates.append((step, newest))
    if not candidates:
        return None
    return max(candidates, key=lambda item: (item[0], item[1].name != NEWEST_NAME))[1]


def load_model_state(model: nn.Module, state_dict: dict, source: str) -> None:
    """Load a (possibly `module.`-prefixed) training state_dict strictly, listing every mismatch."""
    state = strip_ddp_prefix(state_dict)
    target = unwrap(model)
    expected = target.state_dict()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    shapes = [f'{key}: {tuple(state[key].shape)} vs {tuple(expected[key].shape)}' for key in expected if key in state and state[key].shape != expected[key].shape]
    if missing or unexpected or shapes:
        lines = [f'checkpoint {source} does not match the training model:']
        lines += [f'  missing: {key}' for key in missing] + [f'  unexpected: {key}' for key in unexpected] + [f'  shape (checkpoint vs model) {line}' for line in shapes]
        lines.append('  a resume needs the same config (model, tasks, num_identities, stage2) as the run that wrote it')
        raise CheckpointError('\n'.join(lines))
    target.load_state_dict(state, strict=True)


def resume_from(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer, scaler: Any | None = None) -> dict:
    """Restore model, optimizer and GradScaler state from a training checkpoint; returns the checkpoint dict.

    The caller restarts the sampler and schedule at checkpoint['step'].
    """
    checkpoint = read_checkpoint(str(path))
    for key in ('step', 'optimizer'):
        if key not in checkpoint:
            raise CheckpointError(f'checkpoint {path} has no {key!r}; it cannot resume a run (use init_checkpoint to load weights only)')
    load_model_state(model, checkpoint['state_dict'], str(path))
    try:
        optimizer.load_state_dict(checkpoint['optimizer'])
    except ValueError as error:
        raise CheckpointError(f'checkpoint {path}: optimizer state does not match the parameter groups of this run: {error}') from error
    if scaler is not None and checkpoint.get('scaler') is not None:
        scaler.load_state_dict(checkpoint['scaler'])
    return checkpoint


def load_initial_weights(model: nn.Module, path: str | Path, new_module_names: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """Initialize `model` from the weights of an official-layout checkpoint (no optimizer, step 0).

    Every model key must be in the checkpoint with the same shape, except keys containing one of
    `new_module_names` (modules the run adds, such as stage 2's new_input_proj) and the
    training-only `losses_module.*` keys, which keep their fresh init when absent. Checkpoint keys
    under `losses_module.` that the model lacks (the CosFace classifier when recognition is not
    trained) are skipped; any other unknown key is an error.
    Returns {'kept_init': [...], 'skipped': [...]} for the log.
    """
    checkpoint = read_checkpoint(str(path))
    state = strip_ddp_prefix(checkpoint['state_dict'])
    target = unwrap(model)
    expected = target.state_dict()

    kept_init = [key for key in expected if key not in state and (key.startswith('losses_module.') or any(name in key for name in new_module_names))]
    missing = [key for key in expected if key not in state and key not in kept_init]
    skipped = [key for key in state if key not in expected and key.startswith('losses_module.')]
    unexpected = [key for key in state if key not in expected and key not in skipped]
    shapes = [f'{key}: {tuple(state[key].shape)} vs {tuple(expected[key].shape)}' for key in expected if key in state and state[key].shape != expected[key].shape]
    if missing or unexpected or shapes:
        lines = [f'checkpoint {path} cannot initialize this model:']
        lines += [f'  missing: {key}' for key in missing] + [f'  unexpected: {key}' for key in unexpected] + [f'  shape (checkpoint vs model) {line}' for line in shapes]
        lines.append('  check that the config\'s model (base: 7 tasks, full: 13 tasks) matches the checkpoint')
        raise CheckpointError('\n'.join(lines))

    merged = dict(expected)
    merged.update({key: value for key, value in state.items() if key in expected})
    target.load_state_dict(merged, strict=True)
    return {'kept_init': kept_init, 'skipped': skipped}
