"""From dataset folders to per-task batches: readers, task transforms, seeded samplers and loaders.

Sample order follows the official sampler (`faceptor.data.sampling.given_iteration_indices`): the
indices of every iteration are fixed before training, so a resume at iteration N continues with
exactly the batches an uninterrupted run would draw. Each sample's augmentation draws from its own
numpy Generator seeded with (seed, task, rank, position in the rank's stream), so the augmented
batches are also the same after a resume, whatever the number of loader workers.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ..config import FaceptorConfig
from ..data import (
    AFLW19Dataset, AffectNetDataset, CelebADataset, CelebAMaskHQDataset, COFWDataset, FERPlusDataset, IBUG300WDataset,
    LaPaDataset, MORPH2Dataset, MS1MV3Dataset, RAFDBDataset, UTKFaceDataset, WFLWDataset,
)
from ..data.sampling import given_iteration_indices, task_input_size
from .augment import AttributeTrainTransform, FaceEvalTransform, RecognitionTrainTransform
from .dense_augment import build_dense_transform

# Task key -> reader class. Each reader takes (root, split, **reader_options) except MS1MV3.
READERS: dict[str, type] = {
    'recog_ms1mv3': MS1MV3Dataset,
    'age_morph2': MORPH2Dataset,
    'age_utkface': UTKFaceDataset,
    'biattr_celeba': CelebADataset,
    'affect_affectnet': AffectNetDataset,
    'affect_rafdb': RAFDBDataset,
    'affect_ferplus': FERPlusDataset,
    'parsing_celebam': CelebAMaskHQDataset,
    'parsing_lapa': LaPaDataset,
    'align_300w': IBUG300WDataset,
    'align_wflw': WFLWDataset,
    'align_cofw': COFWDataset,
    'align_aflw': AFLW19Dataset,
}

# Task type -> the reader sample field that contains the label (dense tasks get theirs from the warp).
LABEL_FIELDS = {'recog': 'identity', 'age': 'age', 'affect': 'expression', 'biattr': 'attributes'}


def build_reader(task: str, root: str | Path, split: str = 'train', reader_options: dict | None = None) -> Dataset:
    """Open the dataset reader of `task` on `root`.

    For CelebA, reader_options {'label_pickle': 'label.pkl'} reads the official pickle instead of the
    published text files; every other option goes to the reader's constructor.
    """
    if task not in READERS:
        raise ValueError(f'no dataset reader for task {task!r}; readers exist for {", ".join(READERS)}')
    options = dict(reader_options or {})
    if task == 'recog_ms1mv3':
        if split != 'train':
            raise ValueError(f"MS1MV3 has only a training set; set split: train for recog_ms1mv3, got {split!r}")
        return MS1MV3Dataset(root, **options)
    if task == 'biattr_celeba' and 'label_pickle' in options:
        label_file = options.pop('label_pickle')
        return CelebADataset.from_pickle(root, split, label_file=label_file, **options)
    return READERS[task](root, split, **options)


class TaskTransform:
    """Reader sample -> {'image': (3, S, S) float32, 'label': tensor} for one task.

    Labels: recog (,) int64 identity; age (,) float32 years; affect (,) int64 class; biattr (40,)
    int64 in {0, 1, -1}; parsing (S, S) int64 class map; align (P, 2) float32 crop pixels.
    """

    def __init__(self, task: str, model_cfg: FaceptorConfig, train: bool = True, dense_hflip: bool = False) -> None:
        self.task = task
        self.type = task.split('_', 1)[0]
        self.size = task_input_size(task, model_cfg.face_input_size, model_cfg.dense_input_size)
        if self.type in ('parsing', 'align'):
            self.dense = build_dense_transform(task, self.size, train=train, hflip=dense_hflip)
            self.face = None
        else:
            self.dense = None
            if not train:
                self.face = FaceEvalTransform(self.size)
            elif self.type == 'recog':
                self.face = RecognitionTrainTransform(self.size)
            else:
                self.face = AttributeTrainTransform(self.size)

    def __call__(self, sample: dict, rng: np.random.Generator) -> dict:
        if self.dense is not None:
            return self.dense(sample, rng)
        image = self.face(sample['image'], rng)
        value = sample[LABEL_FIELDS[self.type]]
        if self.type == 'age':
            label = torch.tensor(float(value), dtype=torch.float32)
        else:
            label = torch.as_tensor(np.asarray(value), dtype=torch.int64)
        return {'image': image, 'label': label}


class TaskSampleDataset(Dataset):
    """Applies a task transform to reader samples; keys are (reader index, rng seed words) pairs."""

    def __init__(self, reader: Dataset, transform: Callable[[dict, np.random.Generator], dict]) -> None:
        self.reader = reader
        self.transform = transform

    def __len__(self) -> int:
        return len(self.reader)

    def __getitem__(self, key: tuple[int, tuple[int, ...]]) -> dict:
        index, seed_words = key
        return self.transform(self.reader[index], np.random.default_rng(list(seed_words)))


class SeededIterationSampler(Sampler):
    """The official per-rank sample order, paired with a seed for each sample's augmentation.

    Yields (dataset index, (seed, task hash, rank, position)) for iterations start_iter..max_iter-1,
    where position counts samples from the start of the rank's stream.
    """

    def __init__(self, task: str, dataset_size: int, max_iter: int, batch_size: int, world_size: int = 1, rank: int = 0, seed: int = 2048, start_iter: int = 0) -> None:
        self.indices = given_iteration_indices(dataset_size, max_iter, batch_size, world_size, rank, seed, last_iter=start_iter - 1)
        self.first_position = start_iter * batch_size
        self.seed_prefix = (seed, zlib.crc32(task.encode('utf-8')), rank)

    def __iter__(self) -> Iterator[tuple[int, tuple[int, ...]]]:
        for offset, index in enumerate(self.indices.tolist()):
            yield index, self.seed_prefix + (self.first_position + offset,)

    def __len__(self) -> int:
        return len(self.indices)


def build_task_loader(
    dataset: TaskSampleDataset, task: str, batch_size: int, max_iter: int, world_size: int = 1, rank: int = 0,
    seed: int = 2048, start_iter: int = 0, num_workers: int = 0, pin_memory: bool = False,
) -> DataLoader:
    """DataLoader yielding {'image', 'label'} batches for iterations start_iter..max_iter-1."""
    sampler = SeededIterationSampler(task, len(dataset), max_iter, batch_size, world_size, rank, seed, start_iter)
    return DataLoader(
        dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers, drop_last=True,
        pin_memory=pin_memory, persistent_workers=num_workers > 0,
    )
