"""The distillation crops equal the serving pipeline's crops (gpu-worker sampleCrop) on real photos."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from distill import crops
from distill.data import load_labels, load_photo
from faceptor.labels import ARCFACE_TEMPLATE_112, CLIP_MEAN, CLIP_STD, FACE_MEAN, FACE_STD, LANDMARK_SCHEMES

REPO_ROOT = Path(__file__).resolve().parents[2]
LABELS = REPO_ROOT / 'training' / 'data' / 'teacher-labels.json'
PHOTOS = REPO_ROOT / 'test' / 'fixtures' / 'photos'
DUMP_SCRIPT = REPO_ROOT / 'training' / 'teachers' / 'dump-crops.ts'
FIVE_POINT_GROUPS = LANDMARK_SCHEMES['align_300w'][2]

# One PNG (lossless, so both decoders must agree exactly) and one JPEG of a tilted face.
CASES = ['astronaut.png#0', 'face-api-demo/sample1.jpg#0']


def _face(face_id: str):
    for face in load_labels(LABELS).faces:
        if face.id == face_id:
            return face
    raise AssertionError(f'{face_id} is not in {LABELS}')


@pytest.fixture(scope='module', params=CASES)
def dumped(request, tmp_path_factory):
    if shutil.which('npx') is None:
        pytest.skip('npx not found: the TypeScript crops cannot be produced')
    face = _face(request.param)
    x, y, width, height = face.box
    points = crops.five_points(face.landmarks, FIVE_POINT_GROUPS)
    work = tmp_path_factory.mktemp('crops')
    spec = {
        'photo': str(PHOTOS / face.photo),
        'crops': [
            {'kind': 'box', 'box': {'x': x, 'y': y, 'width': width, 'height': height}, 'scale': 0.8, 'size': 128,
             'mean': CLIP_MEAN, 'std': CLIP_STD},
            {'kind': 'arcface', 'points': points.tolist(), 'template': ARCFACE_TEMPLATE_112, 'template_size': 112,
             'size': 112, 'mean': FACE_MEAN, 'std': FACE_STD},
        ],
    }
    (work / 'request.json').write_text(json.dumps(spec))
    result = subprocess.run(
        ['npx', 'tsx', str(DUMP_SCRIPT), str(work / 'request.json'), str(work / 'out')],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    meta = json.loads((work / 'out' / 'crops.json').read_text())
    decoded = np.fromfile(work / 'out' / 'decoded.bin', dtype=np.uint8).reshape(meta['height'], meta['width'], 3)
    ts_crops = [
        np.fromfile(work / 'out' / f'crop_{i}.bin', dtype='<f4').reshape(3, entry['size'], entry['size'])
        for i, entry in enumerate(meta['crops'])
    ]
    return face, points, decoded, meta, ts_crops


def _python_crops(face, points, photo: np.ndarray) -> list[np.ndarray]:
    tensor = crops.photo_tensor(photo)
    landmark = crops.normalize(crops.sample_crop(tensor, crops.box_crop_matrix(face.box, 128, 0.8), 128), CLIP_MEAN, CLIP_STD)
    aligned = crops.sample_crop(tensor, crops.arcface_matrix(points, ARCFACE_TEMPLATE_112, 112, 112), 112)
    return [landmark.numpy(), crops.normalize(aligned, FACE_MEAN, FACE_STD).numpy()]


def test_crop_matrices_match_typescript(dumped):
    face, points, _, meta, _ = dumped
    python = [crops.box_crop_matrix(face.box, 128, 0.8), crops.arcface_matrix(points, ARCFACE_TEMPLATE_112, 112, 112)]
    for matrix, entry in zip(python, meta['crops']):
        np.testing.assert_allclose(matrix[:2].reshape(-1), entry['matrix'], rtol=1e-9, atol=1e-9)


def test_crops_of_same_pixels_match(dumped):
    face, points, decoded, _, ts_crops = dumped
    for python, typescript in zip(_python_crops(face, points, decoded), ts_crops):
        assert python.shape == typescript.shape
        assert float(np.abs(python - typescript).max()) < 1e-3


def test_python_decoder_matches_sharp(dumped):
    face, _, decoded, _, _ = dumped
    photo = load_photo(PHOTOS / face.photo)
    assert photo.shape == decoded.shape
    difference = np.abs(photo.astype(np.int16) - decoded.astype(np.int16))
    if face.photo.endswith('.png'):
        assert int(difference.max()) == 0
    else:
        # JPEG decoders may round the inverse DCT and chroma upsampling differently.
        assert float(difference.mean()) < 1.0
        assert int(difference.max()) <= 16


def test_box_crop_maps_box_corners():
    matrix = crops.box_crop_matrix((10.0, 20.0, 50.0, 100.0), 128, 1.0)
    corners = crops.map_points(np.array([[-15.0, 20.0], [85.0, 120.0]]), matrix)
    np.testing.assert_allclose(corners, [[-0.5, -0.5], [127.5, 127.5]], atol=1e-9)


def test_sample_crop_black_outside_photo():
    photo = torch.full((3, 8, 8), 200.0)
    shifted = np.array([[1.0, 0.0, 100.0], [0.0, 1.0, 100.0], [0.0, 0.0, 1.0]])
    assert float(crops.sample_crop(photo, shifted, 4).abs().max()) == 0.0
    inside = crops.sample_crop(photo, np.eye(3), 4)
    assert torch.allclose(inside, torch.full_like(inside, 200.0 / 255.0))
