"""Dataset readers on small synthetic files written in each dataset's published format."""

from __future__ import annotations

import io
import pickle
import struct
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceptor.data import (
    AFLW19Dataset, AffectNetDataset, CelebADataset, CelebAMaskHQDataset, COFWDataset, DatasetFormatError,
    FERPlusDataset, IBUG300WDataset, LaPaDataset, MORPH2Dataset, MS1MV3Dataset, RAFDBDataset, RecordIOError,
    UTKFaceDataset, WFLWDataset, landmark_crop_matrix,
)
from faceptor.data.images import resize_bilinear
from faceptor.data.landmarks import landmark_box
from faceptor.data import mat_convert
from faceptor.data.mat_convert import aflw_arrays, cofw_samples, write_cofw
from faceptor.data.parsing import CELEBAMASK_PARTS, lapa_five_points
from faceptor.data.recordio import RECORDIO_MAGIC, IndexedRecordFile
from faceptor.labels import CELEBA_ATTRIBUTES

# ---------------------------------------------------------------------------------------------
# Helpers that write real files


def write_jpeg(path: Path, color: tuple[int, int, int], size: tuple[int, int] = (32, 24)) -> Path:
    """A uniform JPEG of size (width, height)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new('RGB', size, color).save(path, format='JPEG', quality=95)
    return path


def jpeg_bytes(color: tuple[int, int, int], size: tuple[int, int] = (112, 112)) -> bytes:
    buffer = io.BytesIO()
    Image.new('RGB', size, color).save(buffer, format='JPEG', quality=95)
    return buffer.getvalue()


def write_png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format='PNG')
    return path


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding='utf-8')
    return path


def assert_color(image: np.ndarray, color: tuple[int, int, int]) -> None:
    assert image.dtype == np.uint8
    assert image.ndim == 3
    assert image.shape[2] == 3
    assert np.abs(image.astype(int) - np.array(color)).max() <= 3  # JPEG rounding


# ---------------------------------------------------------------------------------------------
# MXNet RecordIO (an independent writer that follows dmlc-core's RecordIOWriter)


def encode_parts(payload: bytes) -> bytes:
    """Frame one record: split at 4-aligned magic words (flags 1, 2, 3), else flag 0; pad to 4 bytes."""
    magic = struct.pack('<I', RECORDIO_MAGIC)
    pieces, start = [], 0
    for offset in range(0, len(payload) // 4 * 4, 4):
        if payload[offset:offset + 4] == magic:
            pieces.append(payload[start:offset])
            start = offset + 4
    pieces.append(payload[start:])
    out = b''
    for number, piece in enumerate(pieces):
        if len(pieces) == 1:
            flag = 0
        elif number == 0:
            flag = 1
        elif number == len(pieces) - 1:
            flag = 3
        else:
            flag = 2
        out += magic + struct.pack('<I', (flag << 29) | len(piece)) + piece + b'\0' * (-len(piece) % 4)
    return out


def image_payload(label, image: bytes = b'', record_id: int = 0) -> bytes:
    if isinstance(label, (list, tuple)):
        header = struct.pack('<IfQQ', len(label), 0.0, record_id, 0)
        return header + np.array(label, dtype='<f4').tobytes() + image
    return struct.pack('<IfQQ', 0, float(label), record_id, 0) + image


def write_recordio(root: Path, payloads: dict[int, bytes]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    data, index = b'', ''
    for key, payload in payloads.items():
        index += f'{key}\t{len(data)}\n'
        data += encode_parts(payload)
    (root / 'train.rec').write_bytes(data)
    (root / 'train.idx').write_text(index)


def ms1m_payloads() -> dict[int, bytes]:
    # Images are keys 1..3; identity records are keys 4 and 5, so the header label is [4, 6].
    return {
        0: image_payload([4.0, 6.0]),
        1: image_payload(0, jpeg_bytes((200, 30, 30)), 1),
        2: image_payload(1, jpeg_bytes((30, 200, 30)), 2),
        3: image_payload([1.0, 0.0], jpeg_bytes((30, 30, 200)), 3),  # label given as an array
        4: image_payload([1.0, 2.0]),
        5: image_payload([2.0, 4.0]),
    }


def test_ms1mv3_reads_images_and_identities(tmp_path: Path) -> None:
    write_recordio(tmp_path, ms1m_payloads())
    dataset = MS1MV3Dataset(tmp_path)
    assert len(dataset) == 3
    assert dataset.num_identities == 2
    samples = [dataset[i] for i in range(3)]
    assert [s['identity'] for s in samples] == [0, 1, 1]
    assert [s['name'] for s in samples] == ['1', '2', '3']
    assert all(s['task'] == 'recog_ms1mv3' for s in samples)
    assert samples[0]['image'].shape == (112, 112, 3)
    assert_color(samples[0]['image'], (200, 30, 30))
    assert_color(samples[2]['image'], (30, 30, 200))


def test_ms1mv3_survives_pickling(tmp_path: Path) -> None:
    write_recordio(tmp_path, ms1m_payloads())
    dataset = MS1MV3Dataset(tmp_path)
    first = dataset[0]  # opens the record file
    copy = pickle.loads(pickle.dumps(dataset))  # as DataLoader workers receive it
    assert copy[0]['identity'] == first['identity']
    np.testing.assert_array_equal(copy[0]['image'], first['image'])


def test_recordio_joins_multipart_record(tmp_path: Path) -> None:
    magic = struct.pack('<I', RECORDIO_MAGIC)
    split_payload = b'abcd' + magic + b'efgh' + magic + b'ij'  # magic at aligned offsets 4 and 12
    unaligned = b'a' + magic + b'xyz'  # magic at offset 1 is not a split point
    write_recordio(tmp_path, {0: split_payload, 1: unaligned})
    raw = (tmp_path / 'train.rec').read_bytes()
    # The second part header starts after the first: 8 header bytes plus 'abcd'.
    flags = [struct.unpack_from('<I', raw, 4)[0] >> 29, struct.unpack_from('<I', raw, 16)[0] >> 29]
    assert flags == [1, 2]  # the writer really produced a multi-part record
    records = IndexedRecordFile(tmp_path / 'train.rec', tmp_path / 'train.idx')
    assert records.read(0) == split_payload
    assert records.read(1) == unaligned


def test_recordio_rejects_bad_magic(tmp_path: Path) -> None:
    write_recordio(tmp_path, ms1m_payloads())
    raw = bytearray((tmp_path / 'train.rec').read_bytes())
    offset = int((tmp_path / 'train.idx').read_text().splitlines()[2].split('\t')[1])
    raw[offset:offset + 4] = b'\x00\x11\x22\x33'
    (tmp_path / 'train.rec').write_bytes(bytes(raw))
    dataset = MS1MV3Dataset(tmp_path)
    with pytest.raises(RecordIOError, match=r"record 2: bad magic at byte \d+.*0x33221100"):
        dataset[1]


def test_recordio_rejects_identity_out_of_range(tmp_path: Path) -> None:
    payloads = ms1m_payloads()
    payloads[2] = image_payload(7, jpeg_bytes((0, 0, 0)), 2)
    write_recordio(tmp_path, payloads)
    with pytest.raises(RecordIOError, match=r'record 2: identity label must be below the 2 identities.*got 7'):
        MS1MV3Dataset(tmp_path)[1]


def test_recordio_rejects_bad_index_line(tmp_path: Path) -> None:
    write_recordio(tmp_path, ms1m_payloads())
    with open(tmp_path / 'train.idx', 'a') as handle:
        handle.write('6\tforty\n')
    with pytest.raises(RecordIOError, match=r"train.idx, line 7: expected \"key<TAB>offset\".*'6\\tforty'"):
        MS1MV3Dataset(tmp_path)


def test_recordio_rejects_missing_image_records(tmp_path: Path) -> None:
    payloads = ms1m_payloads()
    del payloads[2]
    write_recordio(tmp_path, payloads)
    with pytest.raises(RecordIOError, match='1 image record.*missing from the index, first 2'):
        MS1MV3Dataset(tmp_path)


def test_recordio_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(DatasetFormatError, match=r'train.rec: RecordIO file not found'):
        MS1MV3Dataset(tmp_path)


# ---------------------------------------------------------------------------------------------
# Age


def test_morph2_reads_list(tmp_path: Path) -> None:
    write_jpeg(tmp_path / 'data' / 'a' / '001.jpg', (10, 20, 30))
    write_jpeg(tmp_path / 'data' / 'b' / '002.jpg', (40, 50, 60))
    write_text(tmp_path / 'label' / 'RANDOM_80_20' / 'train.txt', 'a/001.jpg 23\n\nb/002.jpg 61\n')
    dataset = MORPH2Dataset(tmp_path, 'train')
    assert len(dataset) == 2
    first, second = dataset[0], dataset[1]
    assert (first['age'], second['age']) == (23, 61)
    assert first['task'] == 'age_morph2'
    assert_color(second['image'], (40, 50, 60))


@pytest.mark.parametrize('line, pattern', [
    ('a/001.jpg old', r"train.txt, line 2: age must be an integer \(got 'old'\)"),
    ('a/001.jpg 101', r'train.txt, line 2: age must be in 0..100 \(got 101\)'),
    ('a/001.jpg', r'train.txt, line 2: expected "relative_path age"'),
])
def test_morph2_rejects_bad_line(tmp_path: Path, line: str, pattern: str) -> None:
    write_text(tmp_path / 'label' / 'RANDOM_80_20' / 'train.txt', f'b/002.jpg 61\n{line}\n')
    with pytest.raises(DatasetFormatError, match=pattern):
        MORPH2Dataset(tmp_path, 'train')


def test_morph2_rejects_unknown_split(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"invalid MORPH II split 'val'; valid splits: train, test"):
        MORPH2Dataset(tmp_path, 'val')


def test_missing_image_names_list_line(tmp_path: Path) -> None:
    write_text(tmp_path / 'label' / 'RANDOM_80_20' / 'test.txt', 'gone.jpg 30\n')
    dataset = MORPH2Dataset(tmp_path, 'test')
    with pytest.raises(DatasetFormatError, match=r'gone.jpg: image file not found \(listed in .*test.txt, line 1\)'):
        dataset[0]


def test_utkface_reads_csv(tmp_path: Path) -> None:
    write_jpeg(tmp_path / 'data' / '25_0_2_1.jpg.chip.jpg', (90, 90, 90))
    write_text(tmp_path / 'label' / 'train.csv', ',file,age\n0,25_0_2_1.jpg.chip.jpg,25\n')
    dataset = UTKFaceDataset(tmp_path, 'train')
    sample = dataset[0]
    assert sample['age'] == 25
    assert sample['task'] == 'age_utkface'
    assert_color(sample['image'], (90, 90, 90))


def test_utkface_csv_rejects_bad_age(tmp_path: Path) -> None:
    write_text(tmp_path / 'label' / 'test.csv', ',file,age\n0,x.jpg,25\n1,y.jpg,-3\n')
    with pytest.raises(DatasetFormatError, match=r'test.csv, line 3: age must be in 0..100 \(got -3\)'):
        UTKFaceDataset(tmp_path, 'test')


def test_utkface_reads_file_names(tmp_path: Path) -> None:
    write_jpeg(tmp_path / '25_1_3_20170116174525125.jpg.chip.jpg', (1, 2, 3))
    write_jpeg(tmp_path / '61_1_20170109142408075.jpg.chip.jpg', (1, 2, 3))  # a published name without race
    write_jpeg(tmp_path / '110_0_0_20170112213001988.jpg.chip.jpg', (1, 2, 3))  # above the 101 age bins
    dataset = UTKFaceDataset.from_file_names(tmp_path)
    assert len(dataset) == 2
    assert dataset.skipped == 1
    assert {k: dataset[0][k] for k in ('age', 'gender', 'race')} == {'age': 25, 'gender': 1, 'race': 3}
    assert {k: dataset[1][k] for k in ('age', 'gender', 'race')} == {'age': 61, 'gender': 1, 'race': -1}


def test_utkface_file_name_range_filter(tmp_path: Path) -> None:
    for age in (20, 21, 60, 61):
        write_jpeg(tmp_path / f'{age}_0_0_1.jpg', (1, 2, 3))
    dataset = UTKFaceDataset.from_file_names(tmp_path, min_age=21, max_age=60)
    assert sorted(dataset[i]['age'] for i in range(len(dataset))) == [21, 60]
    assert dataset.skipped == 2


def test_utkface_rejects_bad_file_name(tmp_path: Path) -> None:
    write_jpeg(tmp_path / 'portrait.jpg', (1, 2, 3))
    with pytest.raises(
        DatasetFormatError, match=r"portrait.jpg: UTKFace file name must start with the age.*'portrait.jpg'"
    ):
        UTKFaceDataset.from_file_names(tmp_path)


# ---------------------------------------------------------------------------------------------
# Expression


def test_affectnet_filters_labels_from_7(tmp_path: Path) -> None:
    for name in ('n.jpg', 'a.jpg'):
        write_jpeg(tmp_path / 'data' / name, (5, 5, 5))
    write_text(tmp_path / 'label' / 'train.txt', 'n.jpg 0\nc.jpg 7\na.jpg 6\nx.jpg 10\n')
    dataset = AffectNetDataset(tmp_path, 'train')
    assert [dataset[i]['expression'] for i in range(len(dataset))] == [0, 6]
    assert dataset.filtered == 2
    assert dataset[0]['task'] == 'affect_affectnet'


@pytest.mark.parametrize('label, pattern', [
    ('11', r'must be in 0..10 \(got 11\)'),
    ('-1', r'must be in 0..10 \(got -1\)'),
    ('sad', r"must be an integer \(got 'sad'\)"),
])
def test_affectnet_rejects_bad_label(tmp_path: Path, label: str, pattern: str) -> None:
    write_text(tmp_path / 'label' / 'test.txt', f'n.jpg 0\nbad.jpg {label}\n')
    with pytest.raises(DatasetFormatError, match=r'test.txt, line 2: expression label ' + pattern):
        AffectNetDataset(tmp_path, 'test')


def test_rafdb_maps_to_unified_order(tmp_path: Path) -> None:
    lines = [f'train_{raw:05d}.jpg {raw}' for raw in range(1, 8)] + ['test_00001.jpg 4']
    write_text(tmp_path / 'EmoLabel' / 'list_patition_label.txt', '\n'.join(lines) + '\n')
    for raw in range(1, 8):
        write_jpeg(tmp_path / 'data' / f'train_{raw:05d}.jpg', (raw * 20, 0, 0))
    train = RAFDBDataset(tmp_path, 'train')
    # raw 1..7 = Surprise, Fear, Disgust, Happy, Sad, Anger, Neutral
    assert [train[i]['expression'] for i in range(len(train))] == [3, 4, 5, 1, 2, 6, 0]
    assert train[0]['task'] == 'affect_rafdb'
    test = RAFDBDataset(tmp_path, 'test', aligned=True)
    assert len(test) == 1
    assert test.records[0].image_path.name == 'test_00001_aligned.jpg'
    assert test.records[0].labels == {'expression': 1}


@pytest.mark.parametrize('line, pattern', [
    ('train_00002.jpg 8', r'line 2: RAF-DB label must be in 1..7 \(got 8\)'),
    ('train_00002.jpg 0', r'line 2: RAF-DB label must be in 1..7 \(got 0\)'),
    ('valid_00002.jpg 3', r"line 2: image name must start with train_ or test_ \(got 'valid_00002.jpg'\)"),
])
def test_rafdb_rejects_bad_line(tmp_path: Path, line: str, pattern: str) -> None:
    write_text(tmp_path / 'label.txt', f'train_00001.jpg 1\n{line}\n')
    with pytest.raises(DatasetFormatError, match=pattern):
        RAFDBDataset(tmp_path, 'train')


def test_rafdb_missing_label_file(tmp_path: Path) -> None:
    with pytest.raises(
        DatasetFormatError, match='RAF-DB label file not found; looked for label.txt, EmoLabel/list_patition_label.txt'
    ):
        RAFDBDataset(tmp_path, 'train')


def test_ferplus_maps_and_filters_contempt(tmp_path: Path) -> None:
    # raw 0..7 = neutral, happy, surprise, sad, anger, disgust, fear, contempt
    write_text(tmp_path / 'label' / 'train.txt', ''.join(f'train/{raw}.png {raw}\n' for raw in range(0, 8)))
    write_text(tmp_path / 'label' / 'val.txt', 'val/0.png 2\n')
    write_text(tmp_path / 'label' / 'test.txt', 'test/0.png 6\n')
    gray = np.full((48, 48), 77, dtype=np.uint8)
    write_png(tmp_path / 'data' / 'test' / '0.png', gray)
    train = FERPlusDataset(tmp_path, 'train')
    assert [record.labels['expression'] for record in train.records] == [0, 1, 3, 2, 6, 5, 4, 3]
    assert train.filtered == 1
    test = FERPlusDataset(tmp_path, 'test')
    sample = test[0]
    assert sample['expression'] == 4
    assert sample['image'].shape == (48, 48, 3)  # grayscale repeated over three channels
    assert np.all(sample['image'] == 77)


def test_ferplus_rejects_label_above_contempt(tmp_path: Path) -> None:
    write_text(tmp_path / 'label' / 'test.txt', 'a.png 8\n')
    with pytest.raises(DatasetFormatError, match=r'test.txt, line 1: expression label must be in 0..7 \(got 8\)'):
        FERPlusDataset(tmp_path, 'test')


# ---------------------------------------------------------------------------------------------
# CelebA attributes


def celeba_attribute_file(
    rows: dict[str, list[int]], count: int | None = None, names: list[str] = CELEBA_ATTRIBUTES
) -> str:
    lines = [str(len(rows) if count is None else count), ' '.join(names)]
    lines += [name + '  ' + ' '.join(f'{v:2d}' for v in values) for name, values in rows.items()]
    return '\n'.join(lines) + '\n'


def celeba_rows() -> dict[str, list[int]]:
    first = [-1] * 40
    first[20] = 1  # Male
    second = [1] * 40
    third = [-1] * 40
    third[39] = 1  # Young
    return {'000001.jpg': first, '000002.jpg': second, '000003.jpg': third}


def test_celeba_text_files(tmp_path: Path) -> None:
    write_text(tmp_path / 'list_attr_celeba.txt', celeba_attribute_file(celeba_rows()))
    write_text(tmp_path / 'list_eval_partition.txt', '000001.jpg 0\n000002.jpg 1\n000003.jpg 2\n')
    write_jpeg(tmp_path / 'img_align_celeba' / '000003.jpg', (120, 60, 30), (178, 218))
    trainval = CelebADataset(tmp_path, 'trainval')
    assert [r.image_path.name for r in trainval.records] == ['000001.jpg', '000002.jpg']
    first = trainval.records[0].labels['attributes']
    assert first.dtype == np.int64
    assert first.shape == (40,)
    assert first.sum() == 1
    assert first[20] == 1
    assert trainval.records[1].labels['attributes'].tolist() == [1] * 40
    sample = CelebADataset(tmp_path, 'test')[0]
    assert sample['task'] == 'biattr_celeba'
    assert sample['attributes'].tolist() == [0] * 39 + [1]
    assert sample['image'].shape == (218, 178, 3)


@pytest.mark.parametrize('mutate, pattern', [
    (lambda text: text.replace(' 1', ' 0', 1), r'line 3: attribute values must be 1 or -1 \(got \'0\'\)'),
    (lambda text: text.replace('Male', 'Man'), r'line 2: line 2 must list the 40 CelebA attribute names'),
    (lambda text: '4' + text[1:], r'line 1: line 1 announces 4 images but the file lists 3'),
    (
        lambda text: text.replace('000002.jpg  ', '000002.jpg 1 '),
        r'line 4: expected an image name and 40 values, found 42 fields',
    ),
])
def test_celeba_rejects_bad_attribute_file(tmp_path: Path, mutate, pattern: str) -> None:
    write_text(tmp_path / 'list_attr_celeba.txt', mutate(celeba_attribute_file(celeba_rows())))
    write_text(tmp_path / 'list_eval_partition.txt', '000001.jpg 0\n')
    with pytest.raises(DatasetFormatError, match=pattern):
        CelebADataset(tmp_path, 'train')


@pytest.fixture()
def fake_easydict(monkeypatch):
    """A module named easydict whose EasyDict pickles the way the PAR toolkit's does."""
    module = types.ModuleType('easydict')

    class EasyDict(dict):
        def __setattr__(self, name, value):
            super().__setitem__(name, value)
            super().__setattr__(name, value)

    EasyDict.__module__ = 'easydict'
    EasyDict.__qualname__ = 'EasyDict'
    module.EasyDict = EasyDict
    monkeypatch.setitem(sys.modules, 'easydict', module)
    return EasyDict


