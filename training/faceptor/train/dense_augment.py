"""Training transforms of the dense (512 px) tasks: face parsing and landmarks.

A transform takes a reader sample ((H, W, 3) uint8 RGB image plus labels in original pixels) and a
numpy Generator, and returns {'image': (3, S, S) float32 normalized with the CLIP mean and std,
'label': ...} where the label is an (S, S) int64 class map (parsing) or (P, 2) float32 points in
output pixels (landmarks).

Steps, as the official transforms run them:
1. Alignment matrix: identity/resize (CelebAMask-HQ), 5-point similarity to the LaPa template
   (LaPa, with RoI tanh-warping 0.8), or box crop (landmarks).
2. Random similarity about the crop center. Parsing: rotation ~ N(0, 0.314 rad),
   scale ~ N(1, 0.1), shift ~ U(+-0.01 S) px per axis. Landmarks: rotation ~ U(+-0.174 rad),
   scale ~ U(s0 +- 0.1) with s0 = 0.8 (1.0 for AFLW-19), shift ~ U(+-0.05 S) px per axis.
3. Warp the image (bilinear) and label map (nearest) through one sampling grid; move the points
   through the same matrix and tanh warp.
4. Photometric ops on [0, 1] RGB. Landmarks: RandomOcclusion, NoiseFusion with p 0.5, then, as for
   parsing, RandomGray (p 0.1), RandomGamma, RandomBlur.
5. Optional horizontal flip of the output (off in the official recipe), with left/right label
   and landmark swaps.
6. Normalize with the CLIP mean and std (pixels outside the source are 0 before this step).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..data.landmarks import landmark_crop_matrix
from ..labels import CLIP_MEAN, CLIP_STD, LAPA_TEMPLATE_UNIT, LAPA_WARP_FACTOR
from .flips import flip_label_map, flip_landmarks, parsing_flip_pairs, landmark_flip_permutation
from .geometry import remap, resize_matrix, sampling_grid, similarity_matrix, umeyama_similarity, warp_points

GRAY_WEIGHTS = (0.299, 0.587, 0.114)
LAPA_FIVE_POINTS = [104, 105, 54, 84, 90]


@dataclass(frozen=True)
class JitterSpec:
    """Random similarity around the alignment: each of rotation, scale and shift is mean +- spread."""

    rotation_spread: float
    """Radians: the sigma of a normal draw, or the half-width of a uniform one."""
    rotation_normal: bool
    scale_mean: float
    scale_spread: float
    scale_normal: bool
    shift_spread: float
    """Fraction of the output side, per axis; always a uniform draw in the official configs."""

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Draw one (3, 3) similarity about the center of a `size` frame."""
        shift = rng.uniform(-self.shift_spread, self.shift_spread, size=2) * size
        angle = rng.normal(0.0, self.rotation_spread) if self.rotation_normal else rng.uniform(-self.rotation_spread, self.rotation_spread)
        if self.scale_normal:
            scale = rng.normal(self.scale_mean, self.scale_spread)
        else:
            scale = rng.uniform(self.scale_mean - self.scale_spread, self.scale_mean + self.scale_spread)
        center = ((size - 1) / 2.0, (size - 1) / 2.0)
        return similarity_matrix(angle, scale, (shift[0], shift[1]), center, center)

    def mean_matrix(self, size: int) -> np.ndarray:
        """Return the jitter's mean, a plain scale about the center, which the evaluation transform uses."""
        center = ((size - 1) / 2.0, (size - 1) / 2.0)
        return similarity_matrix(0.0, self.scale_mean, (0.0, 0.0), center, center)


PARSING_JITTER = JitterSpec(0.314, True, 1.0, 0.1, True, 0.01)


def landmark_jitter(scale_mean: float) -> JitterSpec:
    """Landmark jitter with crop scale `scale_mean` (0.8 for 300W, WFLW and COFW; 1.0 for AFLW-19)."""
    return JitterSpec(0.174, False, scale_mean, 0.1, False, 0.05)


# ---------------------------------------------------------------------------------------------
# Photometric ops on (3, H, W) float tensors in [0, 1]


