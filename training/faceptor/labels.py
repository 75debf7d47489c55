"""Label lists, landmark schemes and crop constants that the model manifest carries to the worker."""

from __future__ import annotations

# Dataset part of a task key -> the dataset's usual name.
DATASET_NAMES = {
    'ms1mv3': 'MS1MV3',
    'morph2': 'MORPH II',
    'utkface': 'UTKFace',
    'celeba': 'CelebA',
    'affectnet': 'AffectNet',
    'rafdb': 'RAF-DB',
    'ferplus': 'FERPlus',
    'celebam': 'CelebAMask-HQ',
    'lapa': 'LaPa',
    '300w': '300W',
    'cofw': 'COFW',
    'wflw': 'WFLW',
    'aflw': 'AFLW-19',
}

# Faceptor's unified expression order (AffectNet's); every expression dataset is mapped into it.
EXPRESSION_LABELS = ['neutral', 'happy', 'sad', 'surprise', 'fear', 'disgust', 'anger']

# The 40 CelebA attributes in the dataset's standard order.
CELEBA_ATTRIBUTES = [
    '5_o_Clock_Shadow', 'Arched_Eyebrows', 'Attractive', 'Bags_Under_Eyes', 'Bald', 'Bangs', 'Big_Lips',
    'Big_Nose', 'Black_Hair', 'Blond_Hair', 'Blurry', 'Brown_Hair', 'Bushy_Eyebrows', 'Chubby',
    'Double_Chin', 'Eyeglasses', 'Goatee', 'Gray_Hair', 'Heavy_Makeup', 'High_Cheekbones', 'Male',
    'Mouth_Slightly_Open', 'Mustache', 'Narrow_Eyes', 'No_Beard', 'Oval_Face', 'Pale_Skin',
    'Pointy_Nose', 'Receding_Hairline', 'Rosy_Cheeks', 'Sideburns', 'Smiling', 'Straight_Hair',
    'Wavy_Hair', 'Wearing_Earrings', 'Wearing_Hat', 'Wearing_Lipstick', 'Wearing_Necklace',
    'Wearing_Necktie', 'Young',
]

# CelebAMask-HQ classes by label value, named by the dataset's mask-file suffixes. `l_`/`r_` are the
# person's left and right, so `l_eye` appears on the image's right side.
CELEBAMASK_LABELS = [
    'background', 'neck', 'skin', 'cloth', 'l_ear', 'r_ear', 'l_brow', 'r_brow', 'l_eye', 'r_eye',
    'nose', 'mouth', 'l_lip', 'u_lip', 'hair', 'eye_g', 'hat', 'ear_r', 'neck_l',
]

# LaPa classes by label value, with the dataset's class names.
LAPA_LABELS = [
    'background', 'skin', 'left_eyebrow', 'right_eyebrow', 'left_eye', 'right_eye', 'nose',
    'upper_lip', 'inner_mouth', 'lower_lip', 'hair',
]

# Parsing task -> (scheme, labels, crop); see `parsing_crop` for the crop fields.
PARSING_SCHEMES = {
    'parsing_celebam': ('celebamask-19', CELEBAMASK_LABELS, 'celebamask-ffhq'),
    'parsing_lapa': ('lapa-11', LAPA_LABELS, 'lapa-tanh'),
}

# Landmark task -> (scheme, points, five_point_indices, crop scale). The five points are image-left
# eye center, image-right eye center, nose tip, image-left mouth corner and image-right mouth
# corner. Each entry lists the landmark indices to average.
# NOTE: the WFLW and AFLW-19 indices follow the datasets' published point layouts, in which WFLW
# 96/97 are the pupils and AFLW-19 7/10 the eye centers. They were not checked against a trained model.
# COFW-29 has no entry because its point layout could not be confirmed.
LANDMARK_SCHEMES = {
    'align_300w': ('300w-68', 68, [[36, 37, 38, 39, 40, 41], [42, 43, 44, 45, 46, 47], [30], [48], [54]], 0.8),
    'align_wflw': ('wflw-98', 98, [[96], [97], [54], [76], [82]], 0.8),
    'align_aflw': ('aflw-19', 19, [[7], [10], [13], [15], [17]], 1.0),
}

# ArcFace 5-point template in pixels of a 112 x 112 crop (insightface's standard alignment).
ARCFACE_TEMPLATE_112 = [
    [38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041],
]

# LaPa alignment target in units of the crop side: template points (196, 226), (316, 226),
# (256, 286), (220, 360.4), (292, 360.4) of a 512 frame, divided by 512. The worker multiplies by
# size - 1, which reproduces the official (t / 512) * 511 target.
LAPA_TEMPLATE_UNIT = [
    [0.3828125, 0.44140625], [0.6171875, 0.44140625], [0.5, 0.55859375], [0.4296875, 0.70390625], [0.5703125, 0.70390625],
]
LAPA_WARP_FACTOR = 0.8

FACE_MEAN = [0.5, 0.5, 0.5]
FACE_STD = [0.5, 0.5, 0.5]
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def dataset_name(task: str) -> str:
    """Usual name of the dataset a task key was trained on, e.g. 'affect_rafdb' -> 'RAF-DB'."""
    return DATASET_NAMES.get(task.split('_', 1)[1], task)


def parsing_crop(task: str) -> dict:
    """Return the manifest's `crops.parsing` entry for a parsing task."""
    kind = PARSING_SCHEMES[task][2]
    if kind == 'lapa-tanh':
        return {'kind': kind, 'warp_factor': LAPA_WARP_FACTOR, 'template_unit': LAPA_TEMPLATE_UNIT}
    return {'kind': kind}
