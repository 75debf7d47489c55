"""Convert the MATLAB annotation files of COFW and AFLW-19 into the forms the readers load.

The readers avoid a scipy dependency, so the `.mat` files are converted once, on a machine with
scipy (AFLW-19, MATLAB v5) or hdf5storage (COFW, as the official loader reads it):

- AFLW-19 `AFLWinfo_release.mat` -> `AFLWinfo_release.npz` with the arrays bbox (N, 4: left, right,
  top, bottom), data (N, 38: x1..x19, y1..y19), mask_new (N, 19), name_list (N,) str and
  ra (N,), MATLAB's 1-based random order.
- COFW `COFW_{train,test}_color.mat` (images `IsTr`/`IsT`, points `phisTr`/`phisT`, whose first 58
  columns are x1..x29 then y1..y29) -> `images/<split>/<n:04d>.png` plus `cofw_<split>.csv` with a
  header row and one `image path, x0, y0, ..., x28, y28` row per image.

Usage: python3 -m faceptor.data.mat_convert aflw --mat AFLWinfo_release.mat --out <aflw root>
       python3 -m faceptor.data.mat_convert cofw --mat COFW_train_color.mat --split train --out <cofw root>
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Mapping

import numpy as np

from .errors import DatasetFormatError

COFW_KEYS = {'train': ('IsTr', 'phisTr'), 'test': ('IsT', 'phisT')}
COFW_POINTS = 29


def load_mat(path: Path) -> Mapping:
    """Load a MATLAB file with scipy.io (v5) or hdf5storage (v7.3); raise ImportError naming both."""
    try:
        import scipy.io
    except ImportError:
        scipy = None
    if scipy is not None:
        try:
            return scipy.io.loadmat(str(path))
        except NotImplementedError:
            pass  # a v7.3 (HDF5) file; try hdf5storage below
    try:
        import hdf5storage
    except ImportError:
        raise ImportError(
            f'reading {path} needs scipy (MATLAB v5 files) or hdf5storage (v7.3 files); '
            'run this conversion where one is installed'
        ) from None
    return hdf5storage.loadmat(str(path))


def _matlab_string(cell: object) -> str:
    value = np.asarray(cell)
    while value.dtype == object or value.ndim > 0 and value.dtype.kind != 'U':
        value = np.asarray(value.reshape(-1)[0])  # unwrap nested cells and 1 x 1 arrays
    return str(value.reshape(-1)[0]) if value.ndim else str(value)


def aflw_arrays(info: Mapping) -> dict[str, np.ndarray]:
    """Arrays of `AFLWinfo_release.npz` from the loaded `AFLWinfo_release.mat` dict."""
    missing = [key for key in ('bbox', 'data', 'mask_new', 'nameList', 'ra') if key not in info]
    if missing:
        raise DatasetFormatError('AFLWinfo_release.mat', f'missing variable(s) {", ".join(missing)}')
    names = [_matlab_string(cell) for cell in np.asarray(info['nameList'], dtype=object).reshape(-1)]
    return {
        'bbox': np.asarray(info['bbox'], dtype=np.float64),
        'data': np.asarray(info['data'], dtype=np.float64),
        'mask_new': np.asarray(info['mask_new'], dtype=np.float64),
        'name_list': np.array(names, dtype=str),
        'ra': np.asarray(info['ra']).reshape(-1).astype(np.int64),
    }


def cofw_samples(mat: Mapping, split: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """(image (H, W) or (H, W, 3) uint8, landmarks (29, 2) float64) pairs of a loaded COFW file."""
    image_key, points_key = COFW_KEYS[split]
    if image_key not in mat or points_key not in mat:
        raise DatasetFormatError(
            f'COFW {split} .mat', f'missing variable {image_key} or {points_key}; is this the {split} file?'
        )
    images = np.asarray(mat[image_key], dtype=object).reshape(-1)
    points = np.asarray(mat[points_key], dtype=np.float64)
    if points.ndim != 2 or points.shape[0] != images.shape[0] or points.shape[1] < 2 * COFW_POINTS:
        raise DatasetFormatError(
            f'COFW {split} .mat', f'{points_key} must have one row of at least 58 values per image', value=points.shape
        )
    samples = []
    for image, row in zip(images, points):
        landmarks = row[: 2 * COFW_POINTS].reshape(2, COFW_POINTS).T  # x1..x29 then y1..y29
        samples.append((np.asarray(image, dtype=np.uint8), landmarks))
    return samples


def write_cofw(samples: list[tuple[np.ndarray, np.ndarray]], split: str, out: Path) -> Path:
    """Write the images as PNG and the landmarks as `cofw_<split>.csv` under `out`; return the CSV path."""
    from PIL import Image

    image_dir = out / 'images' / split
    image_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out / f'cofw_{split}.csv'
    with open(csv_path, 'w', encoding='utf-8', newline='') as handle:
        writer = csv.writer(handle)
        writer.writerow(['image'] + [f'{axis}{i}' for i in range(COFW_POINTS) for axis in 'xy'])
        for number, (image, landmarks) in enumerate(samples, start=1):
            relative = f'images/{split}/{number:04d}.png'
            Image.fromarray(image).save(out / relative)
            writer.writerow([relative] + [repr(float(v)) for v in landmarks.reshape(-1)])
    return csv_path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description='Convert COFW or AFLW-19 MATLAB annotations for the Faceptor dataset readers.'
    )
    parser.add_argument('dataset', choices=('aflw', 'cofw'), help='which dataset the .mat file belongs to')
    parser.add_argument(
        '--mat', type=Path, required=True, help='input .mat file (AFLWinfo_release.mat or COFW_{train,test}_color.mat)'
    )
    parser.add_argument('--out', type=Path, required=True, help='dataset root folder to write into')
    parser.add_argument('--split', choices=tuple(COFW_KEYS), help='COFW only: the split that the .mat file contains')
    args = parser.parse_args(argv)

    mat = load_mat(args.mat)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.dataset == 'aflw':
        target = args.out / 'AFLWinfo_release.npz'
        np.savez(target, **aflw_arrays(mat))
    else:
        if args.split is None:
            parser.error('cofw needs --split train or --split test')
        target = write_cofw(cofw_samples(mat, args.split), args.split, args.out)
    print(f'wrote {target}')


if __name__ == '__main__':
    main()
