"""MXNet RecordIO reader and the MS1MV3 identity dataset (insightface `train.rec` + `train.idx`).

Binary format (dmlc-core `recordio`, little-endian), implemented here so training needs no mxnet:

- Each record part is `magic` (uint32 0xced7230a), then `lrec` (uint32: continuation flag in the top
  3 bits, payload length in the low 29), then the payload, zero-padded to a multiple of 4 bytes.
- Flag 0 marks a whole record. A payload that contains the magic word at a 4-byte-aligned offset
  is written in parts instead, flagged 1 (first), 2 (middle) and 3 (last). The writer drops the
  magic word at each split, so the reader puts it back between parts.
- A record payload starts with the image header `IRHeader`: flag uint32, label float32, id uint64,
  id2 uint64 (24 bytes). When flag > 0 the label is instead `flag` float32 values that follow the
  header. The encoded image (JPEG for MS1MV3) comes last.
- The `.idx` file has one `key<TAB>byte offset` line per record.

insightface face sets store a header record under key 0 with flag 2 and label
[first identity record, end of identity records]. Image records are keys 1 .. label[0] - 1 and
carry the identity as label; the keys label[0] .. label[1] - 1 are identity records, so
label[1] - label[0] is the number of identities.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from .errors import DatasetFormatError, require_file
from .images import decode_rgb

RECORDIO_MAGIC = 0xCED7230A
_LENGTH_MASK = (1 << 29) - 1
_IR_HEADER = struct.Struct('<IfQQ')
_PART_HEADER = struct.Struct('<II')


class RecordIOError(DatasetFormatError):
    """A RecordIO or index file is corrupt or does not match its index."""


@dataclass(frozen=True)
class ImageRecord:
    """One unpacked image record."""

    flag: int
    """IRHeader flag: 0 for a scalar label, else the number of float32 labels."""
    label: float | np.ndarray
    """Scalar label (flag 0) or float32 array of `flag` labels."""
    id: int
    id2: int
    image: bytes
    """The encoded image (empty for header and identity records)."""


def unpack_record(payload: bytes, source: str) -> ImageRecord:
    """Split a record payload into its IRHeader, label(s) and image bytes."""
    if len(payload) < _IR_HEADER.size:
        raise RecordIOError(
            source, f'record payload is shorter than the {_IR_HEADER.size}-byte IRHeader', value=len(payload)
        )
    flag, label, id1, id2 = _IR_HEADER.unpack_from(payload)
    start = _IR_HEADER.size
    if flag == 0:
        return ImageRecord(flag, float(label), id1, id2, payload[start:])
    end = start + 4 * flag
    if end > len(payload):
        raise RecordIOError(
            source, f'IRHeader flag {flag} announces more label bytes than the record contains', value=len(payload)
        )
    labels = np.frombuffer(payload[start:end], dtype='<f4').astype(np.float32)
    return ImageRecord(flag, labels, id1, id2, payload[end:])


def read_index(path: Path) -> dict[int, int]:
    """Read an `.idx` file into {record key: byte offset}."""
    offsets: dict[int, int] = {}
    with open(path, encoding='ascii', errors='replace') as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2 or not fields[0].isdigit() or not fields[1].isdigit():
                raise RecordIOError(
                    path, 'expected "key<TAB>offset" with two non-negative integers', number, line.rstrip('\n')
                )
            offsets[int(fields[0])] = int(fields[1])
    if not offsets:
        raise RecordIOError(path, 'index file has no records')
    return offsets


class IndexedRecordFile:
    """Random access to the records of a `.rec` file through its `.idx` index.

    The file handle opens lazily and is dropped on pickling, so DataLoader workers each open their own.
    """

    def __init__(self, rec_path: str | Path, idx_path: str | Path) -> None:
        self.rec_path = require_file(Path(rec_path), 'RecordIO file')
        self.idx_path = require_file(Path(idx_path), 'RecordIO index file')
        self.offsets = read_index(self.idx_path)
        self._size = self.rec_path.stat().st_size
        self._handle = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state['_handle'] = None
        return state

    def keys(self) -> list[int]:
        """Record keys in index order."""
        return list(self.offsets)

    def read(self, key: int) -> bytes:
        """Return the payload of record `key`, with multi-part records joined."""
        if key not in self.offsets:
            raise KeyError(f'record key {key} is not in {self.idx_path}')
        if self._handle is None:
            self._handle = open(self.rec_path, 'rb')
        flag, payload, position = self._read_part(self.offsets[key], key)
        if flag == 0:
            return payload
        if flag != 1:
            raise RecordIOError(
                self.rec_path, f'record {key}: first part has continuation flag {flag}, expected 0 or 1', value=flag
            )
        parts = [payload]
        while flag != 3:
            flag, payload, position = self._read_part(position, key)
            if flag not in (2, 3):
                raise RecordIOError(
                    self.rec_path,
                    f'record {key}: part {len(parts) + 1} has continuation flag {flag}, expected 2 or 3',
                    value=flag,
                )
            parts.append(payload)
        return struct.pack('<I', RECORDIO_MAGIC).join(parts)

    def _read_part(self, position: int, key: int) -> tuple[int, bytes, int]:
        handle = self._handle
        handle.seek(position)
        head = handle.read(_PART_HEADER.size)
        if len(head) < _PART_HEADER.size:
            raise RecordIOError(
                self.rec_path, f'record {key}: file ends inside the part header at byte {position}', value=self._size
            )
        magic, lrec = _PART_HEADER.unpack(head)
        if magic != RECORDIO_MAGIC:
            raise RecordIOError(
                self.rec_path,
                f'record {key}: bad magic at byte {position}, expected 0x{RECORDIO_MAGIC:08x}',
                value=f'0x{magic:08x}',
            )
        flag, length = lrec >> 29, lrec & _LENGTH_MASK
        payload = handle.read(length)
        if len(payload) < length:
            raise RecordIOError(
                self.rec_path,
                f'record {key}: file ends inside a {length}-byte payload at byte {position}',
                value=self._size,
            )
        padded = (length + 3) // 4 * 4
        return flag, payload, position + _PART_HEADER.size + padded


class MS1MV3Dataset(Dataset):
    """MS1MV3 face recognition images from insightface `train.rec` / `train.idx` under `root`.

    Samples: {'image': (112, 112, 3) uint8 RGB, 'task': 'recog_ms1mv3', 'identity': int, 'name': str(key)}.
    `num_identities` comes from the header record (None when the file has no header record).
    """

    task = 'recog_ms1mv3'

    def __init__(self, root: str | Path, rec_name: str = 'train.rec', idx_name: str = 'train.idx') -> None:
        root = Path(root)
        self.records = IndexedRecordFile(root / rec_name, root / idx_name)
        self.keys, self.num_identities = self._image_keys()

    def _image_keys(self) -> tuple[list[int], int | None]:
        if 0 not in self.records.offsets:
            return self.records.keys(), None
        header = unpack_record(self.records.read(0), f'{self.records.rec_path} record 0')
        if header.flag == 0:
            return self.records.keys(), None
        first_identity, end_identity = int(header.label[0]), int(header.label[1])
        if not 1 <= first_identity <= end_identity:
            raise RecordIOError(
                self.records.rec_path,
                'header record 0 must contain labels [first identity record, end] with 1 <= first <= end',
                value=header.label.tolist(),
            )
        missing = [key for key in range(1, first_identity) if key not in self.records.offsets]
        if missing:
            raise RecordIOError(
                self.records.idx_path,
                f'{len(missing)} image record(s) named by header record 0 are missing from the index, '
                f'first {missing[0]}',
            )
        return list(range(1, first_identity)), end_identity - first_identity

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, index: int) -> dict:
        key = self.keys[index]
        source = f'{self.records.rec_path} record {key}'
        record = unpack_record(self.records.read(key), source)
        identity = self._identity(record, source)
        return {'image': decode_rgb(record.image, source), 'task': self.task, 'identity': identity, 'name': str(key)}

    def _identity(self, record: ImageRecord, source: str) -> int:
        label = record.label if record.flag == 0 else float(record.label[0])
        if label != int(label) or label < 0:
            raise RecordIOError(source, 'identity label must be a non-negative integer', value=label)
        if self.num_identities is not None and label >= self.num_identities:
            raise RecordIOError(
                source,
                f'identity label must be below the {self.num_identities} identities of header record 0',
                value=int(label),
            )
        return int(label)
