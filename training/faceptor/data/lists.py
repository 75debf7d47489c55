"""Shared pieces of the list-file readers: label records, line parsing and the base dataset."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from torch.utils.data import Dataset

from .errors import DatasetFormatError, require_file
from .images import read_rgb


@dataclass(frozen=True)
class LabeledImage:
    """One image with its labels, and the list-file line that named it."""

    image_path: Path
    labels: dict
    """Sample fields other than the image, for example {'age': 31}."""
    source: str
    """'<label file>, line <n>' (or the image path for folder scans), for error messages."""


def text_lines(path: Path, description: str) -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, stripped line) for the non-blank lines of a text file."""
    require_file(path, description)
    with open(path, encoding='utf-8') as handle:
        for number, line in enumerate(handle, start=1):
            stripped = line.strip()
            if stripped:
                yield number, stripped


def parse_int(text: str, path: Path, line: int, field: str, low: int | None = None, high: int | None = None) -> int:
    """Parse an integer field, raising DatasetFormatError that names the file, line and value."""
    try:
        value = int(text)
    except ValueError:
        raise DatasetFormatError(path, f'{field} must be an integer', line, text) from None
    if (low is not None and value < low) or (high is not None and value > high):
        raise DatasetFormatError(path, f'{field} must be in {low}..{high}', line, value)
    return value


def parse_float(text: str, path: Path, line: int, field: str) -> float:
    """Parse a finite float field, raising DatasetFormatError that names the file, line and value."""
    try:
        value = float(text)
    except ValueError:
        raise DatasetFormatError(path, f'{field} must be a number', line, text) from None
    if value != value or value in (float('inf'), float('-inf')):
        raise DatasetFormatError(path, f'{field} must be finite', line, text)
    return value


class ImageListDataset(Dataset):
    """A dataset of `LabeledImage` records whose images are decoded on access.

    Samples: {'image': (H, W, 3) uint8 RGB, 'task': <task key>, 'name': <image path>, **labels}.
    """

    task = ''

    def __init__(self, records: list[LabeledImage]) -> None:
        self.records = records

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict:
        record = self.records[index]
        image = read_rgb(record.image_path, record.source)
        labels = {key: value.copy() if isinstance(value, np.ndarray) else value for key, value in record.labels.items()}
        return {'image': image, 'task': self.task, 'name': str(record.image_path), **labels}