def test_celeba_label_pickle(tmp_path: Path, fake_easydict) -> None:
    info = fake_easydict()
    info.image_name = ['a.jpg', 'b.jpg', 'c.jpg']
    attr = np.zeros((3, 40), dtype=np.int64)
    attr[1, 5] = 1
    attr[2, 0] = -1
    info.attr = attr
    info.attr_name = list(CELEBA_ATTRIBUTES)
    partition = fake_easydict()
    partition.trainval = np.array([0, 1])
    partition.test = np.array([2])
    info.partition = partition
    (tmp_path / 'label.pkl').write_bytes(pickle.dumps(info, protocol=2))
    write_jpeg(tmp_path / 'data' / 'b.jpg', (3, 3, 3))
    trainval = CelebADataset.from_pickle(tmp_path, 'trainval')
    assert len(trainval) == 2
    sample = trainval[1]
    assert sample['attributes'][5] == 1
    assert sample['attributes'].sum() == 1
    test = CelebADataset.from_pickle(tmp_path, 'test')
    assert test.records[0].labels['attributes'][0] == -1  # a missing label stays masked
    with pytest.raises(ValueError, match=r"invalid CelebA label.pkl split 'train'; valid splits: trainval, test"):
        CelebADataset.from_pickle(tmp_path, 'train')


