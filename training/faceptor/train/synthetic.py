"""Small synthetic datasets written in the official on-disk formats, for smoke runs and tests.

`write_synthetic_datasets(root, tasks)` writes one folder per task, which the real readers in
`faceptor.data` load unchanged. The formats are a RecordIO file for MS1MV3, list files for MORPH II,
AffectNet and RAF-DB, CelebA's text files, LaPa's image/label/landmark folders, CelebAMask-HQ's
images, part masks and split files, and a 300W CSV. Images are smooth random color fields and labels are random,
so the data exercises formats, shapes and the training code, not learning.
"""

from __future__ import annotations

import io
import os
import shutil
import struct
from pathlib import Path

import numpy as np
from PIL import Image

from ..data.recordio import RECORDIO_MAGIC
from ..labels import CELEBA_ATTRIBUTES

SYNTHETIC_IDENTITIES = 8


def smooth_image(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """(H, W, 3) uint8 image: a 4 x 4 random color grid upsampled bilinearly."""
    coarse = Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8))
    return np.asarray(coarse.resize((width, height), Image.BILINEAR))


def _save_jpeg(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path, quality=90)


def _jpeg_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format='JPEG', quality=90)
    return buffer.getvalue()


def _recordio_parts(payload: bytes) -> bytes:
    """Encode one record: split at every 4-byte-aligned magic word, as dmlc's writer does."""
    magic = struct.pack('<I', RECORDIO_MAGIC)
    pieces, start = [], 0
    for offset in range(0, len(payload) - 3, 4):
        if payload[offset:offset + 4] == magic:
            pieces.append(payload[start:offset])
            start = offset + 4
    pieces.append(payload[start:])
    encoded = b''
    for index, piece in enumerate(pieces):
        if len(pieces) == 1:
            flag = 0
        elif index == 0:
            flag = 1
        elif index == len(pieces) - 1:
            flag = 3
        else:
            flag = 2
        encoded += struct.pack('<II', RECORDIO_MAGIC, (flag << 29) | len(piece)) + piece + b'\x00' * (-len(piece) % 4)
    return encoded


def write_ms1mv3(root: Path, count: int, rng: np.random.Generator) -> None:
    """train.rec / train.idx with a header record, `count` 112 px images and identity records."""
    root.mkdir(parents=True, exist_ok=True)
    first_identity = count + 1
    records = {0: struct.pack('<IfQQ', 2, 0.0, 0, 0) + np.array([first_identity, first_identity + SYNTHETIC_IDENTITIES], dtype='<f4').tobytes()}
    for key in range(1, count + 1):
        identity = (key - 1) % SYNTHETIC_IDENTITIES
        records[key] = struct.pack('<IfQQ', 0, float(identity), key, 0) + _jpeg_bytes(smooth_image(rng, 112, 112))
    for identity in range(SYNTHETIC_IDENTITIES):
        records[first_identity + identity] = struct.pack('<IfQQ', 0, float(identity), 0, 0)
    offsets, blob = [], b''
    for key, payload in records.items():
        offsets.append(f'{key}\t{len(blob)}\n')
        blob += _recordio_parts(payload)
    (root / 'train.rec').write_bytes(blob)
    (root / 'train.idx').write_text(''.join(offsets), encoding='ascii')


def write_morph2(root: Path, count: int, rng: np.random.Generator) -> None:
    """label/RANDOM_80_20/train.txt (`relative_path age`) and data/."""
    lines = []
    for index in range(count):
        name = f'{index:05d}.jpg'
        _save_jpeg(root / 'data' / name, smooth_image(rng, 128, 128))
        lines.append(f'{name} {int(rng.integers(16, 70))}\n')
    (root / 'label' / 'RANDOM_80_20').mkdir(parents=True, exist_ok=True)
    (root / 'label' / 'RANDOM_80_20' / 'train.txt').write_text(''.join(lines), encoding='utf-8')


