"""Augmentations of the distillation crops.

Geometric ones change the crop matrix (so the labels follow exactly): a random similarity about the
crop center and a horizontal flip, which also swaps left/right landmark indices with the iBUG-68
permutation. Photometric ones act on the sampled crop in 0..1: brightness, contrast, saturation,
gamma, grayscale, blur, down-and-up resampling, noise and rectangular occlusion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from faceptor.train.flips import IBUG68_FLIP_PERMUTATION
from faceptor.train.geometry import similarity_matrix


@dataclass(frozen=True)
class GeometricJitter:
    """Ranges of the random similarity applied in the crop frame."""

    max_rotation_degrees: float
    max_scale_change: float
    """The scale is drawn log-uniformly from [1 / (1 + c), 1 + c]."""
    max_shift_fraction: float
    """Shift in each axis, as a fraction of the crop side."""
    flip_probability: float = 0.5


@dataclass(frozen=True)
class PhotometricJitter:
    """Probabilities and strengths of the photometric augmentations."""

    brightness: float = 0.25
    contrast: float = 0.35
    saturation: float = 0.5
    max_gamma_log: float = 0.4
    grayscale_probability: float = 0.1
    blur_probability: float = 0.2
    max_blur_sigma: float = 1.6
    resample_probability: float = 0.25
    min_resample_fraction: float = 0.25
    noise_probability: float = 0.2
    max_noise_std: float = 0.04
    occlusion_probability: float = 0.3
    max_occlusion_fraction: float = 0.4


def jitter_matrix(size: int, jitter: GeometricJitter, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """Random (3, 3) crop -> crop map and whether it mirrors the crop horizontally."""
    center = ((size - 1) / 2, (size - 1) / 2)
    angle = math.radians(rng.uniform(-jitter.max_rotation_degrees, jitter.max_rotation_degrees))
    log_scale = math.log1p(jitter.max_scale_change)
    scale = math.exp(rng.uniform(-log_scale, log_scale))
    shift = rng.uniform(-jitter.max_shift_fraction, jitter.max_shift_fraction, size=2) * size
    matrix = similarity_matrix(angle, scale, (float(shift[0]), float(shift[1])), center, center)
    flipped = bool(rng.uniform() < jitter.flip_probability)
    if flipped:
        mirror = np.array([[-1.0, 0.0, size - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        matrix = mirror @ matrix
    return matrix, flipped


def flip_point_order(points: np.ndarray) -> np.ndarray:
    """Reorder mirrored (68, 2) iBUG points so that index i is again the person's point i."""
    return np.asarray(points)[IBUG68_FLIP_PERMUTATION]


def photometric(crop: torch.Tensor, jitter: PhotometricJitter, rng: np.random.Generator) -> torch.Tensor:
    """Apply random photometric changes to a (3, S, S) crop in 0..1; returns a new tensor in 0..1."""
    out = crop.clone()
    size = out.shape[-1]

    if rng.uniform() < jitter.resample_probability:
        low = max(8, int(round(size * rng.uniform(jitter.min_resample_fraction, 1.0))))
        small = F.interpolate(out[None], size=(low, low), mode='bilinear', align_corners=False, antialias=True)
        out = F.interpolate(small, size=(size, size), mode='bilinear', align_corners=False)[0]
    if rng.uniform() < jitter.blur_probability:
        out = gaussian_blur(out, rng.uniform(0.4, jitter.max_blur_sigma))

    out = out * (1 + rng.uniform(-jitter.contrast, jitter.contrast)) + rng.uniform(-jitter.brightness, jitter.brightness) * 0.5
    gray = (0.299 * out[0] + 0.587 * out[1] + 0.114 * out[2])[None]
    if rng.uniform() < jitter.grayscale_probability:
        out = gray.expand(3, -1, -1).clone()
    else:
        saturation = 1 + rng.uniform(-jitter.saturation, jitter.saturation)
        out = gray + (out - gray) * saturation
    out = out.clamp(0, 1) ** math.exp(rng.uniform(-jitter.max_gamma_log, jitter.max_gamma_log))

    if rng.uniform() < jitter.noise_probability:
        noise = rng.normal(0, rng.uniform(0, jitter.max_noise_std), size=out.shape).astype(np.float32)
        out = out + torch.from_numpy(noise)
    if rng.uniform() < jitter.occlusion_probability:
        out = occlude(out, jitter.max_occlusion_fraction, rng)
    return out.clamp(0, 1)


def gaussian_blur(crop: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blur a (3, S, S) crop with a separable Gaussian of standard deviation `sigma` pixels."""
    radius = max(1, int(math.ceil(2.5 * sigma)))
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-offsets**2 / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    padded = F.pad(crop[:, None], (radius, radius, 0, 0), mode='replicate')
    horizontal = F.conv2d(padded, kernel[None, None, None, :])
    padded = F.pad(horizontal, (0, 0, radius, radius), mode='replicate')
    return F.conv2d(padded, kernel[None, None, :, None])[:, 0]


def occlude(crop: torch.Tensor, max_fraction: float, rng: np.random.Generator) -> torch.Tensor:
    """Cover one random rectangle of a (3, S, S) crop with a flat color or with noise."""
    size = crop.shape[-1]
    width = max(2, int(size * rng.uniform(0.1, max_fraction)))
    height = max(2, int(size * rng.uniform(0.1, max_fraction)))
    left = int(rng.integers(0, size - width + 1))
    top = int(rng.integers(0, size - height + 1))
    out = crop.clone()
    if rng.uniform() < 0.5:
        fill = torch.from_numpy(rng.uniform(0, 1, size=(3, 1, 1)).astype(np.float32))
        out[:, top:top + height, left:left + width] = fill
    else:
        out[:, top:top + height, left:left + width] = torch.from_numpy(rng.uniform(0, 1, size=(3, height, width)).astype(np.float32))
    return out
