"""The serving pipeline's crops, reproduced for training.

These follow `gpu-worker/src/geometry/crops.ts` and `sample-crop.ts` exactly, so the student trains
on the pixels the worker will feed it:

- Every frame has pixel centers at integer coordinates. A matrix maps photo pixels to crop pixels.
- Landmark crop (`crops.landmarks`, kind `box`): the detector box made square (side max(w, h))
  about its center, mapped to the crop by x' = (x - x1) / (x2 - x1) * size - 0.5, then scaled by
  `scale` about the crop center (size - 1) / 2.
- Face crop (`crops.face`, kind `arcface`): the least-squares (Umeyama) similarity from five points
  to the template, rescaled to the crop as t' = (t + 0.5) * size / template_size - 0.5.
- Sampling: crop pixel (i, j) reads the photo bilinearly at inverse(matrix) (i, j); neighbours
  outside the photo count as black. Values are divided by 255, then normalized with mean and std.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from faceptor.train.geometry import transform_points, umeyama_similarity

Box = tuple[float, float, float, float]


def box_crop_matrix(box: Box, size: int, scale: float) -> np.ndarray:
    """(3, 3) photo -> crop map of the landmark crop for a detector box (x, y, width, height)."""
    x, y, width, height = box
    if not (width > 0 and height > 0):
        raise ValueError(f'face box must have positive width and height, got {box}')
    side = max(width, height)
    left = x + width / 2 - side / 2
    top = y + height / 2 - side / 2
    pixels_per_unit = size / side
    square_to_crop = np.array([
        [pixels_per_unit, 0.0, -left * pixels_per_unit - 0.5],
        [0.0, pixels_per_unit, -top * pixels_per_unit - 0.5],
        [0.0, 0.0, 1.0],
    ])
    return scale_about_center(scale, (size - 1) / 2) @ square_to_crop


def scale_about_center(scale: float, center: float) -> np.ndarray:
    """(3, 3) map that scales by `scale` about the point (center, center)."""
    return np.array([[scale, 0.0, center - scale * center], [0.0, scale, center - scale * center], [0.0, 0.0, 1.0]])


def five_points(landmarks: np.ndarray, groups: list[list[int]]) -> np.ndarray:
    """(5, 2) alignment points: the mean of each index group of the (P, 2) landmarks."""
    if len(groups) != 5:
        raise ValueError(f'five_points needs 5 index groups, got {len(groups)}')
    return np.stack([np.asarray(landmarks, dtype=np.float64)[group].mean(axis=0) for group in groups])


def arcface_matrix(points: np.ndarray, template: list[list[float]], template_size: int, size: int) -> np.ndarray:
    """(3, 3) photo -> crop map of the face crop: Umeyama similarity from the five points to the scaled template."""
    ratio = size / template_size
    destination = (np.asarray(template, dtype=np.float64) + 0.5) * ratio - 0.5
    return umeyama_similarity(np.asarray(points, dtype=np.float64), destination)


def map_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a (3, 3) map to (N, 2) points."""
    return transform_points(points, matrix)


def sample_crop(photo: torch.Tensor, matrix: np.ndarray, size: int) -> torch.Tensor:
    """Sample a (3, size, size) crop of a (3, H, W) float32 photo in 0..255; returns values in 0..1.

    Crop pixel (i, j) reads the photo at inverse(matrix) (i, j) with bilinear weights. grid_sample's
    align_corners=False coordinate (2x + 1) / W - 1 puts photo pixel centers at integers, and its zero
    padding makes neighbours outside the photo black, as sampleCrop does.
    """
    if photo.dim() != 3 or photo.shape[0] != 3:
        raise ValueError(f'sample_crop needs a (3, H, W) photo tensor, got shape {tuple(photo.shape)}')
    height, width = photo.shape[1:]
    inverse = np.linalg.inv(np.asarray(matrix, dtype=np.float64))
    ys, xs = np.meshgrid(np.arange(size, dtype=np.float64), np.arange(size, dtype=np.float64), indexing='ij')
    source_x = inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2]
    source_y = inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]
    grid = np.stack([(2 * source_x + 1) / width - 1, (2 * source_y + 1) / height - 1], axis=-1)
    sampled = F.grid_sample(
        photo[None], torch.from_numpy(grid[None]).to(torch.float32), mode='bilinear', padding_mode='zeros', align_corners=False
    )
    return sampled[0] / 255.0


def normalize(crop: torch.Tensor, mean: list[float], std: list[float]) -> torch.Tensor:
    """(..., 3, S, S) values in 0..1 -> (x - mean) / std per channel."""
    mean_tensor = torch.tensor(mean, dtype=crop.dtype)[:, None, None]
    std_tensor = torch.tensor(std, dtype=crop.dtype)[:, None, None]
    return (crop - mean_tensor) / std_tensor


def photo_tensor(photo: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> (3, H, W) float32 in 0..255."""
    return torch.from_numpy(np.ascontiguousarray(photo)).permute(2, 0, 1).to(torch.float32).contiguous()
