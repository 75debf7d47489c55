"""Expression readers: AffectNet, RAF-DB (basic) and FERPlus, mapped into Faceptor's 7 classes.

Unified order (AffectNet's): 0 Neutral, 1 Happy, 2 Sad, 3 Surprise, 4 Fear, 5 Disgust, 6 Anger.

- AffectNet: `<root>/label/{train,test}.txt` lines `relative_path label` with AffectNet's own
  labels, which already use this order. Labels 7..10 (contempt, none, uncertain, no face) are
  left out, as the official loader does.
- RAF-DB basic: `list_patition_label.txt` (the official project renames it `label.txt`) lines
  `train_00001.jpg 5`; raw 1..7 = Surprise, Fear, Disgust, Happy, Sad, Anger, Neutral map to
  3, 4, 5, 1, 2, 6, 0. The split is the name prefix (train_ or test_).
- FERPlus: `<root>/label/{train,val,test}.txt` lines `relative_path label` with raw 0..7 =
  neutral, happy, surprise, sad, anger, disgust, fear, contempt mapped to 0, 1, 3, 2, 6, 5, 4.
  The official 'train' split is train + val.
  Contempt (raw 7) is left out, not rejected: Faceptor has no contempt query, and AffectNet's
  contempt images are dropped the same way, so a label file that keeps them stays usable.
  `filtered` counts the dropped lines.
"""

from __future__ import annotations

from pathlib import Path

from .errors import DatasetFormatError, check_split
from .lists import ImageListDataset, LabeledImage, parse_int, text_lines

NUM_EXPRESSIONS = 7
RAFDB_TO_UNIFIED = {1: 3, 2: 4, 3: 5, 4: 1, 5: 2, 6: 6, 7: 0}
FERPLUS_TO_UNIFIED = {0: 0, 1: 1, 2: 3, 3: 2, 4: 6, 5: 5, 6: 4}
FERPLUS_CONTEMPT = 7
AFFECTNET_MAX_LABEL = 10


def read_expression_list(
    list_path: Path, image_dir: Path, raw_range: tuple[int, int], mapping: dict[int, int] | None
) -> tuple[list[LabeledImage], int]:
    """Read `relative_path label` lines; return (records, number of lines left out).

    Raw labels outside `raw_range` raise DatasetFormatError. With `mapping`, raw labels missing
    from it are left out; without it, raw labels >= 7 are left out.
    """
    records, filtered = [], 0
    for number, line in text_lines(list_path, 'expression label file'):
        fields = line.split()
        if len(fields) != 2:
            raise DatasetFormatError(list_path, 'expected "relative_path label"', number, line)
        raw = parse_int(fields[1], list_path, number, 'expression label', *raw_range)
        if mapping is not None:
            label = mapping.get(raw)
        else:
            label = raw if raw < NUM_EXPRESSIONS else None
        if label is None:
            filtered += 1
            continue
        records.append(LabeledImage(image_dir / fields[0], {'expression': label}, f'{list_path}, line {number}'))
    return records, filtered


class AffectNetDataset(ImageListDataset):
    """AffectNet with the author-prepared lists; labels 7..10 are left out (`filtered` counts them).

    Samples: {'image', 'task': 'affect_affectnet', 'name', 'expression': int in 0..6}.
    """

    task = 'affect_affectnet'
    splits = ('train', 'test')

    def __init__(self, root: str | Path, split: str) -> None:
        check_split(split, self.splits, 'AffectNet')
        root = Path(root)
        list_path = root / 'label' / f'{split}.txt'
        records, self.filtered = read_expression_list(list_path, root / 'data', (0, AFFECTNET_MAX_LABEL), None)
        super().__init__(records)


class RAFDBDataset(ImageListDataset):
    """RAF-DB basic expressions.

    `label_file` defaults to the first of `label.txt`, `EmoLabel/list_patition_label.txt` and
    `list_patition_label.txt` found under `root`. Images are `<root>/<image_dir>/<name>`; with
    `aligned=True` the name gets RAF-DB's `_aligned` suffix (`train_00001_aligned.jpg`).
    Samples: {'image', 'task': 'affect_rafdb', 'name', 'expression': int in 0..6}.
    """

    task = 'affect_rafdb'
    splits = ('train', 'test')
    label_files = ('label.txt', 'EmoLabel/list_patition_label.txt', 'list_patition_label.txt')

    def __init__(
        self,
        root: str | Path,
        split: str,
        label_file: str | None = None,
        image_dir: str = 'data',
        aligned: bool = False,
    ) -> None:
        check_split(split, self.splits, 'RAF-DB')
        root = Path(root)
        list_path = root / (label_file or self._find_label_file(root))
        records = []
        for number, line in text_lines(list_path, 'RAF-DB label file'):
            fields = line.split()
            if len(fields) != 2:
                raise DatasetFormatError(list_path, 'expected "<split>_<number>.jpg label"', number, line)
            name, raw_text = fields
            prefix = name.split('_', 1)[0]
            if prefix not in self.splits:
                raise DatasetFormatError(list_path, 'image name must start with train_ or test_', number, name)
            raw = parse_int(raw_text, list_path, number, 'RAF-DB label', 1, 7)
            if prefix == split:
                file_name = name.replace('.jpg', '_aligned.jpg') if aligned else name
                labels = {'expression': RAFDB_TO_UNIFIED[raw]}
                records.append(LabeledImage(root / image_dir / file_name, labels, f'{list_path}, line {number}'))
        super().__init__(records)

    def _find_label_file(self, root: Path) -> str:
        for name in self.label_files:
            if (root / name).is_file():
                return name
        raise DatasetFormatError(root, f'RAF-DB label file not found; looked for {", ".join(self.label_files)}')


class FERPlusDataset(ImageListDataset):
    """FERPlus majority labels; contempt is left out (`filtered` counts those lines).

    Splits: 'train' (train + val lists, as the official config trains), 'val', 'test'.
    Samples: {'image', 'task': 'affect_ferplus', 'name', 'expression': int in 0..6}.
    """

    task = 'affect_ferplus'
    splits = ('train', 'val', 'test')

    def __init__(self, root: str | Path, split: str) -> None:
        check_split(split, self.splits, 'FERPlus')
        root = Path(root)
        list_names = ('train', 'val') if split == 'train' else (split,)
        records, self.filtered = [], 0
        for name in list_names:
            part, filtered = read_expression_list(
                root / 'label' / f'{name}.txt', root / 'data', (0, FERPLUS_CONTEMPT), FERPLUS_TO_UNIFIED
            )
            records += part
            self.filtered += filtered
        super().__init__(records)
