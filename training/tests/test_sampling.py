"""Multi-task sampling: per-task index lists, the zipped step loop and the size-grouped encoder pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from faceptor.data.sampling import (
    GivenIterationSampler, SizeGroup, encode_by_size_group, given_iteration_indices, group_tasks_by_size,
    multitask_steps, task_input_size,
)


def official_shuffle(dataset_size: int, total: int, seed: int) -> np.ndarray:
    """The official recipe written out: seed the global numpy generator, tile, shuffle."""
    np.random.seed(seed)
    indices = np.tile(np.arange(dataset_size), (total - 1) // dataset_size + 1)[:total]
    np.random.shuffle(indices)
    return indices


def test_indices_match_official_shuffle() -> None:
    # 5 images, 3 iterations of 2 per rank, 2 ranks: 12 entries, i.e. arange(5) tiled 2.4 times.
    reference = official_shuffle(5, 12, 2048)
    rank0 = given_iteration_indices(5, max_iter=3, batch_size=2, world_size=2, rank=0)
    rank1 = given_iteration_indices(5, max_iter=3, batch_size=2, world_size=2, rank=1)
    np.testing.assert_array_equal(rank0, reference[:6])
    np.testing.assert_array_equal(rank1, reference[6:])
    counts = np.bincount(np.concatenate([rank0, rank1]), minlength=5)
    assert counts.tolist().count(3) == 2  # indices 0 and 1 appear in the partial third tile
    assert counts.tolist().count(2) == 3


def test_indices_depend_on_seed() -> None:
    first = given_iteration_indices(100, max_iter=10, batch_size=4)
    same = given_iteration_indices(100, max_iter=10, batch_size=4, seed=2048)
    other = given_iteration_indices(100, max_iter=10, batch_size=4, seed=7)
    np.testing.assert_array_equal(first, same)
    assert not np.array_equal(first, other)


def test_indices_resume_after_last_iter() -> None:
    full = given_iteration_indices(7, max_iter=5, batch_size=3)
    resumed = given_iteration_indices(7, max_iter=5, batch_size=3, last_iter=1)
    assert full.shape == (15,)
    np.testing.assert_array_equal(resumed, full[6:])


@pytest.mark.parametrize('kwargs, pattern', [
    ({'dataset_size': 0}, 'dataset_size must be positive, got 0'),
    ({'rank': 2}, r'rank must be in 0..1, got 2'),
    ({'last_iter': 3}, r'last_iter must be in -1..2, got 3'),
    ({'batch_size': 0}, r'must be positive, got 3, 0, 2'),
])
def test_indices_reject_bad_arguments(kwargs: dict, pattern: str) -> None:
    arguments = {'dataset_size': 5, 'max_iter': 3, 'batch_size': 2, 'world_size': 2, 'rank': 0, **kwargs}
    with pytest.raises(ValueError, match=pattern):
        given_iteration_indices(**arguments)


def test_sampler_feeds_fixed_batches() -> None:
    sampler = GivenIterationSampler(10, max_iter=4, batch_size=3)
    batches = list(DataLoader(list(range(10)), batch_size=3, sampler=sampler))
    assert len(batches) == 4
    assert all(len(batch) == 3 for batch in batches)
    assert torch.cat(batches).tolist() == sampler.indices.tolist()


def test_multitask_steps_zip_until_shortest() -> None:
    steps = list(multitask_steps({'age_morph2': [1, 2, 3], 'align_300w': ['a', 'b']}))
    assert steps == [{'age_morph2': 1, 'align_300w': 'a'}, {'age_morph2': 2, 'align_300w': 'b'}]


def test_task_input_size_by_type() -> None:
    expected = {
        'recog_ms1mv3': 112, 'age_utkface': 112, 'biattr_celeba': 112, 'affect_rafdb': 112,
        'parsing_lapa': 512, 'align_cofw': 512,
    }
    assert {task: task_input_size(task) for task in expected} == expected
    assert task_input_size('align_300w', dense_size=224) == 224
    with pytest.raises(ValueError, match=r"unknown task type 'pose' in 'pose_biwi'"):
        task_input_size('pose_biwi')


def test_group_tasks_keeps_order() -> None:
    groups = group_tasks_by_size({'recog_ms1mv3': 112, 'parsing_celebam': 512, 'age_morph2': 112, 'align_300w': 512})
    assert groups == [SizeGroup(112, ('recog_ms1mv3', 'age_morph2')), SizeGroup(512, ('parsing_celebam', 'align_300w'))]


class RecordingEncoder:
    """Returns two 'layers' per image (its sum and its mean) and records the shape of every batch."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def __call__(self, images: torch.Tensor) -> list[torch.Tensor]:
        self.calls.append((images.shape[0], images.shape[-1]))
        return [images.sum(dim=(1, 2, 3)), images.mean(dim=(1, 2, 3))]


def test_encode_once_per_size_group() -> None:
    torch.manual_seed(0)
    images = {
        'recog_ms1mv3': torch.randn(3, 3, 8, 8),
        'parsing_celebam': torch.randn(2, 3, 16, 16),
        'age_morph2': torch.randn(1, 3, 8, 8),
        'align_300w': torch.randn(2, 3, 16, 16),
    }
    encoder = RecordingEncoder()
    features = encode_by_size_group(encoder, images)
    assert encoder.calls == [(4, 8), (4, 16)]  # one pass per size, over the concatenated batches
    assert list(features) == list(images)
    for task, batch in images.items():
        expected = RecordingEncoder()(batch)
        assert isinstance(features[task], list)
        torch.testing.assert_close(features[task][0], expected[0])
        torch.testing.assert_close(features[task][1], expected[1])


def test_encode_slices_plain_tensor() -> None:
    images = {'age_morph2': torch.zeros(2, 3, 4, 4), 'biattr_celeba': torch.ones(3, 3, 4, 4)}
    features = encode_by_size_group(lambda x: x[:, 0, 0, 0], images)
    assert features['age_morph2'].tolist() == [0.0, 0.0]
    assert features['biattr_celeba'].tolist() == [1.0, 1.0, 1.0]


def test_encode_rejects_non_square_batch() -> None:
    with pytest.raises(
        ValueError, match=r"images\['age_morph2'\] must be a \(B, C, R, R\) batch, got shape \(2, 3, 4, 5\)"
    ):
        encode_by_size_group(lambda x: x, {'age_morph2': torch.zeros(2, 3, 4, 5)})
