"""Reading official Faceptor checkpoints with strict key and shape checks.

An official checkpoint (`checkpoint_rank0_iter_50000.pth.tar`) is a torch.save'd dict with `step`,
`state_dict` and `optimizer`. The state_dict comes from a DistributedDataParallel wrapper, so
every key starts with `module.`. It also contains the training-only CosFace classifier
(`losses_module.losses.recog_ms1mv3.classifier`), which inference ignores. The channel-LayerNorm
parameters appear under two names (`...mask_map.1.weight` and `...mask_map.1.ln.weight`), and
both must contain identical tensors.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

import torch
from torch import nn

DDP_PREFIX = 'module.'
TRAINING_ONLY_PREFIXES = ('losses_module.',)


class CheckpointError(ValueError):
    """A checkpoint file cannot be read or does not have the official layout."""


class CheckpointMismatchError(CheckpointError):
    """A checkpoint's keys or shapes do not match the model. The message lists every difference."""

    def __init__(
        self,
        missing: list[str],
        unexpected: list[str],
        shape_mismatches: list[tuple[str, tuple, tuple]],
        alias_conflicts: list[tuple[str, str]],
        source: str,
    ) -> None:
        self.missing = missing
        self.unexpected = unexpected
        self.shape_mismatches = shape_mismatches
        self.alias_conflicts = alias_conflicts
        lines = [f'checkpoint {source} does not match the model:']
        if missing:
            lines.append(f'  {len(missing)} missing key(s):')
            lines += [f'    {key}' for key in missing]
        if unexpected:
            lines.append(f'  {len(unexpected)} unexpected key(s):')
            lines += [f'    {key}' for key in unexpected]
        if shape_mismatches:
            lines.append(f'  {len(shape_mismatches)} shape mismatch(es) (checkpoint vs model):')
            lines += [f'    {key}: {list(got)} vs {list(want)}' for key, got, want in shape_mismatches]
        if alias_conflicts:
            lines.append(f'  {len(alias_conflicts)} aliased key pair(s) with different values (must be identical):')
            lines += [f'    {a} != {b}' for a, b in alias_conflicts]
        lines.append('  check that --config matches the checkpoint (base: 7 tasks, full: 13 tasks)')
        super().__init__('\n'.join(lines))


@dataclass
class LoadReport:
    """Summary of one `load_official_state` call."""

    loaded: int
    """Number of model state_dict entries filled."""
    ignored: list[str] = field(default_factory=list)
    """Training-only checkpoint keys that were skipped."""
    step: int | None = None
    """The checkpoint's `step`, when present."""


def read_checkpoint(path: str) -> dict:
    """torch.load an official checkpoint onto the CPU and check its top-level layout."""
    if not os.path.isfile(path):
        raise CheckpointError(f'checkpoint file not found: {path}')
    try:
        checkpoint = torch.load(path, map_location='cpu')
    except Exception as error:  # torch raises many types for a corrupt file
        raise CheckpointError(f'cannot read checkpoint {path}: {error}') from error
    if not isinstance(checkpoint, Mapping) or 'state_dict' not in checkpoint:
        found = list(checkpoint.keys()) if isinstance(checkpoint, Mapping) else type(checkpoint).__name__
        raise CheckpointError(f'checkpoint {path} is not an official Faceptor checkpoint: expected a dict with "state_dict", found {found}')
    return checkpoint


def strip_ddp_prefix(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove the `module.` prefix when every key has it; keys without any prefix pass unchanged."""
    keys = list(state_dict)
    if keys and all(key.startswith(DDP_PREFIX) for key in keys):
        return {key[len(DDP_PREFIX):]: value for key, value in state_dict.items()}
    return dict(state_dict)


def alias_pairs(model: nn.Module) -> list[tuple[str, str]]:
    """(first key, alias key) pairs of state_dict entries that share one tensor in `model`."""
    first_key_of: dict[int, str] = {}
    pairs = []
    for key, tensor in model.state_dict(keep_vars=True).items():
        owner = first_key_of.setdefault(id(tensor), key)
        if owner != key:
            pairs.append((owner, key))
    return pairs


def load_official_state(model: nn.Module, state_dict: Mapping[str, Any], source: str = '<state_dict>', step: int | None = None) -> LoadReport:
    """Load an official state_dict (with or without `module.`) into `model`, strictly.

    Training-only keys (`losses_module.*`) are skipped. Every other key must exist in the model
    with the same shape, and every model key must be present. Aliased key pairs must contain equal
    tensors. Otherwise CheckpointMismatchError lists every difference at once.
    """
    state = strip_ddp_prefix(state_dict)
    ignored = [key for key in state if key.startswith(TRAINING_ONLY_PREFIXES)]
    state = {key: value for key, value in state.items() if not key.startswith(TRAINING_ONLY_PREFIXES)}
    expected = model.state_dict()

    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    shape_mismatches = [
        (key, tuple(state[key].shape), tuple(expected[key].shape))
        for key in expected
        if key in state and tuple(state[key].shape) != tuple(expected[key].shape)
    ]
    alias_conflicts = [
        (first, alias)
        for first, alias in alias_pairs(model)
        if first in state and alias in state and tuple(state[first].shape) == tuple(state[alias].shape)
        and not torch.equal(state[first], state[alias])
    ]
    if missing or unexpected or shape_mismatches or alias_conflicts:
        raise CheckpointMismatchError(missing, unexpected, shape_mismatches, alias_conflicts, source)

    model.load_state_dict(state, strict=True)
    return LoadReport(loaded=len(expected), ignored=ignored, step=step)


def load_official_checkpoint(model: nn.Module, path: str) -> LoadReport:
    """Read `path` (an official `.pth.tar`) and load its state_dict into `model` strictly."""
    checkpoint = read_checkpoint(path)
    step = checkpoint.get('step')
    return load_official_state(model, checkpoint['state_dict'], source=path, step=int(step) if step is not None else None)


def to_official_checkpoint(state_dict: Mapping[str, torch.Tensor], extra: Mapping[str, torch.Tensor] | None = None, step: int = 0) -> dict:
    """Wrap a model state_dict in the official layout: {'step', 'state_dict' with `module.` keys}.

    `extra` adds unprefixed keys such as the training-only classifier.
    """
    merged = dict(state_dict)
    merged.update(extra or {})
    return {'step': step, 'state_dict': {DDP_PREFIX + key: value for key, value in merged.items()}}


def file_sha256(path: str) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()
