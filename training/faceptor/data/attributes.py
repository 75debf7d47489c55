"""CelebA binary attributes: the published text files, or the PAR-toolkit `label.pkl`.

Text form (as CelebA publishes it) under `root`:
- `list_attr_celeba.txt`: line 1 the image count, line 2 the 40 attribute names in the standard
  order, then `000001.jpg` followed by 40 values of 1 or -1. Values map to 1 and 0.
- `list_eval_partition.txt`: `000001.jpg 0` lines with 0 train, 1 val, 2 test.
- Images under `root/img_align_celeba/` (change with `image_dir`).

Pickle form (the official project's `label.pkl`): a dict (or EasyDict) with `image_name` (N names),
`attr` (N x 40 of 0/1, where -1 marks a missing label), `attr_name` (40 names) and `partition`
(split name -> indices). Images under `root/data/`. The file is read with an unpickler that only
admits containers and numpy arrays, so a hostile pickle cannot run code.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from ..labels import CELEBA_ATTRIBUTES
from .errors import DatasetFormatError, check_split, require_file
from .lists import ImageListDataset, LabeledImage, text_lines

PARTITION_SPLITS = {'train': (0,), 'val': (1,), 'test': (2,), 'trainval': (0, 1)}


class CelebADataset(ImageListDataset):
    """CelebA attributes from the published text files.

    Samples: {'image', 'task': 'biattr_celeba', 'name', 'attributes': (40,) int64 of 0/1}.
    Splits: train, val, test, trainval (train + val, the official training set).
    """

    task = 'biattr_celeba'
    splits = tuple(PARTITION_SPLITS)
    attribute_names = list(CELEBA_ATTRIBUTES)

    def __init__(
        self,
        root: str | Path,
        split: str,
        image_dir: str = 'img_align_celeba',
        records: list[LabeledImage] | None = None,
    ) -> None:
        if records is None:
            check_split(split, self.splits, 'CelebA')
            root = Path(root)
            partition = read_partition(root / 'list_eval_partition.txt')
            attributes = read_attribute_file(root / 'list_attr_celeba.txt')
            records = select_split(
                attributes, partition, PARTITION_SPLITS[split], root / image_dir, root / 'list_eval_partition.txt'
            )
        super().__init__(records)

    @classmethod
    def from_pickle(
        cls, root: str | Path, split: str, label_file: str = 'label.pkl', image_dir: str = 'data'
    ) -> 'CelebADataset':
        """Read the official `label.pkl`; `split` is a key of its `partition` dict."""
        root = Path(root)
        info = load_label_pickle(root / label_file)
        records = records_from_label_pickle(info, split, root / image_dir, root / label_file)
        return cls(root, split, records=records)


def read_attribute_file(path: Path) -> dict[str, tuple[np.ndarray, str]]:
    """Read `list_attr_celeba.txt` into {image name: ((40,) int64 of 0/1, source)}."""
    lines = text_lines(path, 'CelebA attribute file')
    count_line, count_text = next(lines, (1, ''))
    if not count_text.isdigit():
        raise DatasetFormatError(path, 'line 1 must be the image count', count_line, count_text)
    names_line, names_text = next(lines, (2, ''))
    if names_text.split() != CELEBA_ATTRIBUTES:
        raise DatasetFormatError(
            path, 'line 2 must list the 40 CelebA attribute names in the standard order', names_line, names_text[:80]
        )
    table = {}
    for number, line in lines:
        fields = line.split()
        if len(fields) != 41:
            raise DatasetFormatError(
                path, f'expected an image name and 40 values, found {len(fields)} fields', number, line[:80]
            )
        values = fields[1:]
        bad = next((v for v in values if v not in ('1', '-1')), None)
        if bad is not None:
            raise DatasetFormatError(path, 'attribute values must be 1 or -1', number, bad)
        table[fields[0]] = (np.array([1 if v == '1' else 0 for v in values], dtype=np.int64), f'{path}, line {number}')
    if len(table) != int(count_text):
        raise DatasetFormatError(
            path, f'line 1 announces {count_text} images but the file lists {len(table)}', 1, count_text
        )
    return table


def read_partition(path: Path) -> dict[str, int]:
    """Read `list_eval_partition.txt` into {image name: 0 train, 1 val or 2 test}."""
    partition = {}
    for number, line in text_lines(path, 'CelebA partition file'):
        fields = line.split()
        if len(fields) != 2 or fields[1] not in ('0', '1', '2'):
            raise DatasetFormatError(path, 'expected "image_name 0|1|2"', number, line)
        partition[fields[0]] = int(fields[1])
    return partition


def select_split(
    attributes: dict[str, tuple[np.ndarray, str]],
    partition: dict[str, int],
    groups: tuple[int, ...],
    image_dir: Path,
    partition_path: Path,
) -> list[LabeledImage]:
    """Records of the images whose partition group is in `groups`, in partition-file order."""
    records = []
    for name, group in partition.items():
        if group not in groups:
            continue
        if name not in attributes:
            raise DatasetFormatError(partition_path, 'image has no line in list_attr_celeba.txt', value=name)
        values, source = attributes[name]
        records.append(LabeledImage(image_dir / name, {'attributes': values}, source))
    return records


class _EasyDict(dict):
    """Stand-in for easydict.EasyDict, which the PAR toolkit pickles."""


class _LabelUnpickler(pickle.Unpickler):
    _allowed = {
        ('numpy.core.multiarray', '_reconstruct'), ('numpy._core.multiarray', '_reconstruct'),
        ('numpy.core.multiarray', 'scalar'), ('numpy._core.multiarray', 'scalar'),
        ('numpy', 'ndarray'), ('numpy', 'dtype'), ('copyreg', '_reconstructor'), ('builtins', 'dict'),
        ('builtins', 'object'), ('collections', 'OrderedDict'),
        ('_codecs', 'encode'),  # protocol 2 stores bytes (numpy array data) as _codecs.encode(text, 'latin1')
    }

    def find_class(self, module: str, name: str):
        if (module, name) == ('easydict', 'EasyDict'):
            return _EasyDict
        if (module, name) in self._allowed:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f'label.pkl refers to {module}.{name}, which a label file has no use for')


def load_label_pickle(path: Path) -> dict:
    """Load `label.pkl` with the restricted unpickler."""
    require_file(path, 'CelebA label.pkl')
    try:
        with open(path, 'rb') as handle:
            info = _LabelUnpickler(handle, encoding='latin1').load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ValueError) as error:
        raise DatasetFormatError(path, f'cannot read the label pickle: {error}') from error
    if not isinstance(info, dict):
        raise DatasetFormatError(path, 'label pickle must contain a dict', value=type(info).__name__)
    return info


def records_from_label_pickle(info: dict, split: str, image_dir: Path, path: Path) -> list[LabeledImage]:
    """Records of `split` from a loaded label pickle, checking fields, shapes and values."""
    missing = [key for key in ('image_name', 'attr', 'attr_name', 'partition') if key not in info]
    if missing:
        raise DatasetFormatError(path, f'label pickle lacks the field(s) {", ".join(missing)}')
    names = [str(n) for n in info['attr_name']]
    if names != CELEBA_ATTRIBUTES:
        raise DatasetFormatError(
            path, 'attr_name must list the 40 CelebA attributes in the standard order', value=names[:3]
        )
    attr = np.asarray(info['attr'])
    image_names = list(info['image_name'])
    if attr.shape != (len(image_names), len(CELEBA_ATTRIBUTES)):
        raise DatasetFormatError(path, f'attr must have shape ({len(image_names)}, 40)', value=attr.shape)
    bad = np.setdiff1d(np.unique(attr), [-1, 0, 1])
    if bad.size:
        raise DatasetFormatError(path, 'attr values must be 0, 1 or -1 (missing)', value=bad[0].item())
    check_split(split, list(info['partition']), 'CelebA label.pkl')
    indices = np.asarray(info['partition'][split]).reshape(-1).astype(np.int64)
    if indices.size and (indices.min() < 0 or indices.max() >= len(image_names)):
        raise DatasetFormatError(
            path, f'partition[{split!r}] contains an index outside 0..{len(image_names) - 1}', value=int(indices.max())
        )
    attr = attr.astype(np.int64)
    records = []
    for i in indices:
        labels = {'attributes': attr[i].copy()}
        records.append(LabeledImage(image_dir / str(image_names[i]), labels, f'{path} [{i}]'))
    return records
