"""Reading the teacher-labels file (`faceptor.teacher-labels/v1`) and the photos it labels.

The file's schema is `training/teachers/labels-schema.ts`. Coordinates are pixels of the decoded
photo with EXIF orientation applied and pixel centers at integers, the convention of every frame in
this project.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

LABELS_FORMAT = 'faceptor.teacher-labels/v1'
SPLITS = ('train', 'heldout')


class LabelsError(ValueError):
    """The teacher-labels file is missing, has the wrong format or names a missing photo."""


@dataclass(frozen=True)
class TeacherFace:
    """One labelled face: the detector box and the teacher outputs."""

    id: str
    """`<photo path>#<index among the photo's detections>`."""
    photo: str
    """Photo path relative to the photos folder."""
    split: str
    """train or heldout."""
    box: tuple[float, float, float, float]
    """Detector box (x, y, width, height) in photo pixels, left and top edges."""
    landmarks: np.ndarray
    """(68, 2) float64 teacher points in iBUG order, photo pixels."""
    age_years: float
    expression: np.ndarray
    """(7,) teacher probabilities in Faceptor's order (neutral, happy, sad, surprise, fear, disgust, anger)."""
    identity: np.ndarray
    """(128,) teacher face descriptor."""


@dataclass(frozen=True)
class TeacherLabels:
    """The parsed labels file."""

    path: Path
    faces: list[TeacherFace]
    photo_sha256: dict[str, str]
    """Photo path -> sha256 recorded by the labeller."""
    expression_labels: list[str]
    raw: dict

    def split(self, name: str) -> list[TeacherFace]:
        """Faces of split `name` (train or heldout), in file order."""
        if name not in SPLITS:
            raise LabelsError(f'unknown split {name!r}; valid splits: {", ".join(SPLITS)}')
        return [face for face in self.faces if face.split == name]


def load_labels(path: str | Path) -> TeacherLabels:
    """Parse a teacher-labels file; raises LabelsError naming the bad field."""
    path = Path(path)
    if not path.is_file():
        raise LabelsError(
            f'teacher-labels file {path} not found; generate it with '
            '`npx tsx training/teachers/label-photos.ts --out training/data`'
        )
    raw = json.loads(path.read_text(encoding='utf-8'))
    if raw.get('format') != LABELS_FORMAT:
        raise LabelsError(f'{path}: format is {raw.get("format")!r}; expected {LABELS_FORMAT!r}')

    faces = []
    for index, entry in enumerate(raw.get('faces', [])):
        where = f'{path}: faces[{index}] ({entry.get("id", "no id")})'
        landmarks = np.asarray(entry['landmarks'], dtype=np.float64)
        expression = np.asarray(entry['expression'], dtype=np.float64)
        identity = np.asarray(entry['identity'], dtype=np.float64)
        if landmarks.shape != (68, 2):
            raise LabelsError(f'{where}: landmarks have shape {landmarks.shape}; expected (68, 2)')
        if expression.shape != (7,):
            raise LabelsError(f'{where}: expression has {expression.size} values; expected 7')
        if identity.ndim != 1 or identity.size == 0:
            raise LabelsError(f'{where}: identity descriptor has shape {identity.shape}; expected (D,)')
        if entry['split'] not in SPLITS:
            raise LabelsError(f'{where}: split {entry["split"]!r} is not one of {", ".join(SPLITS)}')
        box = entry['box']
        faces.append(TeacherFace(
            id=entry['id'], photo=entry['photo'], split=entry['split'],
            box=(float(box['x']), float(box['y']), float(box['width']), float(box['height'])),
            landmarks=landmarks, age_years=float(entry['ageYears']), expression=expression, identity=identity,
        ))
    if not faces:
        raise LabelsError(f'{path}: the file lists no faces')

    photo_sha256 = {photo['path']: photo['sha256'] for photo in raw.get('photos', [])}
    expression_labels = list(raw.get('expression', {}).get('labels', []))
    return TeacherLabels(path=path, faces=faces, photo_sha256=photo_sha256, expression_labels=expression_labels, raw=raw)


def load_photo(path: str | Path) -> np.ndarray:
    """Decode a photo to an (H, W, 3) uint8 RGB array with EXIF orientation applied (as the worker does)."""
    with Image.open(path) as image:
        upright = ImageOps.exif_transpose(image)
        return np.asarray(upright.convert('RGB'), dtype=np.uint8).copy()


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def check_photos(labels: TeacherLabels, photos_dir: Path, faces: list[TeacherFace]) -> dict[str, str]:
    """Check that every photo of `faces` exists and matches the labelled sha256; returns path -> sha256."""
    checked = {}
    for photo in sorted({face.photo for face in faces}):
        full = photos_dir / photo
        if not full.is_file():
            raise LabelsError(f'photo {full} named in {labels.path} not found; check --photos')
        actual = file_sha256(full)
        expected = labels.photo_sha256.get(photo)
        if expected is not None and expected != actual:
            raise LabelsError(
                f'photo {full} has sha256 {actual} but {labels.path} was labelled on {expected}; '
                'regenerate the labels with `npx tsx training/teachers/label-photos.ts --out training/data`'
            )
        checked[photo] = actual
    return checked