def test_celeba_label_pickle_rejects_code(tmp_path: Path) -> None:
    class Exploit:
        def __reduce__(self):
            import os
            return (os.system, ('echo pwned',))

    (tmp_path / 'label.pkl').write_bytes(pickle.dumps({'image_name': Exploit()}))
    with pytest.raises(
        DatasetFormatError, match=r'label.pkl: cannot read the label pickle: label.pkl refers to (posix|os).system'
    ):
        CelebADataset.from_pickle(tmp_path, 'train')


def test_celeba_label_pickle_rejects_bad_values(tmp_path: Path) -> None:
    attr = np.full((1, 40), 2)
    info = {'image_name': ['a.jpg'], 'attr': attr, 'attr_name': list(CELEBA_ATTRIBUTES), 'partition': {'test': [0]}}
    (tmp_path / 'label.pkl').write_bytes(pickle.dumps(info))
    with pytest.raises(DatasetFormatError, match=r'attr values must be 0, 1 or -1 \(missing\) \(got 2\)'):
        CelebADataset.from_pickle(tmp_path, 'test')


# ---------------------------------------------------------------------------------------------
# CelebAMask-HQ and LaPa


def write_part(root: Path, hq_id: int, part: str, rows: slice, cols: slice, size: int = 512) -> None:
    mask = np.zeros((size, size), dtype=np.uint8)
    mask[rows, cols] = 255
    write_png(root / 'CelebAMask-HQ-mask-anno' / str(hq_id // 2000) / f'{hq_id:05d}_{part}.png', mask)


def celebamask_root(root: Path) -> Path:
    write_text(
        root / 'CelebA-HQ-to-CelebA-mapping.txt', 'idx orig_idx orig_file\n0 119613 119614.jpg\n2001 7 000008.jpg\n'
    )
    write_text(root / 'list_eval_partition.txt', '000008.jpg 0\n000009.jpg 0\n119614.jpg 2\n')
    write_jpeg(root / 'CelebA-HQ-img' / '2001.jpg', (180, 140, 120), (1024, 1024))
    write_jpeg(root / 'CelebA-HQ-img' / '0.jpg', (20, 40, 60), (1024, 1024))
    write_part(root, 2001, 'skin', slice(100, 400), slice(100, 400))
    write_part(root, 2001, 'l_eye', slice(150, 170), slice(150, 200))
    write_part(root, 2001, 'eye_g', slice(140, 180), slice(140, 260))  # glasses cover the eye
    write_part(root, 2001, 'hair', slice(0, 120), slice(0, 512))  # hair covers the top of the skin
    write_part(root, 0, 'neck_l', slice(500, 512), slice(0, 10))
    return root


def test_celebamask_paints_in_official_order(tmp_path: Path) -> None:
    root = celebamask_root(tmp_path)
    train = CelebAMaskHQDataset(root, 'train')
    assert train.hq_ids == [2001]  # 000009.jpg has no HQ image
    sample = train[0]
    assert sample['task'] == 'parsing_celebam'
    assert sample['name'] == '2001'
    assert sample['image'].shape == (512, 512, 3)
    assert_color(sample['image'], (180, 140, 120))
    label = sample['label_map']
    assert label.shape == (512, 512)
    assert label.dtype == np.uint8
    values = {name: value for value, name in enumerate(CELEBAMASK_PARTS, start=1)}
    assert (values['skin'], values['l_eye'], values['hair'], values['eye_g'], values['neck_l']) == (2, 8, 14, 15, 18)
    assert label[300, 300] == 2  # skin only
    assert label[160, 160] == 15  # l_eye (8) then eye_g (15) painted over it
    assert label[110, 200] == 14  # skin (2) then hair (14)
    assert label[450, 450] == 0
    assert label[10, 450] == 14
    assert np.unique(label).tolist() == [0, 2, 14, 15]
    test = CelebAMaskHQDataset(root, 'test')
    assert test[0]['label_map'][505, 5] == 18


def test_celebamask_rejects_wrong_mask_size(tmp_path: Path) -> None:
    root = celebamask_root(tmp_path)
    write_part(root, 2001, 'nose', slice(0, 4), slice(0, 4), size=256)
    with pytest.raises(DatasetFormatError, match=r"02001_nose.png: mask must be 512 x 512 \(got '256 x 256'\)"):
        CelebAMaskHQDataset(root, 'train')[0]


def test_resize_bilinear_averages_blocks() -> None:
    image = np.repeat((np.arange(16).reshape(4, 4) * 10).astype(np.uint8)[..., None], 3, axis=2)
    resized = resize_bilinear(image, 2, 2)
    # A 2x reduction samples at block centers, so each output is its 2x2 block's mean:
    # (0 + 10 + 40 + 50) / 4 = 25, (20 + 30 + 60 + 70) / 4 = 45, (80 + 90 + 120 + 130) / 4 = 105, 125.
    assert resized[..., 0].tolist() == [[25, 45], [105, 125]]
    assert resized.dtype == np.uint8
    assert resized.shape == (2, 2, 3)


def lapa_landmark_text(points: np.ndarray) -> str:
    return '106\n' + ''.join(f'{x} {y}\n' for x, y in points)


def write_lapa_sample(root: Path, split: str, name: str, label: np.ndarray, points: np.ndarray) -> None:
    height, width = label.shape
    write_jpeg(root / split / 'images' / f'{name}.jpg', (60, 70, 80), (width, height))
    write_png(root / split / 'labels' / f'{name}.png', label)
    write_text(root / split / 'landmarks' / f'{name}.txt', lapa_landmark_text(points))


def test_lapa_reads_labels_and_landmarks(tmp_path: Path) -> None:
    label = np.zeros((40, 30), dtype=np.uint8)
    label[10:20, 5:25] = 1
    label[0:5] = 10
    points = np.stack([np.arange(106) * 0.25, np.arange(106) * 0.5 + 1], axis=1)
    write_lapa_sample(tmp_path, 'train', 'b_face', label, points)
    write_lapa_sample(tmp_path, 'val', 'a_face', label, points)
    write_lapa_sample(tmp_path, 'train', 'a_face', label, points)
    dataset = LaPaDataset(tmp_path, 'train_val')
    assert [f'{folder}.{name}' for folder, name in dataset.items] == ['train.a_face', 'train.b_face', 'val.a_face']
    sample = dataset[0]
    assert sample['task'] == 'parsing_lapa'
    assert sample['image'].shape == (40, 30, 3)
    np.testing.assert_array_equal(sample['label_map'], label)
    assert sample['landmarks'].shape == (106, 2)
    assert sample['landmarks'].dtype == np.float32
    np.testing.assert_allclose(sample['landmarks'][105], [26.25, 53.5])
    np.testing.assert_allclose(lapa_five_points(sample['landmarks']), points[[104, 105, 54, 84, 90]])


def test_lapa_rejects_bad_files(tmp_path: Path) -> None:
    label = np.zeros((8, 8), dtype=np.uint8)
    points = np.zeros((106, 2))
    write_lapa_sample(tmp_path, 'test', 'x', label, points)
    write_text(tmp_path / 'test' / 'landmarks' / 'x.txt', '98\n' + '1 2\n' * 98)
    dataset = LaPaDataset(tmp_path, 'test')
    with pytest.raises(
        DatasetFormatError, match=r"x.txt, line 1: the first value must be the point count 106 \(got '98'\)"
    ):
        dataset[0]
    write_text(tmp_path / 'test' / 'landmarks' / 'x.txt', '106\n' + '1 2\n' * 105)
    with pytest.raises(DatasetFormatError, match=r'x.txt: expected 212 coordinates after the count \(got 210\)'):
        dataset[0]
    label[0, 0] = 11
    write_text(tmp_path / 'test' / 'landmarks' / 'x.txt', lapa_landmark_text(points))
    write_png(tmp_path / 'test' / 'labels' / 'x.png', label)
    with pytest.raises(DatasetFormatError, match=r'x.png: label values must be in 0..10 \(got 11\)'):
        dataset[0]


# ---------------------------------------------------------------------------------------------
# Landmarks


def hrnet_csv(rows: list[list[object]]) -> str:
    return 'image_name,scale,center_w,center_h,points\n' + ''.join(','.join(str(v) for v in row) + '\n' for row in rows)


def test_300w_shifts_center_and_landmarks(tmp_path: Path) -> None:
    points = np.stack([np.arange(68) + 50.0, np.arange(68) * 2 + 40.0], axis=1)
    row = ['ibug/image_092_01.jpg', 1.5, 100.0, 120.0] + points.reshape(-1).tolist()
    write_text(tmp_path / 'face_landmarks_300w_valid_challenge.csv', hrnet_csv([row]))
    # The published file name has a space where the CSV has none.
    write_jpeg(tmp_path / 'data' / 'ibug' / 'image_092 _01.jpg', (9, 9, 9), (300, 300))
    sample = IBUG300WDataset(tmp_path, 'valid_challenge')[0]
    assert sample['task'] == 'align_300w'
    # The center moves to (98, 118); the side is 200 * 1.5 = 300, so y1 = 118 - 150, x1 = 98 - 150.
    np.testing.assert_allclose(sample['box'], [-32.0, -52.0, 268.0, 248.0])
    np.testing.assert_allclose(sample['landmarks'], points - 2.0)
    assert sample['landmarks'].shape == (68, 2)
    assert sample['landmarks'].dtype == np.float32


def test_wflw_uses_values_as_stored(tmp_path: Path) -> None:
    points = np.stack([np.arange(98) + 0.5, np.arange(98) + 10.25], axis=1)
    row = ['blur/a.jpg', 0.5, 60.0, 70.0] + points.reshape(-1).tolist()
    write_text(tmp_path / 'face_landmarks_wflw_test_blur.csv', hrnet_csv([row]))
    write_jpeg(tmp_path / 'data' / 'blur' / 'a.jpg', (9, 9, 9))
    sample = WFLWDataset(tmp_path, 'test_blur')[0]
    np.testing.assert_allclose(sample['box'], [20.0, 10.0, 120.0, 110.0])  # side 100 around (60, 70)
    np.testing.assert_allclose(sample['landmarks'], points)


@pytest.mark.parametrize('row, pattern', [
    (['a.jpg', 1.0, 1.0, 1.0] + [0.0] * 134, r'line 2: expected 140 columns .* \(got 138\)'),
    (['a.jpg', 1.0, 'left', 1.0] + [0.0] * 136, r"line 2: CSV value must be a number \(got 'left'\)"),
    (['a.jpg', 0.0, 1.0, 1.0] + [0.0] * 136, r"line 2: scale must be positive \(got '0.0'\)"),
    (['a.jpg', 1.0, 1.0, 1.0] + [0.0] * 135 + ['nan'], r"line 2: CSV value must be finite \(got 'nan'\)"),
])
def test_300w_rejects_bad_row(tmp_path: Path, row: list, pattern: str) -> None:
    write_text(tmp_path / 'face_landmarks_300w_train.csv', hrnet_csv([row]))
    with pytest.raises(DatasetFormatError, match=r'face_landmarks_300w_train.csv, ' + pattern):
        IBUG300WDataset(tmp_path, 'train')


def test_cofw_box_from_landmarks(tmp_path: Path) -> None:
    points = np.full((29, 2), 30.0)
    points[0] = [10.2, 20.5]
    points[1] = [50.7, 40.1]
    # floor/ceil give x 10..51 and y 20..41, so the side is max(41, 21) = 41 around (30.5, 30.5).
    np.testing.assert_allclose(landmark_box(points), [10.0, 10.0, 51.0, 51.0])
    color = np.zeros((60, 70, 3), dtype=np.uint8)
    color[..., 1] = 150
    gray = np.full((50, 40), 99, dtype=np.uint8)
    phis = np.zeros((2, 87))
    phis[0, :58] = points.T.reshape(-1)  # x1..x29 then y1..y29, then 29 occlusion flags
    phis[1, :58] = (points + 1).T.reshape(-1)
    images = np.empty((2, 1), dtype=object)
    images[0, 0], images[1, 0] = color, gray
    write_cofw(cofw_samples({'IsT': images, 'phisT': phis}, 'test'), 'test', tmp_path)
    dataset = COFWDataset(tmp_path, 'test')
    assert len(dataset) == 2
    first, second = dataset[0], dataset[1]
    assert first['task'] == 'align_cofw'
    np.testing.assert_array_equal(first['image'], color)  # PNG round trip is exact
    np.testing.assert_allclose(first['landmarks'], points, rtol=0, atol=1e-5)
    np.testing.assert_allclose(first['box'], [10.0, 10.0, 51.0, 51.0])
    assert second['image'].shape == (50, 40, 3)
    assert np.all(second['image'] == 99)
    np.testing.assert_allclose(second['landmarks'], points + 1, rtol=0, atol=1e-5)


def test_cofw_conversion_rejects_wrong_split() -> None:
    with pytest.raises(DatasetFormatError, match='missing variable IsTr or phisTr; is this the train file'):
        cofw_samples({'IsT': np.empty((1, 1), dtype=object), 'phisT': np.zeros((1, 87))}, 'train')


def aflw_mat_dict() -> dict:
    """A stand-in for scipy.io.loadmat('AFLWinfo_release.mat') with 4 faces."""
    names = np.empty((4, 1), dtype=object)
    for i in range(4):
        names[i, 0] = np.array([f'0/image{i}.jpg'])
    data = np.zeros((4, 38))
    data[:, :19] = np.arange(19) + 100  # x1..x19
    data[:, 19:] = np.arange(19) + 200  # y1..y19
    mask = np.ones((4, 19))
    mask[3, 4] = 0  # face 3 has a hidden point
    bbox = np.array([[10.0, 110.0, 20.0, 140.0]] * 4)  # left, right, top, bottom
    return {'bbox': bbox, 'data': data, 'mask_new': mask, 'nameList': names, 'ra': np.array([[3, 1, 4, 2]])}


def test_aflw_splits_and_box(tmp_path: Path) -> None:
    np.savez(tmp_path / 'AFLWinfo_release.npz', **aflw_arrays(aflw_mat_dict()))
    for i in range(4):
        write_jpeg(tmp_path / 'data' / 'flickr' / '0' / f'image{i}.jpg', (i * 50, 0, 0))
    train = AFLW19Dataset(tmp_path, 'train', train_count=2)
    assert train.indices.tolist() == [2, 0]  # ra is 1-based
    full = AFLW19Dataset(tmp_path, 'test_full', train_count=2)
    assert full.indices.tolist() == [3, 1]
    frontal = AFLW19Dataset(tmp_path, 'test_frontal', train_count=2)
    assert frontal.indices.tolist() == [1]
    sample = frontal[0]
    assert sample['task'] == 'align_aflw'
    assert sample['name'] == '0/image1.jpg'
    assert_color(sample['image'], (50, 0, 0))
    np.testing.assert_allclose(sample['box'], [20.0, 10.0, 140.0, 110.0])  # (y1, x1, y2, x2)
    np.testing.assert_allclose(sample['landmarks'][0], [100.0, 200.0])
    np.testing.assert_allclose(sample['landmarks'][18], [118.0, 218.0])
    assert sample['visibility'].shape == (19,)


def test_mat_convert_cli_writes_npz(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(mat_convert, 'load_mat', lambda path: aflw_mat_dict())  # no scipy here
    mat_convert.main(['aflw', '--mat', str(tmp_path / 'AFLWinfo_release.mat'), '--out', str(tmp_path / 'aflw')])
    assert 'AFLWinfo_release.npz' in capsys.readouterr().out
    assert AFLW19Dataset(tmp_path / 'aflw', 'test_full', train_count=2).indices.tolist() == [3, 1]
    with pytest.raises(SystemExit):
        mat_convert.main(['cofw', '--mat', 'x.mat', '--out', str(tmp_path / 'cofw')])
    assert 'cofw needs --split train or --split test' in capsys.readouterr().err


def test_mat_convert_names_missing_readers(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, 'scipy', None)  # makes "import scipy.io" raise ImportError
    monkeypatch.setitem(sys.modules, 'hdf5storage', None)
    with pytest.raises(ImportError, match=r'a.mat needs scipy \(MATLAB v5 files\) or hdf5storage \(v7.3 files\)'):
        mat_convert.load_mat(Path('a.mat'))


def test_aflw_rejects_bad_order(tmp_path: Path) -> None:
    arrays = aflw_arrays(aflw_mat_dict())
    arrays['ra'] = np.array([1, 1, 2, 3])
    np.savez(tmp_path / 'AFLWinfo_release.npz', **arrays)
    with pytest.raises(DatasetFormatError, match='ra must be a permutation of 1..4'):
        AFLW19Dataset(tmp_path, 'train')


def test_aflw_missing_annotation_says_how_to_convert(tmp_path: Path) -> None:
    with pytest.raises(
        DatasetFormatError, match='AFLWinfo_release.npz: AFLW-19 annotation .*mat_convert aflw.* not found'
    ):
        AFLW19Dataset(tmp_path, 'train')


def test_landmark_crop_matrix_maps_box_to_crop() -> None:
    matrix = landmark_crop_matrix(np.array([10.0, 20.0, 110.0, 120.0]), size=512, scale=0.8)
    corners = np.array([[20.0, 10.0, 1.0], [120.0, 110.0, 1.0], [70.0, 60.0, 1.0]]).T
    mapped = (matrix @ corners)[:2].T
    # x' = (x - 20) / 100 * 512 - 0.5, then 0.8 * (x' - 255.5) + 255.5:
    # top-left -0.5 -> 50.7, bottom-right 511.5 -> 460.3, center 255.5 -> 255.5.
    np.testing.assert_allclose(mapped, [[50.7, 50.7], [460.3, 460.3], [255.5, 255.5]])
    full = landmark_crop_matrix(np.array([0.0, 0.0, 512.0, 512.0]), size=512, scale=1.0)
    np.testing.assert_allclose(full, [[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1]])