def write_affectnet(root: Path, count: int, rng: np.random.Generator) -> None:
    """label/train.txt (`relative_path label` with AffectNet labels 0..7) and data/."""
    lines = []
    for index in range(count):
        name = f'{index:05d}.jpg'
        _save_jpeg(root / 'data' / name, smooth_image(rng, 120, 120))
        lines.append(f'{name} {int(rng.integers(0, 8))}\n')
    (root / 'label').mkdir(parents=True, exist_ok=True)
    (root / 'label' / 'train.txt').write_text(''.join(lines), encoding='utf-8')


def write_rafdb(root: Path, count: int, rng: np.random.Generator) -> None:
    """label.txt (`train_00001.jpg 1..7`) and data/ with 100 x 100 images."""
    lines = []
    for index in range(1, count + 1):
        name = f'train_{index:05d}.jpg'
        _save_jpeg(root / 'data' / name, smooth_image(rng, 100, 100))
        lines.append(f'{name} {int(rng.integers(1, 8))}\n')
    root.mkdir(parents=True, exist_ok=True)
    (root / 'label.txt').write_text(''.join(lines), encoding='utf-8')


def write_celeba(root: Path, count: int, rng: np.random.Generator) -> None:
    """list_attr_celeba.txt, list_eval_partition.txt (all train) and img_align_celeba/ at 178 x 218."""
    rows, partition = [], []
    for index in range(1, count + 1):
        name = f'{index:06d}.jpg'
        _save_jpeg(root / 'img_align_celeba' / name, smooth_image(rng, 218, 178))
        values = ' '.join('1' if bit else '-1' for bit in rng.integers(0, 2, len(CELEBA_ATTRIBUTES)))
        rows.append(f'{name} {values}\n')
        partition.append(f'{name} 0\n')
    (root / 'list_attr_celeba.txt').write_text(f'{count}\n{" ".join(CELEBA_ATTRIBUTES)}\n' + ''.join(rows), encoding='utf-8')
    (root / 'list_eval_partition.txt').write_text(''.join(partition), encoding='utf-8')


def _face_landmarks(rng: np.random.Generator, count: int, center: float, spread: float) -> np.ndarray:
    return (center + rng.uniform(-spread, spread, (count, 2))).astype(np.float32)


