"""Image decoding and resizing shared by the dataset readers.

Every reader returns images as HWC uint8 RGB numpy arrays. PIL decodes JPEG and PNG files;
grayscale files are repeated over three channels.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .errors import DatasetFormatError

try:
    from PIL import Image
except ImportError as error:  # pragma: no cover - Debian's python3-pil comes with python3-torchvision
    raise ImportError('the dataset readers need PIL: apt-get install python3-pil') from error


def _to_rgb_array(image: 'Image.Image') -> np.ndarray:
    return np.asarray(image.convert('RGB'), dtype=np.uint8).copy()  # (H, W, 3)


def read_rgb(path: str | Path, referenced_by: str = '') -> np.ndarray:
    """Decode an image file to an (H, W, 3) uint8 RGB array.

    `referenced_by` names the label file and line that listed the image, so a missing or broken
    image points back at the list that named it.
    """
    suffix = f' (listed in {referenced_by})' if referenced_by else ''
    try:
        with Image.open(path) as image:
            return _to_rgb_array(image)
    except FileNotFoundError:
        raise DatasetFormatError(path, f'image file not found{suffix}') from None
    except (OSError, ValueError) as error:
        raise DatasetFormatError(path, f'cannot decode image{suffix}: {error}') from error


def decode_rgb(data: bytes, source: str) -> np.ndarray:
    """Decode encoded image bytes (JPEG, PNG) to an (H, W, 3) uint8 RGB array; `source` names them in errors."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return _to_rgb_array(image)
    except (OSError, ValueError) as error:
        raise DatasetFormatError(source, f'cannot decode the image bytes: {error}') from error


def read_gray(path: str | Path, referenced_by: str = '') -> np.ndarray:
    """Decode an image file to an (H, W) uint8 array.

    Single-channel and palette PNGs keep their stored values (label maps); RGB files are converted
    to luma, as a grayscale read of a mask does.
    """
    suffix = f' (listed in {referenced_by})' if referenced_by else ''
    try:
        with Image.open(path) as image:
            if image.mode in ('L', 'P'):
                return np.array(image, dtype=np.uint8)  # palette images keep their indices
            return np.array(image.convert('L'), dtype=np.uint8)
    except FileNotFoundError:
        raise DatasetFormatError(path, f'label image not found{suffix}') from None
    except (OSError, ValueError) as error:
        raise DatasetFormatError(path, f'cannot decode label image{suffix}: {error}') from error


def resize_bilinear(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize an (H, W, 3) uint8 image with bilinear sampling at pixel centers, no antialiasing.

    Source coordinates are (dst + 0.5) * scale - 0.5, as in cv2.INTER_LINEAR, so a 2x reduction
    averages 2x2 blocks. cv2 computes in fixed point, so results can differ from cv2 by 1 level.
    """
    if image.shape[0] == height and image.shape[1] == width:
        return image.copy()
    tensor = torch.from_numpy(image).permute(2, 0, 1)[None].float()  # (1, 3, H, W)
    resized = F.interpolate(tensor, size=(height, width), mode='bilinear', align_corners=False)
    return resized[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()
