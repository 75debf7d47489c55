"""Multi-task sampling as in the official training: one batch from every task at each step.

Each task has its own sampler, which fixes the `max_iter * batch_size` sample indices of a rank
before training starts. The dataset indices are tiled to `max_iter * batch_size * world_size`
entries and shuffled once with a seed that all ranks share (2048 by default). Each rank then takes
its own consecutive slice of the shuffled entries. Task batch sizes are
fixed, not proportional to dataset sizes.

At each step the images of tasks with the same input size are concatenated, so the shared encoder
runs once per size: at 112 px for recog, age, biattr and affect, at 512 px for parsing and align.
The encoder output is then sliced back per task.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import Sampler

from ..config import TASK_TYPE_KINDS

DEFAULT_SEED = 2048


def given_iteration_indices(
    dataset_size: int,
    max_iter: int,
    batch_size: int,
    world_size: int = 1,
    rank: int = 0,
    seed: int = DEFAULT_SEED,
    last_iter: int = -1,
) -> np.ndarray:
    """Sample indices of one rank for iterations last_iter + 1 .. max_iter - 1, as an int64 array.

    All ranks tile arange(dataset_size) to max_iter * batch_size * world_size entries and shuffle
    them with numpy's legacy generator seeded with `seed` (the same stream as `np.random.seed`).
    Rank r keeps entries [r * T, (r + 1) * T) with T = max_iter * batch_size, then drops the
    (last_iter + 1) * batch_size entries already consumed before a resume.
    """
    if dataset_size <= 0:
        raise ValueError(f'dataset_size must be positive, got {dataset_size}')
    if max_iter <= 0 or batch_size <= 0 or world_size <= 0:
        raise ValueError(
            f'max_iter, batch_size and world_size must be positive, got {max_iter}, {batch_size}, {world_size}'
        )
    if not 0 <= rank < world_size:
        raise ValueError(f'rank must be in 0..{world_size - 1}, got {rank}')
    if not -1 <= last_iter < max_iter:
        raise ValueError(f'last_iter must be in -1..{max_iter - 1}, got {last_iter}')

    per_rank = max_iter * batch_size
    total = per_rank * world_size
    repeats = (total - 1) // dataset_size + 1
    indices = np.tile(np.arange(dataset_size, dtype=np.int64), repeats)[:total]
    np.random.RandomState(seed).shuffle(indices)
    mine = indices[rank * per_rank:(rank + 1) * per_rank]
    return mine[(last_iter + 1) * batch_size:]


class GivenIterationSampler(Sampler):
    """A torch Sampler over the indices of `given_iteration_indices`, for a DataLoader with the same batch_size."""

    def __init__(
        self,
        dataset_size: int,
        max_iter: int,
        batch_size: int,
        world_size: int = 1,
        rank: int = 0,
        seed: int = DEFAULT_SEED,
        last_iter: int = -1,
    ) -> None:
        self.indices = given_iteration_indices(dataset_size, max_iter, batch_size, world_size, rank, seed, last_iter)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices.tolist())

    def __len__(self) -> int:
        return len(self.indices)


def multitask_steps(loaders: Mapping[str, Iterable]) -> Iterator[dict[str, object]]:
    """Yield {task: batch} with one batch from every loader per step, until any loader ends."""
    iterators = {task: iter(loader) for task, loader in loaders.items()}
    while True:
        step = {}
        for task, iterator in iterators.items():
            try:
                step[task] = next(iterator)
            except StopIteration:
                return
        yield step


def task_input_size(task: str, face_size: int = 112, dense_size: int = 512) -> int:
    """Encoder input side of a task key: `face_size` for recog/age/biattr/affect, `dense_size` for parsing/align."""
    task_type = task.split('_', 1)[0]
    if task_type not in TASK_TYPE_KINDS:
        raise ValueError(f'unknown task type {task_type!r} in {task!r}; valid types: {", ".join(TASK_TYPE_KINDS)}')
    return dense_size if TASK_TYPE_KINDS[task_type] == 'map' else face_size


@dataclass(frozen=True)
class SizeGroup:
    """Tasks that share one encoder pass because their images have the same side."""

    size: int
    tasks: tuple[str, ...]


def group_tasks_by_size(task_sizes: Mapping[str, int]) -> list[SizeGroup]:
    """Group tasks by input side. Groups, and the tasks in each, keep the order of `task_sizes`."""
    groups: dict[int, list[str]] = {}
    for task, size in task_sizes.items():
        groups.setdefault(size, []).append(task)
    return [SizeGroup(size, tuple(tasks)) for size, tasks in groups.items()]


Features = torch.Tensor | Sequence[torch.Tensor]


def _slice_features(features: Features, start: int, stop: int) -> Features:
    if isinstance(features, torch.Tensor):
        return features[start:stop]
    return type(features)(f[start:stop] for f in features)


def encode_by_size_group(
    encode: Callable[[torch.Tensor], Features], images: Mapping[str, torch.Tensor]
) -> dict[str, Features]:
    """Run `encode` once per input size on the concatenated task batches and slice the output back.

    `images` maps each task to a (B_t, 3, R, R) batch. `encode` returns a (B, ...) tensor or a
    list/tuple of them (the encoder's per-layer outputs). Returns {task: features of its B_t rows},
    in the order of `images`.
    """
    sizes = {}
    for task, batch in images.items():
        if batch.dim() != 4 or batch.shape[-1] != batch.shape[-2]:
            raise ValueError(f'images[{task!r}] must be a (B, C, R, R) batch, got shape {tuple(batch.shape)}')
        sizes[task] = batch.shape[-1]

    outputs: dict[str, Features] = {}
    for group in group_tasks_by_size(sizes):
        batches = [images[task] for task in group.tasks]
        features = encode(torch.cat(batches, dim=0))
        start = 0
        for task, batch in zip(group.tasks, batches):
            outputs[task] = _slice_features(features, start, start + batch.shape[0])
            start += batch.shape[0]
    return {task: outputs[task] for task in images}
