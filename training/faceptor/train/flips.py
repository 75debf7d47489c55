"""Horizontal flips of dense targets: left/right landmark and parsing-class swaps.

The official recipe never flips the dense tasks, so these run only when a config turns
`dense_hflip` on. A mirrored face moves the person's left eye to where the right eye was, so a
flip must also swap the indices of every left/right landmark pair and parsing class pair.
"""

from __future__ import annotations

import numpy as np
import torch


def _pairs_to_permutation(count: int, pairs: list[tuple[int, int]]) -> np.ndarray:
    permutation = np.arange(count)
    for left, right in pairs:
        permutation[left], permutation[right] = right, left
    return permutation


# iBUG 300-W 68-point layout (0-based): jaw 0-16, brows 17-21 / 22-26, nose bridge 27-30, nostrils
# 31-35, eyes 36-41 / 42-47, outer lips 48-59, inner lips 60-67. Points on the midline map to themselves.
IBUG68_FLIP_PAIRS = (
    [(i, 16 - i) for i in range(8)]
    + [(17, 26), (18, 25), (19, 24), (20, 23), (21, 22)]
    + [(31, 35), (32, 34)]
    + [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]
    + [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58)]
    + [(60, 64), (61, 63), (65, 67)]
)
IBUG68_FLIP_PERMUTATION = _pairs_to_permutation(68, IBUG68_FLIP_PAIRS)

LANDMARK_FLIP_PERMUTATIONS = {'align_300w': IBUG68_FLIP_PERMUTATION}

# Parsing label values whose classes swap under a mirror: ears, brows and eyes.
PARSING_FLIP_PAIRS = {
    'parsing_celebam': [(4, 5), (6, 7), (8, 9)],
    'parsing_lapa': [(2, 3), (4, 5)],
}


def landmark_flip_permutation(task: str) -> np.ndarray:
    """Index map of a landmark task: flipped point i takes the mirrored position of point permutation[i]."""
    if task not in LANDMARK_FLIP_PERMUTATIONS:
        raise ValueError(
            f'no horizontal-flip permutation is defined for {task!r}; dense_hflip supports '
            f'{", ".join(LANDMARK_FLIP_PERMUTATIONS)} (set dense_hflip: false for this task)'
        )
    return LANDMARK_FLIP_PERMUTATIONS[task]


def parsing_flip_pairs(task: str) -> list[tuple[int, int]]:
    """Label-value pairs that swap under a horizontal flip of a parsing task."""
    if task not in PARSING_FLIP_PAIRS:
        raise ValueError(f'no horizontal-flip class pairs are defined for {task!r}; known: {", ".join(PARSING_FLIP_PAIRS)}')
    return PARSING_FLIP_PAIRS[task]


def flip_landmarks(points: np.ndarray, permutation: np.ndarray, size: int) -> np.ndarray:
    """Mirror (P, 2) points of a `size`-wide frame (x -> size - 1 - x) and reorder them by `permutation`."""
    mirrored = np.array(points, copy=True)
    mirrored[:, 0] = size - 1 - mirrored[:, 0]
    return mirrored[permutation]


def flip_label_map(label: torch.Tensor, pairs: list[tuple[int, int]]) -> torch.Tensor:
    """Mirror an (H, W) label map and swap the class values of each left/right pair."""
    flipped = label.flip(-1)
    swapped = flipped.clone()
    for left, right in pairs:
        swapped[flipped == left] = right
        swapped[flipped == right] = left
    return swapped
