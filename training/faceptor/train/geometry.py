"""Warp geometry of the 512 px branch: 3x3 matrices, RoI tanh-warping, remapping and point transforms.

Conventions (those of the py-blueprint augmenters the official code uses):
- A matrix maps original-image pixels to the aligned output frame. Pixel centers sit at integer
  coordinates, and the output grid is the integer pixels 0..size-1.
- The optional tanh warp acts on aligned coordinates a, per axis, with n = a / size * 2 - 1:
  n_w = n for |n| <= 1 - f, else sign(n) * ((1 - f) + f * tanh((|n| - (1 - f)) / f)).
- Images are sampled bilinearly and label maps by nearest neighbour; pixels outside the source
  are 0. The official code samples with cv2.remap. Here torch's grid_sample does it, with source
  pixel x mapped to the grid coordinate (2x + 1) / W - 1 (align_corners=False), which puts pixel
  centers at integers like cv2. cv2 quantizes bilinear weights to 1/32 pixel, so the two differ by
  up to about 1/64 of the local intensity step; grid_sample uses exact weights.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

TANH_CLAMP = 0.999


def similarity_matrix(angle: float, scale: float, shift_xy: tuple[float, float], from_center: tuple[float, float], to_center: tuple[float, float]) -> np.ndarray:
    """(3, 3) map that rotates by `angle` (radians) and scales about `from_center`, then moves it to `to_center` + shift.

    x' = s * R(angle) (x - from_center) + to_center + shift, with R = [[cos, -sin], [sin, cos]]
    in image coordinates (y down), so a positive angle turns clockwise on screen.
    """
    cos, sin = scale * math.cos(angle), scale * math.sin(angle)
    fx, fy = from_center
    tx, ty = to_center
    return np.array([
        [cos, -sin, tx - cos * fx + sin * fy + shift_xy[0]],
        [sin, cos, ty - sin * fx - cos * fy + shift_xy[1]],
        [0.0, 0.0, 1.0],
    ])


def resize_matrix(from_height: int, from_width: int, to_height: int, to_width: int) -> np.ndarray:
    """(3, 3) map of a plain resize with pixel centers kept: x' = (x + 0.5) * to_w / from_w - 0.5."""
    sx, sy = to_width / from_width, to_height / from_height
    return np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])


def umeyama_similarity(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(3, 3) least-squares similarity (rotation, uniform scale, shift) taking (N, 2) `source` to `target`.

    Umeyama's closed form, the estimate skimage's SimilarityTransform makes.
    """
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if source.shape != target.shape or source.ndim != 2 or source.shape[1] != 2 or source.shape[0] < 2:
        raise ValueError(f'umeyama_similarity needs two (N, 2) point sets with N >= 2, got {source.shape} and {target.shape}')
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    source_centered, target_centered = source - source_mean, target - target_mean
    source_variance = (source_centered**2).sum() / len(source)
    if source_variance == 0:
        raise ValueError('umeyama_similarity: the source points all coincide, so no similarity is defined')

    covariance = target_centered.T @ source_centered / len(source)  # (2, 2)
    u, singular, vt = np.linalg.svd(covariance)
    signs = np.ones(2)
    if np.linalg.det(covariance) < 0:
        signs[-1] = -1.0
    rotation = u @ np.diag(signs) @ vt
    scale = (singular * signs).sum() / source_variance

    matrix = np.eye(3)
    matrix[:2, :2] = scale * rotation
    matrix[:2, 2] = target_mean - scale * rotation @ source_mean
    return matrix


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a (3, 3) matrix to (N, 2) points (x, y); returns float64 (N, 2)."""
    points = np.asarray(points, dtype=np.float64)
    homogeneous = np.concatenate([points, np.ones((len(points), 1))], axis=1) @ np.asarray(matrix, dtype=np.float64).T
    return homogeneous[:, :2] / homogeneous[:, 2:3]


def tanh_warp(aligned: np.ndarray, warp_factor: float, size: int) -> np.ndarray:
    """Aligned (N, 2) coordinates -> tanh-warped coordinates of a `size` frame (identity when f = 0)."""
    if warp_factor <= 0:
        return np.asarray(aligned, dtype=np.float64).copy()
    normalized = np.asarray(aligned, dtype=np.float64) / size * 2 - 1
    linear = 1.0 - warp_factor
    outer = np.abs(normalized) > linear
    warped = normalized.copy()
    warped[outer] = np.sign(normalized[outer]) * (linear + warp_factor * np.tanh((np.abs(normalized[outer]) - linear) / warp_factor))
    return (warped + 1) / 2 * size


def inverse_tanh_warp(warped: np.ndarray, warp_factor: float, size: int) -> np.ndarray:
    """Tanh-warped (N, 2) coordinates -> aligned coordinates; the atanh argument is clamped to +-0.999."""
    if warp_factor <= 0:
        return np.asarray(warped, dtype=np.float64).copy()
    normalized = np.asarray(warped, dtype=np.float64) / size * 2 - 1
    linear = 1.0 - warp_factor
    outer = np.abs(normalized) > linear
    aligned = normalized.copy()
    ratio = np.clip((np.abs(normalized[outer]) - linear) / warp_factor, -TANH_CLAMP, TANH_CLAMP)
    aligned[outer] = np.sign(normalized[outer]) * (linear + warp_factor * np.arctanh(ratio))
    return (aligned + 1) / 2 * size


def warp_points(points: np.ndarray, matrix: np.ndarray, warp_factor: float = 0.0, size: int = 512) -> np.ndarray:
    """Original-image (N, 2) points -> output-frame points: the matrix, then the forward tanh warp."""
    return tanh_warp(transform_points(points, matrix), warp_factor, size)


def sampling_grid(matrix: np.ndarray, size: int, warp_factor: float = 0.0) -> np.ndarray:
    """(size, size, 2) float64 source-image (x, y) of every output pixel: A^-1 (inverse_tanh(x, y))."""
    ys, xs = np.meshgrid(np.arange(size, dtype=np.float64), np.arange(size, dtype=np.float64), indexing='ij')
    output_pixels = np.stack([xs, ys], axis=-1).reshape(-1, 2)
    aligned = inverse_tanh_warp(output_pixels, warp_factor, size)
    source = transform_points(aligned, np.linalg.inv(matrix))
    return source.reshape(size, size, 2)


def remap(image: torch.Tensor, grid: np.ndarray, mode: str = 'bilinear') -> torch.Tensor:
    """Sample a (C, H, W) or (H, W) tensor at the (h, w, 2) source pixel coordinates of `grid`.

    Bilinear for images, 'nearest' for label maps; samples outside the source are 0. Integer
    label maps are sampled as float32 and cast back, which is exact for values below 2**24.
    """
    if mode not in ('bilinear', 'nearest'):
        raise ValueError(f"remap mode must be 'bilinear' or 'nearest', got {mode!r}")
    squeeze = image.dim() == 2
    source = image[None] if squeeze else image  # (C, H, W)
    height, width = source.shape[-2:]

    coords = torch.from_numpy(grid).to(torch.float64)
    normalized = torch.empty_like(coords)
    normalized[..., 0] = (2 * coords[..., 0] + 1) / width - 1
    normalized[..., 1] = (2 * coords[..., 1] + 1) / height - 1
    sampled = F.grid_sample(
        source[None].to(torch.float32), normalized[None].to(torch.float32), mode=mode, padding_mode='zeros', align_corners=False
    )[0]  # (C, h, w)

    if not image.dtype.is_floating_point:
        sampled = sampled.round().to(image.dtype)
    return sampled[0] if squeeze else sampled
