"""Age estimation readers: MORPH II and UTKFace.

Both sets come as author-prepared lists in the official project (the splits are not published):

- MORPH II: `<root>/label/RANDOM_80_20/{train,test}.txt`, one `relative_path age` line per image,
  images under `<root>/data/`.
- UTKFace: `<root>/label/{train,test}.csv`, images under `<root>/data/`. The csv has a header row,
  then the row number, the file name and the age in columns 0, 1 and 2. Without such lists,
  `UTKFaceDataset.from_file_names` reads the published `age_gender_race_date.jpg` names instead.

Ages must lie in 0..100, the range of the model's 101 age bins.
"""

from __future__ import annotations

import csv
from pathlib import Path

from .errors import DatasetFormatError, check_split, require_file
from .lists import ImageListDataset, LabeledImage, parse_int, text_lines

MAX_AGE = 100


class MORPH2Dataset(ImageListDataset):
    """MORPH II with the author-prepared `RANDOM_80_20` protocol lists.

    Samples: {'image', 'task': 'age_morph2', 'name', 'age': int in 0..100}.
    """

    task = 'age_morph2'
    splits = ('train', 'test')

    def __init__(self, root: str | Path, split: str, protocol: str = 'RANDOM_80_20') -> None:
        check_split(split, self.splits, 'MORPH II')
        root = Path(root)
        list_path = root / 'label' / protocol / f'{split}.txt'
        super().__init__(read_age_list(list_path, root / 'data'))


def read_age_list(list_path: Path, image_dir: Path) -> list[LabeledImage]:
    """Read `relative_path age` lines into records."""
    records = []
    for number, line in text_lines(list_path, 'age list file'):
        fields = line.split()
        if len(fields) != 2:
            raise DatasetFormatError(list_path, 'expected "relative_path age"', number, line)
        age = parse_int(fields[1], list_path, number, 'age', 0, MAX_AGE)
        records.append(LabeledImage(image_dir / fields[0], {'age': age}, f'{list_path}, line {number}'))
    return records


class UTKFaceDataset(ImageListDataset):
    """UTKFace from the author-prepared csv lists, or from the published file names.

    Samples: {'image', 'task': 'age_utkface', 'name', 'age': int in 0..100}. Samples read from
    file names also carry 'gender' (0 male, 1 female) and 'race' (0..4), or -1 where the name
    lacks the field.
    """

    task = 'age_utkface'
    splits = ('train', 'test')
    skipped = 0
    """Images left out for an age outside the requested range (file-name mode only)."""

    def __init__(self, root: str | Path, split: str, records: list[LabeledImage] | None = None) -> None:
        if records is None:
            check_split(split, self.splits, 'UTKFace')
            root = Path(root)
            records = read_utkface_csv(root / 'label' / f'{split}.csv', root / 'data')
        super().__init__(records)

    @classmethod
    def from_file_names(cls, image_dir: str | Path, min_age: int = 0, max_age: int = MAX_AGE) -> 'UTKFaceDataset':
        """Read every `age_gender_race_date.jpg[.chip.jpg]` file of `image_dir`, sorted by name.

        Images whose age lies outside min_age..max_age are left out (UTKFace has ages up to 116,
        and the CORAL protocol keeps 21..60); `skipped` counts them.
        """
        if not 0 <= min_age <= max_age <= MAX_AGE:
            raise ValueError(f'age range {min_age}..{max_age} must lie within 0..{MAX_AGE}')
        image_dir = Path(image_dir)
        if not image_dir.is_dir():
            raise DatasetFormatError(image_dir, 'UTKFace image folder not found')
        records, skipped = [], 0
        for path in sorted(p for p in image_dir.iterdir() if p.name.lower().endswith('.jpg')):
            labels = parse_utkface_name(path)
            if min_age <= labels['age'] <= max_age:
                records.append(LabeledImage(path, labels, str(path)))
            else:
                skipped += 1
        dataset = cls(image_dir, 'all', records)
        dataset.skipped = skipped
        return dataset


def parse_utkface_name(path: Path) -> dict:
    """Parse `age_gender_race_date...` into {'age', 'gender', 'race'}; missing fields become -1.

    A few published names lack the race or date field, so only the age is required.
    """
    fields = path.name.split('.')[0].split('_')
    try:
        age = int(fields[0])
    except ValueError:
        raise DatasetFormatError(
            path, 'UTKFace file name must start with the age, as in 25_0_2_20170116174525125.jpg', value=path.name
        ) from None
    labels = {'age': age, 'gender': -1, 'race': -1}
    for key, text, high in (('gender', fields[1:2], 1), ('race', fields[2:3], 4)):
        if text and text[0].isdigit() and int(text[0]) <= high:
            labels[key] = int(text[0])
    return labels


def read_utkface_csv(list_path: Path, image_dir: Path) -> list[LabeledImage]:
    """Read the author-prepared csv: a header row, then rows with the file name in column 1 and the age in column 2."""
    require_file(list_path, 'UTKFace csv list')
    records = []
    with open(list_path, encoding='utf-8', newline='') as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            if number == 1 or not row or not any(cell.strip() for cell in row):
                continue
            if len(row) < 3:
                raise DatasetFormatError(
                    list_path, 'expected at least 3 columns: index, file name, age', number, ','.join(row)
                )
            age = parse_int(row[2].strip(), list_path, number, 'age', 0, MAX_AGE)
            records.append(LabeledImage(image_dir / row[1].strip(), {'age': age}, f'{list_path}, line {number}'))
    return records