def random_gray(image: torch.Tensor, rng: np.random.Generator, probability: float = 0.1) -> torch.Tensor:
    """With `probability`, replace RGB by its luma 0.299 R + 0.587 G + 0.114 B on all 3 channels."""
    if rng.uniform() >= probability:
        return image
    weights = torch.tensor(GRAY_WEIGHTS, dtype=image.dtype)[:, None, None]
    return (image * weights).sum(dim=0, keepdim=True).expand_as(image).clone()


def random_gamma(image: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Clamp to [0, 1], then apply sqrt, identity or square with equal probability."""
    image = image.clamp(0.0, 1.0)
    choice = rng.integers(0, 3)
    if choice == 0:
        return image.sqrt()
    if choice == 2:
        return image * image
    return image


def box_blur(image: torch.Tensor, kernel: int) -> torch.Tensor:
    """Mean over a kernel x kernel window with reflect-101 borders, anchored like cv2.blur.

    For even kernels the window spans kernel // 2 pixels before the center and kernel // 2 - 1 after.
    """
    before, after = kernel // 2, kernel - 1 - kernel // 2
    padded = F.pad(image[None], (before, after, before, after), mode='reflect')
    return F.avg_pool2d(padded, kernel_size=kernel, stride=1)[0]


def random_blur(image: torch.Tensor, rng: np.random.Generator, scale: float = 0.01) -> torch.Tensor:
    """Box blur with kernel int(mean side * U(0, scale)), applied only when the kernel exceeds 1."""
    height, width = image.shape[-2:]
    kernel = int((height + width) / 2 * rng.uniform(0.0, scale))
    if kernel <= 1:
        return image
    return box_blur(image.clamp(0.0, 1.0), kernel)


def random_occlusion(image: torch.Tensor, rng: np.random.Generator, min_extent: float = 0.2, max_extent: float = 0.8, width_delta: float = 0.2) -> torch.Tensor:
    """Black out one rectangle whose half-extents are 20-80 % of the image's (width +- 20 % of that).

    As in the official augmenter, the center's x is drawn over the height and y over the width,
    which is the same for the square crops used here.
    """
    height, width = image.shape[-2:]
    extent_y = rng.uniform() * (max_extent - min_extent) + min_extent
    extent_x = extent_y - width_delta + 2 * width_delta * rng.uniform()
    center_x = int((height - 1) * rng.uniform())
    center_y = int((width - 1) * rng.uniform())
    half_y, half_x = int(height / 2 * extent_y) // 2, int(width / 2 * extent_x) // 2
    x0, x1 = max(0, center_x - half_x), min(width - 1, center_x + half_x)
    y0, y1 = max(0, center_y - half_y), min(height - 1, center_y + half_y)
    occluded = image.clone()
    occluded[:, y0:y1 + 1, x0:x1 + 1] = 0.0
    return occluded


def noise_fusion(image: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Blend with uniform noise: (1 - a) x + a U(0, 1), a ~ U(0, 0.5)."""
    alpha = 0.5 * rng.uniform()
    noise = torch.from_numpy(rng.random(tuple(image.shape), dtype=np.float32))
    return (1 - alpha) * image + alpha * noise


def normalize_clip(image: torch.Tensor) -> torch.Tensor:
    """(3, H, W) [0, 1] RGB -> (x - CLIP mean) / CLIP std."""
    mean = torch.tensor(CLIP_MEAN, dtype=image.dtype)[:, None, None]
    std = torch.tensor(CLIP_STD, dtype=image.dtype)[:, None, None]
    return (image - mean) / std


def image_to_unit_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> (3, H, W) float32 in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).to(torch.float32) / 255.0


# ---------------------------------------------------------------------------------------------
# Task transforms


