"""Training and evaluation transforms of the 112 px tasks (identity, age, expression, attributes).

Transforms take an (H, W, 3) uint8 RGB image and a numpy Generator and return a (3, S, S) float32
tensor normalized with mean = std = 0.5, so x' = x / 127.5 - 1.

- Identity (MS1MV3): resize to S (a no-op for the 112 px aligned set), horizontal flip with p 0.5.
- Age, expression, attributes: the official timm `create_transform` settings, written out here.
  The center square crop (timm's RandomResizedCrop with scale (1, 1) and ratio (1, 1) falls back
  to it) is resized to S with bicubic sampling and flipped with p 0.5. RandAugment then applies
  2 ops at magnitude 9 (std 0.5) from the "increasing" op set. After normalization, RandomErasing
  fills a box with per-pixel N(0, 1) noise with p 0.25. timm ignores the config's color_jitter 0.4
  when RandAugment is on, so there is none here either.
- Evaluation: resize the whole image to S x S (bilinear; a stretch for non-square images).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
from PIL import Image, ImageEnhance, ImageOps

from ..labels import FACE_MEAN, FACE_STD

MAX_MAGNITUDE = 10.0
FILL_GRAY = (128, 128, 128)


def to_normalized_tensor(image: Image.Image) -> torch.Tensor:
    """PIL RGB image -> (3, H, W) float32 normalized with mean = std = 0.5."""
    array = torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1).to(torch.float32) / 255.0
    mean = torch.tensor(FACE_MEAN)[:, None, None]
    std = torch.tensor(FACE_STD)[:, None, None]
    return (array - mean) / std


def center_square_resize(image: Image.Image, size: int, resample: int = Image.BICUBIC) -> Image.Image:
    """Crop the centered square of side min(H, W) (top-left rounded down) and resize it to `size`."""
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    # Crop first: resize(box=...) would let the bicubic kernel read pixels outside the box.
    return image.crop((left, top, left + side, top + side)).resize((size, size), resample)


# ---------------------------------------------------------------------------------------------
# RandAugment ops. Each op takes (image, magnitude in 0..10, rng); signed ops flip their sign
# with probability 0.5. Levels follow timm's "increasing" variants: a larger magnitude is always
# a stronger change.


def _signed(value: float, rng: np.random.Generator) -> float:
    return -value if rng.uniform() > 0.5 else value


def _affine(image: Image.Image, coefficients: tuple) -> Image.Image:
    return image.transform(image.size, Image.AFFINE, coefficients, resample=Image.BICUBIC, fillcolor=FILL_GRAY)


def auto_contrast(image, magnitude, rng):
    return ImageOps.autocontrast(image)


def equalize(image, magnitude, rng):
    return ImageOps.equalize(image)


def invert(image, magnitude, rng):
    return ImageOps.invert(image)


def rotate(image, magnitude, rng):
    degrees = _signed(magnitude / MAX_MAGNITUDE * 30.0, rng)
    return image.rotate(degrees, resample=Image.BICUBIC, fillcolor=FILL_GRAY)


def posterize_increasing(image, magnitude, rng):
    bits = 4 - int(magnitude / MAX_MAGNITUDE * 4)
    return ImageOps.posterize(image, bits)


def solarize_increasing(image, magnitude, rng):
    threshold = 256 - int(magnitude / MAX_MAGNITUDE * 256)
    return ImageOps.solarize(image, threshold)


def solarize_add(image, magnitude, rng):
    """Add int(magnitude / 10 * 110) to every channel value below 128, clipped at 255."""
    amount = int(magnitude / MAX_MAGNITUDE * 110)
    table = [min(255, value + amount) if value < 128 else value for value in range(256)]
    return image.point(table * 3)


def _enhance(enhancer):
    def op(image, magnitude, rng):
        factor = 1.0 + _signed(magnitude / MAX_MAGNITUDE * 0.9, rng)
        return enhancer(image).enhance(factor)
    op.__name__ = f'{enhancer.__name__.lower()}_increasing'
    return op


def shear_x(image, magnitude, rng):
    return _affine(image, (1, _signed(magnitude / MAX_MAGNITUDE * 0.3, rng), 0, 0, 1, 0))


def shear_y(image, magnitude, rng):
    return _affine(image, (1, 0, 0, _signed(magnitude / MAX_MAGNITUDE * 0.3, rng), 1, 0))


def translate_x_relative(image, magnitude, rng):
    pixels = _signed(magnitude / MAX_MAGNITUDE * 0.45, rng) * image.size[0]
    return _affine(image, (1, 0, pixels, 0, 1, 0))


def translate_y_relative(image, magnitude, rng):
    pixels = _signed(magnitude / MAX_MAGNITUDE * 0.45, rng) * image.size[1]
    return _affine(image, (1, 0, 0, 0, 1, pixels))


RAND_AUGMENT_OPS: list[Callable] = [
    auto_contrast, equalize, invert, rotate, posterize_increasing, solarize_increasing, solarize_add,
    _enhance(ImageEnhance.Color), _enhance(ImageEnhance.Contrast), _enhance(ImageEnhance.Brightness),
    _enhance(ImageEnhance.Sharpness), shear_x, shear_y, translate_x_relative, translate_y_relative,
]


class RandAugment:
    """Apply `num_ops` ops drawn with replacement; each runs with probability `op_probability`.

    Each op draws its magnitude from N(magnitude, magnitude_std), clipped to 0..10.
    """

    def __init__(self, num_ops: int = 2, magnitude: float = 9.0, magnitude_std: float = 0.5, op_probability: float = 0.5) -> None:
        self.num_ops = num_ops
        self.magnitude = magnitude
        self.magnitude_std = magnitude_std
        self.op_probability = op_probability

    def __call__(self, image: Image.Image, rng: np.random.Generator) -> Image.Image:
        for index in rng.integers(0, len(RAND_AUGMENT_OPS), size=self.num_ops):
            if rng.uniform() > self.op_probability:
                continue
            magnitude = self.magnitude
            if self.magnitude_std > 0:
                magnitude = float(np.clip(rng.normal(self.magnitude, self.magnitude_std), 0.0, MAX_MAGNITUDE))
            image = RAND_AUGMENT_OPS[index](image, magnitude, rng)
        return image


def random_erasing(tensor: torch.Tensor, rng: np.random.Generator, probability: float = 0.25, min_area: float = 0.02, max_area: float = 1 / 3, min_aspect: float = 0.3, attempts: int = 10) -> torch.Tensor:
    """With `probability`, fill one random box of a normalized (C, H, W) tensor with N(0, 1) noise.

    The box covers U(min_area, max_area) of the image with a log-uniform aspect ratio in
    [min_aspect, 1 / min_aspect]; a draw that does not fit is retried up to `attempts` times.
    """
    if rng.uniform() >= probability:
        return tensor
    channels, height, width = tensor.shape
    log_ratio = (math.log(min_aspect), math.log(1 / min_aspect))
    for _ in range(attempts):
        area = rng.uniform(min_area, max_area) * height * width
        aspect = math.exp(rng.uniform(*log_ratio))
        box_height = int(round(math.sqrt(area * aspect)))
        box_width = int(round(math.sqrt(area / aspect)))
        if box_width < width and box_height < height:
            top = int(rng.integers(0, height - box_height + 1))
            left = int(rng.integers(0, width - box_width + 1))
            erased = tensor.clone()
            noise = rng.standard_normal((channels, box_height, box_width)).astype(np.float32)
            erased[:, top:top + box_height, left:left + box_width] = torch.from_numpy(noise)
            return erased
    return tensor


# ---------------------------------------------------------------------------------------------
# Task transforms


class AttributeTrainTransform:
    """Age / expression / attribute training transform (see the module docstring for the steps)."""

    def __init__(self, size: int = 112, rand_augment: RandAugment | None = None, erasing_probability: float = 0.25) -> None:
        self.size = size
        self.rand_augment = rand_augment or RandAugment()
        self.erasing_probability = erasing_probability

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        picture = center_square_resize(Image.fromarray(image), self.size)
        if rng.uniform() < 0.5:
            picture = picture.transpose(Image.FLIP_LEFT_RIGHT)
        picture = self.rand_augment(picture, rng)
        return random_erasing(to_normalized_tensor(picture), rng, self.erasing_probability)


class RecognitionTrainTransform:
    """Identity training transform: bilinear resize to S x S when needed, then a flip with p 0.5."""

    def __init__(self, size: int = 112) -> None:
        self.size = size

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        picture = Image.fromarray(image)
        if picture.size != (self.size, self.size):
            picture = picture.resize((self.size, self.size), Image.BILINEAR)
        if rng.uniform() < 0.5:
            picture = picture.transpose(Image.FLIP_LEFT_RIGHT)
        return to_normalized_tensor(picture)


class FaceEvalTransform:
    """112 px evaluation transform: bilinear resize of the whole image to S x S, no randomness."""

    def __init__(self, size: int = 112) -> None:
        self.size = size

    def __call__(self, image: np.ndarray, rng: np.random.Generator | None = None) -> torch.Tensor:
        picture = Image.fromarray(image)
        if picture.size != (self.size, self.size):
            picture = picture.resize((self.size, self.size), Image.BILINEAR)
        return to_normalized_tensor(picture)
