"""Readers of the datasets of the official Faceptor-Full config, and the multi-task sampling.

Every reader is a torch Dataset whose samples are dicts with 'image' ((H, W, 3) uint8 RGB),
'task' (the official task key, such as 'age_morph2'), 'name', and the task's labels.
"""

from .age import MORPH2Dataset, UTKFaceDataset
from .attributes import CelebADataset
from .errors import DatasetFormatError
from .expression import AffectNetDataset, FERPlusDataset, RAFDBDataset
from .landmarks import AFLW19Dataset, COFWDataset, IBUG300WDataset, WFLWDataset, landmark_crop_matrix
from .parsing import CelebAMaskHQDataset, LaPaDataset
from .recordio import MS1MV3Dataset, RecordIOError

__all__ = [
    'AFLW19Dataset', 'AffectNetDataset', 'COFWDataset', 'CelebADataset', 'CelebAMaskHQDataset', 'DatasetFormatError',
    'FERPlusDataset', 'IBUG300WDataset', 'LaPaDataset', 'MORPH2Dataset', 'MS1MV3Dataset', 'RAFDBDataset',
    'RecordIOError', 'UTKFaceDataset', 'WFLWDataset', 'landmark_crop_matrix',
]
