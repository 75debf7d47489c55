"""Landmark readers: 300W (68 points), WFLW (98), COFW (29) and AFLW-19 (19).

Every sample contains the image, the landmarks as a (P, 2) float32 array of (x, y) pixels of the
original image (pixel centers at integer coordinates), and the face box as (4,) float32
(y1, x1, y2, x2) in the same frame, chosen per dataset:

- 300W and WFLW (HRNet-style CSV: image path, scale, center_w, center_h, then x,y pairs): a square
  of side 200 * scale around the center. For 300W the official loader (following FaRL) subtracts
  2.0 px from both the center and every landmark coordinate; WFLW is used as stored.
- COFW: the square whose side is the larger side of the landmarks' bounding box, with the box
  edges rounded outward to whole pixels (floor of the minimum, ceil of the maximum), centered on it.
- AFLW-19: the provided box, stored as (left, right, top, bottom).

COFW and AFLW-19 are published as MATLAB files. Without scipy they are read from the conversions
that `faceptor.data.mat_convert` writes (see there for the exact layouts).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from .errors import DatasetFormatError, check_split, require_file
from .images import read_rgb
from .lists import parse_float

# The 300W image whose published file name has a space; HRNet's CSV lists it without.
IBUG300W_RENAMED = {'ibug/image_092_01.jpg': 'ibug/image_092 _01.jpg'}
IBUG300W_SHIFT = 2.0
HRNET_BOX_SIDE = 200.0
AFLW_TRAIN_COUNT = 20000


def square_box(center_x: float, center_y: float, side: float) -> np.ndarray:
    """(y1, x1, y2, x2) float32 of the square of `side` centered on (center_x, center_y)."""
    half = side / 2.0
    return np.array([center_y - half, center_x - half, center_y + half, center_x + half], dtype=np.float32)


def landmark_box(landmarks: np.ndarray) -> np.ndarray:
    """COFW's box: the square over the landmarks' bounding box rounded outward, side = its larger side."""
    x_min, y_min = np.floor(landmarks.min(axis=0))
    x_max, y_max = np.ceil(landmarks.max(axis=0))
    side = max(x_max - x_min, y_max - y_min)
    return square_box((x_min + x_max) / 2.0, (y_min + y_max) / 2.0, float(side))


def landmark_crop_matrix(box: np.ndarray, size: int = 512, scale: float = 0.8) -> np.ndarray:
    """(3, 3) float64 matrix from original pixels to the `size` crop of a (y1, x1, y2, x2) box.

    x' = (x - x1) / (x2 - x1) * size - 0.5, then x'' = scale * (x' - c) + c with c = (size - 1) / 2,
    and the same for y. `scale` is 0.8 for 300W, WFLW and COFW, 1.0 for AFLW-19.
    """
    y1, x1, y2, x2 = (float(v) for v in box)
    to_crop = np.array([
        [size / (x2 - x1), 0.0, -x1 * size / (x2 - x1) - 0.5],
        [0.0, size / (y2 - y1), -y1 * size / (y2 - y1) - 0.5],
        [0.0, 0.0, 1.0],
    ])
    center = (size - 1) / 2.0
    about_center = np.array([[scale, 0.0, center * (1 - scale)], [0.0, scale, center * (1 - scale)], [0.0, 0.0, 1.0]])
    return about_center @ to_crop


class HRNetCsvDataset(Dataset):
    """Shared reader of the HRNet-style landmark CSVs (300W, WFLW) under `root`, images under `root/data/`.

    Samples: {'image', 'task', 'name', 'landmarks': (P, 2) float32, 'box': (4,) float32 y1, x1, y2, x2}.
    """

    task = ''
    num_points = 0
    shift = 0.0
    renamed: dict[str, str] = {}
    csv_prefix = ''
    splits: tuple[str, ...] = ()

    def __init__(self, root: str | Path, split: str) -> None:
        check_split(split, self.splits, self.csv_prefix)
        self.root = Path(root)
        self.csv_path = require_file(self.root / f'{self.csv_prefix}_{split}.csv', 'landmark CSV')
        self.items = self._read_csv()

    def _read_csv(self) -> list[tuple[Path, np.ndarray, np.ndarray, str]]:
        items = []
        with open(self.csv_path, encoding='utf-8', newline='') as handle:
            for number, row in enumerate(csv.reader(handle), start=1):
                if number == 1 or not row or row[0].strip().startswith('#'):
                    continue  # header row, blank lines and comments
                items.append(self._parse_row(row, number))
        return items

    def _parse_row(self, row: list[str], number: int) -> tuple[Path, np.ndarray, np.ndarray, str]:
        expected = 4 + 2 * self.num_points
        if len(row) != expected:
            raise DatasetFormatError(
                self.csv_path,
                f'expected {expected} columns (image, scale, center_w, center_h, {self.num_points} x,y pairs)',
                number,
                len(row),
            )
        values = [parse_float(text, self.csv_path, number, 'CSV value') for text in row[1:]]
        scale, center_x, center_y = values[0], values[1] - self.shift, values[2] - self.shift
        if scale <= 0:
            raise DatasetFormatError(self.csv_path, 'scale must be positive', number, row[1])
        landmarks = np.array(values[3:], dtype=np.float32).reshape(self.num_points, 2) - np.float32(self.shift)
        box = square_box(center_x, center_y, HRNET_BOX_SIDE * scale)
        image_path = self.root / 'data' / self.renamed.get(row[0], row[0])
        return image_path, landmarks, box, f'{self.csv_path}, line {number}'

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        image_path, landmarks, box, source = self.items[index]
        image = read_rgb(image_path, source)
        name = str(image_path)
        return {'image': image, 'task': self.task, 'name': name, 'landmarks': landmarks.copy(), 'box': box.copy()}


class IBUG300WDataset(HRNetCsvDataset):
    """300W from `face_landmarks_300w_<split>.csv`; center and landmarks shifted by -2.0 px."""

    task = 'align_300w'
    num_points = 68
    shift = IBUG300W_SHIFT
    renamed = IBUG300W_RENAMED
    csv_prefix = 'face_landmarks_300w'
    splits = ('train', 'valid', 'valid_common', 'valid_challenge', 'test')


class WFLWDataset(HRNetCsvDataset):
    """WFLW from `face_landmarks_wflw_<split>.csv`, used as stored."""

    task = 'align_wflw'
    num_points = 98
    csv_prefix = 'face_landmarks_wflw'
    splits = (
        'train', 'test', 'test_blur', 'test_expression', 'test_illumination', 'test_largepose', 'test_makeup',
        'test_occlusion',
    )


class COFWDataset(Dataset):
    """COFW from the conversion `cofw_<split>.csv` (header, then image path relative to `root` and 29 x,y pairs).

    Samples: {'image', 'task': 'align_cofw', 'name', 'landmarks': (29, 2) float32, 'box': (4,) float32}.
    """

    task = 'align_cofw'
    num_points = 29
    splits = ('train', 'test')

    def __init__(self, root: str | Path, split: str) -> None:
        check_split(split, self.splits, 'COFW')
        self.root = Path(root)
        self.csv_path = require_file(
            self.root / f'cofw_{split}.csv', 'COFW CSV (write it with faceptor.data.mat_convert cofw)'
        )
        self.items = []
        with open(self.csv_path, encoding='utf-8', newline='') as handle:
            for number, row in enumerate(csv.reader(handle), start=1):
                if number == 1 or not row:
                    continue
                if len(row) != 1 + 2 * self.num_points:
                    raise DatasetFormatError(
                        self.csv_path,
                        f'expected {1 + 2 * self.num_points} columns (image, 29 x,y pairs)',
                        number,
                        len(row),
                    )
                values = [parse_float(text, self.csv_path, number, 'landmark coordinate') for text in row[1:]]
                landmarks = np.array(values, dtype=np.float32).reshape(self.num_points, 2)
                self.items.append((self.root / row[0], landmarks, f'{self.csv_path}, line {number}'))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        image_path, landmarks, source = self.items[index]
        image = read_rgb(image_path, source)
        box = landmark_box(landmarks)
        return {'image': image, 'task': self.task, 'name': str(image_path), 'landmarks': landmarks.copy(), 'box': box}


class AFLW19Dataset(Dataset):
    """AFLW-19 from `AFLWinfo_release.npz` (the converted `AFLWinfo_release.mat`), images under `root/data/flickr/`.

    Splits follow the official random order `ra`: train = its first `train_count` entries,
    test_full = the rest, test_frontal = the test_full images with all 19 points visible.
    Samples: {'image', 'task': 'align_aflw', 'name', 'landmarks': (19, 2) float32,
    'box': (4,) float32, 'visibility': (19,) float32}.
    """

    task = 'align_aflw'
    num_points = 19
    splits = ('train', 'test_full', 'test_frontal')

    def __init__(self, root: str | Path, split: str, train_count: int = AFLW_TRAIN_COUNT) -> None:
        check_split(split, self.splits, 'AFLW-19')
        self.root = Path(root)
        self.info_path = require_file(
            self.root / 'AFLWinfo_release.npz', 'AFLW-19 annotation (write it with faceptor.data.mat_convert aflw)'
        )
        info = load_aflw_info(self.info_path)
        self.bbox, self.points = info['bbox'], info['data']
        self.visibility, self.names = info['mask_new'], info['name_list']
        order = info['ra'].astype(np.int64) - 1  # MATLAB's 1-based order
        test = order[train_count:]
        if split == 'train':
            self.indices = order[:train_count]
        elif split == 'test_full':
            self.indices = test
        else:
            self.indices = test[np.all(self.visibility[test] == 1, axis=1)]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> dict:
        row = int(self.indices[index])
        image_path = self.root / 'data' / 'flickr' / str(self.names[row])
        image = read_rgb(image_path, f'{self.info_path} row {row}')
        landmarks = self.points[row].reshape(2, self.num_points).T.astype(np.float32)  # x1..x19, y1..y19
        left, right, top, bottom = self.bbox[row]
        box = np.array([top, left, bottom, right], dtype=np.float32)
        return {
            'image': image, 'task': self.task, 'name': str(self.names[row]), 'landmarks': landmarks.copy(),
            'box': box, 'visibility': self.visibility[row].astype(np.float32),
        }


def load_aflw_info(path: Path) -> dict[str, np.ndarray]:
    """Load and check the AFLW-19 arrays: bbox (N, 4), data (N, 38), mask_new (N, 19), name_list (N,), ra (N,)."""
    with np.load(path, allow_pickle=False) as archive:
        missing = [k for k in ('bbox', 'data', 'mask_new', 'name_list', 'ra') if k not in archive.files]
        if missing:
            raise DatasetFormatError(path, f'missing array(s) {", ".join(missing)}')
        info = {key: archive[key] for key in ('bbox', 'data', 'mask_new', 'name_list', 'ra')}
    count = info['bbox'].shape[0]
    shapes = {'bbox': (count, 4), 'data': (count, 38), 'mask_new': (count, 19), 'name_list': (count,), 'ra': (count,)}
    for key, shape in shapes.items():
        if info[key].shape != shape:
            raise DatasetFormatError(path, f'array {key} must have shape {shape}', value=info[key].shape)
    if sorted(info['ra'].astype(np.int64).tolist()) != list(range(1, count + 1)):
        raise DatasetFormatError(path, f'ra must be a permutation of 1..{count}')
    return info