def write_lapa(root: Path, count: int, rng: np.random.Generator, size: int = 256) -> None:
    """train/{images,labels,landmarks}/ with 11-class label maps and 106 landmarks."""
    folder = root / 'train'
    for sub in ('images', 'labels', 'landmarks'):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for index in range(count):
        name = f'synthetic_{index:04d}'
        _save_jpeg(folder / 'images' / f'{name}.jpg', smooth_image(rng, size, size))
        label = np.zeros((size, size), dtype=np.uint8)
        label[size // 4: 3 * size // 4, size // 4: 3 * size // 4] = rng.integers(1, 11)
        label[: size // 8] = 10
        Image.fromarray(label).save(folder / 'labels' / f'{name}.png')
        points = _face_landmarks(rng, 106, size / 2, size / 4)
        points[[104, 105, 54, 84, 90]] = np.array([[0.4, 0.42], [0.6, 0.42], [0.5, 0.55], [0.42, 0.7], [0.58, 0.7]]) * size
        text = '106\n' + ''.join(f'{x:.3f} {y:.3f}\n' for x, y in points)
        (folder / 'landmarks' / f'{name}.txt').write_text(text, encoding='utf-8')


def write_celebamask(root: Path, count: int, rng: np.random.Generator, size: int = 512) -> None:
    """CelebA-HQ-img/, CelebAMask-HQ-mask-anno/0/ part masks, the HQ mapping and the partition file."""
    mapping, partition = ['idx orig_idx orig_file\n'], []
    for hq_id in range(count):
        _save_jpeg(root / 'CelebA-HQ-img' / f'{hq_id}.jpg', smooth_image(rng, size, size))
        mask_dir = root / 'CelebAMask-HQ-mask-anno' / str(hq_id // 2000)
        mask_dir.mkdir(parents=True, exist_ok=True)
        for part in ('skin', 'hair', 'nose'):
            mask = np.zeros((size, size), dtype=np.uint8)
            top = int(rng.integers(0, size // 2))
            mask[top: top + size // 3, size // 4: 3 * size // 4] = 255
            Image.fromarray(mask).save(mask_dir / f'{hq_id:05d}_{part}.png')
        original = f'{hq_id + 1:06d}.jpg'
        mapping.append(f'{hq_id} {hq_id + 1} {original}\n')
        partition.append(f'{original} 0\n')
    (root / 'CelebA-HQ-to-CelebA-mapping.txt').write_text(''.join(mapping), encoding='utf-8')
    (root / 'list_eval_partition.txt').write_text(''.join(partition), encoding='utf-8')


def write_300w(root: Path, count: int, rng: np.random.Generator, size: int = 256) -> None:
    """face_landmarks_300w_train.csv (HRNet layout) and data/."""
    header = 'image_name,scale,center_w,center_h,' + ','.join(f'original_{i}_x,original_{i}_y' for i in range(68))
    rows = [header + '\n']
    for index in range(count):
        name = f'synthetic/{index:04d}.jpg'
        _save_jpeg(root / 'data' / name, smooth_image(rng, size, size))
        points = _face_landmarks(rng, 68, size / 2, size / 5)
        coordinates = ','.join(f'{x:.3f},{y:.3f}' for x, y in points)
        rows.append(f'{name},{size * 0.6 / 200:.4f},{size / 2:.1f},{size / 2:.1f},{coordinates}\n')
    root.mkdir(parents=True, exist_ok=True)
    (root / 'face_landmarks_300w_train.csv').write_text(''.join(rows), encoding='utf-8')


# Task key -> (writer, folder name, reader_options the written layout needs).
WRITERS = {
    'recog_ms1mv3': (write_ms1mv3, 'MS1MV3', {}),
    'age_morph2': (write_morph2, 'MORPH2', {}),
    'biattr_celeba': (write_celeba, 'CelebA', {}),
    'affect_affectnet': (write_affectnet, 'AffectNet', {}),
    'affect_rafdb': (write_rafdb, 'RAF-DB', {}),
    'parsing_lapa': (write_lapa, 'LaPa', {}),
    'parsing_celebam': (write_celebamask, 'CelebAMask-HQ', {}),
    'align_300w': (write_300w, '300W', {}),
}

# Reader split of each synthetic layout.
SPLITS = {'biattr_celeba': 'train', 'parsing_lapa': 'train', 'parsing_celebam': 'train'}


def write_synthetic_datasets(root: str | Path, tasks: list[str], count: int = 12, seed: int = 0) -> dict[str, dict]:
    """Write `count` samples per task under `root`; returns {task: {'root', 'split', 'reader_options'}}.

    A task folder that already exists is reused as is. Each folder is written under a temporary
    name and renamed into place, so processes that start together (torchrun ranks) never read a
    half-written folder. The first rename wins, and the others discard their identical copy.
    """
    unknown = [task for task in tasks if task not in WRITERS]
    if unknown:
        raise ValueError(f'no synthetic writer for task(s) {unknown}; available: {", ".join(WRITERS)}')
    root = Path(root)
    entries = {}
    for offset, task in enumerate(tasks):
        writer, folder, options = WRITERS[task]
        target = root / folder
        if not target.exists():
            temporary = root / f'.{folder}.partial-{os.getpid()}'
            writer(temporary, count, np.random.default_rng([seed, offset]))
            try:
                os.rename(temporary, target)
            except OSError:
                if not target.exists():
                    raise
                shutil.rmtree(temporary)
        entries[task] = {'root': str(root / folder), 'split': SPLITS.get(task, 'train'), 'reader_options': dict(options)}
    return entries


def use_synthetic_data(config: dict, folder: str | Path) -> dict[str, dict]:
    """Write synthetic datasets for the tasks of a config dict and point those tasks at them.

    Sets every task's root, split and reader_options, clears data_root, and sets num_identities
    to the synthetic MS1MV3 identity count. Returns the written entries.
    """
    entries = write_synthetic_datasets(folder, [task['name'] for task in config.get('tasks', [])], seed=int(config.get('seed', 0)))
    config['data_root'] = ''
    config['num_identities'] = SYNTHETIC_IDENTITIES
    for task in config['tasks']:
        task.update(entries[task['name']])
    return entries