class ParsingTransform:
    """CelebAMask-HQ or LaPa sample -> warped, augmented image and (S, S) int64 label map.

    `alignment` is 'resize' (CelebAMask-HQ: the image already is the aligned crop) or 'lapa'
    (5-point similarity to the LaPa template, then tanh-warping with `warp_factor`).
    """

    def __init__(self, task: str, size: int, alignment: str, warp_factor: float = 0.0, train: bool = True, hflip: bool = False) -> None:
        if alignment not in ('resize', 'lapa'):
            raise ValueError(f"parsing alignment must be 'resize' or 'lapa', got {alignment!r}")
        self.task = task
        self.size = size
        self.alignment = alignment
        self.warp_factor = warp_factor
        self.train = train
        self.hflip = hflip
        self.flip_pairs = parsing_flip_pairs(task) if hflip else []

    def alignment_matrix(self, sample: dict) -> np.ndarray:
        """(3, 3) map from the sample's image pixels to the aligned (pre-jitter) frame."""
        height, width = sample['image'].shape[:2]
        if self.alignment == 'resize':
            return resize_matrix(height, width, self.size, self.size)
        five = np.asarray(sample['landmarks'], dtype=np.float64)[LAPA_FIVE_POINTS]
        template = np.asarray(LAPA_TEMPLATE_UNIT) * (self.size - 1)
        return umeyama_similarity(five, template)

    def __call__(self, sample: dict, rng: np.random.Generator) -> dict:
        matrix = self.alignment_matrix(sample)
        if self.train:
            matrix = PARSING_JITTER.sample(rng, self.size) @ matrix
        grid = sampling_grid(matrix, self.size, self.warp_factor)
        image = remap(image_to_unit_tensor(sample['image']), grid, 'bilinear')
        label = remap(torch.from_numpy(np.ascontiguousarray(sample['label_map'])).to(torch.int64), grid, 'nearest')

        if self.train:
            image = random_blur(random_gamma(random_gray(image, rng), rng), rng)
            if self.hflip and rng.uniform() < 0.5:
                image = image.flip(-1)
                label = flip_label_map(label, self.flip_pairs)
        return {'image': normalize_clip(image), 'label': label}


class LandmarkTransform:
    """300W / WFLW / COFW / AFLW-19 sample -> box crop with jitter and photometric ops, (P, 2) points.

    Points come out in pixels of the S x S crop (pixel centers at integers), as the loss expects.
    """

    def __init__(self, task: str, size: int, scale_mean: float = 0.8, train: bool = True, hflip: bool = False) -> None:
        self.task = task
        self.size = size
        self.jitter = landmark_jitter(scale_mean)
        self.train = train
        self.hflip = hflip
        self.permutation = landmark_flip_permutation(task) if hflip else None

    def __call__(self, sample: dict, rng: np.random.Generator) -> dict:
        crop = landmark_crop_matrix(sample['box'], size=self.size, scale=1.0)
        jitter = self.jitter.sample(rng, self.size) if self.train else self.jitter.mean_matrix(self.size)
        matrix = jitter @ crop
        grid = sampling_grid(matrix, self.size)
        image = remap(image_to_unit_tensor(sample['image']), grid, 'bilinear')
        points = warp_points(sample['landmarks'], matrix).astype(np.float32)

        if self.train:
            image = random_occlusion(image, rng)
            if rng.uniform() < 0.5:
                image = noise_fusion(image, rng)
            image = random_blur(random_gamma(random_gray(image, rng), rng), rng)
            if self.hflip and rng.uniform() < 0.5:
                image = image.flip(-1)
                points = flip_landmarks(points, self.permutation, self.size)
        return {'image': normalize_clip(image), 'label': torch.from_numpy(points)}


def build_dense_transform(task: str, size: int, train: bool = True, hflip: bool = False, warp_factor: float | None = None, scale_mean: float | None = None):
    """Build the official transform of a parsing or landmark task at input side `size`."""
    task_type, dataset = task.split('_', 1)
    if task_type == 'parsing':
        if dataset == 'lapa':
            factor = LAPA_WARP_FACTOR if warp_factor is None else warp_factor
            return ParsingTransform(task, size, 'lapa', factor, train, hflip)
        return ParsingTransform(task, size, 'resize', warp_factor or 0.0, train, hflip)
    if task_type == 'align':
        default_scale = 1.0 if dataset == 'aflw' else 0.8
        return LandmarkTransform(task, size, default_scale if scale_mean is None else scale_mean, train, hflip)
    raise ValueError(f'task {task!r} is not a dense task; dense task types are parsing and align')
