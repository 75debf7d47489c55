"""Face parsing readers: CelebAMask-HQ (19 classes) and LaPa (11 classes).

CelebAMask-HQ under `root`:
- `CelebA-HQ-img/<id>.jpg`, 1024 x 1024, resized here to 512 x 512 (bilinear at pixel centers).
- `CelebAMask-HQ-mask-anno/<id // 2000>/<id:05d>_<part>.png`, 512 x 512, one file per part present.
- `CelebA-HQ-to-CelebA-mapping.txt` (`idx orig_idx orig_file`) and CelebA's `list_eval_partition.txt`
  choose the split through each HQ image's original CelebA file.
The label map starts at 0 (background), and the part masks are painted in `CELEBAMASK_PARTS` order
with values 1..18, later parts overwriting earlier ones wherever their mask is non-zero.

LaPa under `root/<split>/`: `images/<name>.jpg`, `labels/<name>.png` (values 0..10) and
`landmarks/<name>.txt` (first the point count 106, then 106 `x y` pairs).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from .errors import DatasetFormatError, check_split
from .images import read_gray, read_rgb, resize_bilinear
from .lists import parse_float, text_lines

CELEBAMASK_PARTS = (
    'neck', 'skin', 'cloth', 'l_ear', 'r_ear', 'l_brow', 'r_brow', 'l_eye', 'r_eye', 'nose',
    'mouth', 'l_lip', 'u_lip', 'hair', 'eye_g', 'hat', 'ear_r', 'neck_l',
)
CELEBAMASK_SIZE = 512
CELEBAMASK_SPLITS = {'train': (0,), 'val': (1,), 'test': (2,), 'train_val': (0, 1)}
LAPA_NUM_CLASSES = 11
LAPA_NUM_LANDMARKS = 106
LAPA_SPLITS = {'train': ('train',), 'val': ('val',), 'test': ('test',), 'train_val': ('train', 'val')}


def paint_celebamask_label(mask_dir: Path, hq_id: int, size: int = CELEBAMASK_SIZE) -> np.ndarray:
    """Build the (size, size) uint8 label map of one CelebAMask-HQ image from its part masks.

    Parts are painted in `CELEBAMASK_PARTS` order as values 1..18; a missing part file is skipped.
    """
    label = np.zeros((size, size), dtype=np.uint8)
    folder = mask_dir / str(hq_id // 2000)
    for value, part in enumerate(CELEBAMASK_PARTS, start=1):
        path = folder / f'{hq_id:05d}_{part}.png'
        if not path.is_file():
            continue
        mask = read_gray(path)
        if mask.shape != (size, size):
            raise DatasetFormatError(path, f'mask must be {size} x {size}', value=f'{mask.shape[1]} x {mask.shape[0]}')
        label[mask > 0] = value
    return label


def read_hq_mapping(path: Path) -> dict[str, int]:
    """Read `CelebA-HQ-to-CelebA-mapping.txt` into {original CelebA file name: HQ id}."""
    mapping = {}
    for number, line in text_lines(path, 'CelebA-HQ-to-CelebA mapping file'):
        if '.jpg' not in line:
            continue  # the header row
        fields = line.split()
        if len(fields) != 3 or not fields[0].isdigit():
            raise DatasetFormatError(path, 'expected "idx orig_idx orig_file"', number, line)
        mapping[fields[2]] = int(fields[0])
    return mapping


class CelebAMaskHQDataset(Dataset):
    """CelebAMask-HQ images at 512 x 512 with their painted 19-class label maps.

    Samples: {'image': (512, 512, 3) uint8, 'task': 'parsing_celebam', 'name': str(HQ id),
    'label_map': (512, 512) uint8 in 0..18}. Splits: train, val, test, train_val.
    """

    task = 'parsing_celebam'
    splits = tuple(CELEBAMASK_SPLITS)

    def __init__(self, root: str | Path, split: str) -> None:
        check_split(split, self.splits, 'CelebAMask-HQ')
        self.root = Path(root)
        mapping = read_hq_mapping(self.root / 'CelebA-HQ-to-CelebA-mapping.txt')
        partition_path = self.root / 'list_eval_partition.txt'
        groups = CELEBAMASK_SPLITS[split]
        self.hq_ids = []
        for number, line in text_lines(partition_path, 'CelebA partition file'):
            fields = line.split()
            if len(fields) != 2 or fields[1] not in ('0', '1', '2'):
                raise DatasetFormatError(partition_path, 'expected "image_name 0|1|2"', number, line)
            if int(fields[1]) in groups and fields[0] in mapping:
                self.hq_ids.append(mapping[fields[0]])

    def __len__(self) -> int:
        return len(self.hq_ids)

    def __getitem__(self, index: int) -> dict:
        hq_id = self.hq_ids[index]
        image = read_rgb(self.root / 'CelebA-HQ-img' / f'{hq_id}.jpg')
        image = resize_bilinear(image, CELEBAMASK_SIZE, CELEBAMASK_SIZE)
        label = paint_celebamask_label(self.root / 'CelebAMask-HQ-mask-anno', hq_id)
        return {'image': image, 'task': self.task, 'name': str(hq_id), 'label_map': label}


def read_lapa_landmarks(path: Path) -> np.ndarray:
    """Read a LaPa landmark file into a (106, 2) float32 array of (x, y) image pixels."""
    tokens: list[tuple[int, str]] = []
    for number, line in text_lines(path, 'LaPa landmark file'):
        tokens += [(number, token) for token in line.split()]
    first_line, first_value = tokens[0] if tokens else (None, None)
    if first_value != str(LAPA_NUM_LANDMARKS):
        raise DatasetFormatError(
            path,
            f'the first value must be the point count {LAPA_NUM_LANDMARKS}',
            first_line,
            first_value,
        )
    if len(tokens) != 1 + 2 * LAPA_NUM_LANDMARKS:
        raise DatasetFormatError(
            path, f'expected {2 * LAPA_NUM_LANDMARKS} coordinates after the count', value=len(tokens) - 1
        )
    values = [parse_float(text, path, number, 'landmark coordinate') for number, text in tokens[1:]]
    return np.array(values, dtype=np.float32).reshape(LAPA_NUM_LANDMARKS, 2)


class LaPaDataset(Dataset):
    """LaPa images with their 11-class label maps and 106 landmarks, in the original image frame.

    Samples: {'image': (H, W, 3) uint8, 'task': 'parsing_lapa', 'name': '<split>.<name>',
    'label_map': (H, W) uint8 in 0..10, 'landmarks': (106, 2) float32 (x, y)}.
    Splits: train, val, test, train_val. Names are sorted, so the order is the same on every machine.
    """

    task = 'parsing_lapa'
    splits = tuple(LAPA_SPLITS)

    def __init__(self, root: str | Path, split: str) -> None:
        check_split(split, self.splits, 'LaPa')
        self.root = Path(root)
        self.items: list[tuple[str, str]] = []
        for folder in LAPA_SPLITS[split]:
            image_dir = self.root / folder / 'images'
            if not image_dir.is_dir():
                raise DatasetFormatError(image_dir, 'LaPa image folder not found')
            names = sorted(p.stem for p in image_dir.iterdir() if p.suffix == '.jpg')
            self.items += [(folder, name) for name in names]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        folder, name = self.items[index]
        base = self.root / folder
        image = read_rgb(base / 'images' / f'{name}.jpg')
        label_path = base / 'labels' / f'{name}.png'
        label = read_gray(label_path)
        if label.shape != image.shape[:2]:
            raise DatasetFormatError(
                label_path,
                f'label map size must match the image, {image.shape[1]} x {image.shape[0]}',
                value=f'{label.shape[1]} x {label.shape[0]}',
            )
        if label.max() >= LAPA_NUM_CLASSES:
            raise DatasetFormatError(
                label_path, f'label values must be in 0..{LAPA_NUM_CLASSES - 1}', value=int(label.max())
            )
        landmarks = read_lapa_landmarks(base / 'landmarks' / f'{name}.txt')
        name = f'{folder}.{name}'
        return {'image': image, 'task': self.task, 'name': name, 'label_map': label, 'landmarks': landmarks}


def lapa_five_points(landmarks: np.ndarray) -> np.ndarray:
    """Select the (5, 2) alignment points of LaPa's 106 landmarks.

    The points are the eye centers #104 and #105, the nose tip #54 and the mouth corners #84 and #90.
    """
    return landmarks[[104, 105, 54, 84, 90]].astype(np.float32)
