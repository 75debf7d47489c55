"""Augmentations: warp geometry, dense flips, photometric ops and the 112 px transforms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from faceptor.train.augment import (
    RAND_AUGMENT_OPS,
    AttributeTrainTransform,
    FaceEvalTransform,
    RandAugment,
    RecognitionTrainTransform,
    center_square_resize,
    random_erasing,
)
from faceptor.train.dense_augment import (
    LandmarkTransform,
    ParsingTransform,
    box_blur,
    build_dense_transform,
    landmark_jitter,
    noise_fusion,
    random_gamma,
    random_gray,
    random_occlusion,
)
from faceptor.train.flips import IBUG68_FLIP_PERMUTATION, flip_label_map, flip_landmarks, landmark_flip_permutation
from faceptor.train.geometry import (
    inverse_tanh_warp,
    remap,
    resize_matrix,
    sampling_grid,
    similarity_matrix,
    tanh_warp,
    transform_points,
    umeyama_similarity,
    warp_points,
)


def dot_image(height: int, width: int, points: np.ndarray) -> np.ndarray:
    """Black uint8 RGB image with a white 3 x 3 dot centered on each integer point."""
    image = np.zeros((height, width, 3), dtype=np.uint8)
    for x, y in points.astype(int):
        image[y - 1:y + 2, x - 1:x + 2] = 255
    return image


def dot_centroid(image: torch.Tensor, point: np.ndarray, window: int = 6) -> np.ndarray:
    """Intensity centroid (x, y) of a (C, H, W) image in a window around `point`."""
    x0, y0 = int(round(point[0])) - window, int(round(point[1])) - window
    patch = image[0, y0:y0 + 2 * window + 1, x0:x0 + 2 * window + 1].double()
    ys, xs = torch.meshgrid(torch.arange(patch.shape[0]), torch.arange(patch.shape[1]), indexing='ij')
    mass = patch.sum()
    return np.array([(patch * xs).sum() / mass + x0, (patch * ys).sum() / mass + y0])


# --- geometry -------------------------------------------------------------------------------


def test_umeyama_recovers_similarity() -> None:
    matrix = similarity_matrix(0.3, 1.7, (5.0, -2.0), (10.0, 20.0), (100.0, 90.0))
    source = np.array([[0.0, 0.0], [40.0, 10.0], [15.0, 60.0], [70.0, 80.0], [33.0, 3.0]])
    estimated = umeyama_similarity(source, transform_points(source, matrix))
    assert np.allclose(estimated, matrix, atol=1e-9)


def test_umeyama_rejects_coincident_points() -> None:
    with pytest.raises(ValueError, match='coincide'):
        umeyama_similarity(np.ones((5, 2)), np.zeros((5, 2)))


def test_tanh_warp_round_trip() -> None:
    points = np.array([[10.0, 500.0], [256.0, 256.0], [100.0, 400.0], [480.0, 30.0]])
    warped = tanh_warp(points, 0.8, 512)
    assert not np.allclose(warped, points)
    assert np.allclose(inverse_tanh_warp(warped, 0.8, 512), points, atol=1e-9)


def test_tanh_warp_linear_center() -> None:
    # |n| <= 1 - f stays linear: n = 0.1 for f = 0.8 is inside.
    point = np.array([[(0.1 + 1) / 2 * 512, 256.0]])
    assert np.allclose(tanh_warp(point, 0.8, 512), point)


def test_remap_identity_exact() -> None:
    image = torch.rand(3, 16, 16)
    grid = sampling_grid(np.eye(3), 16)
    assert torch.allclose(remap(image, grid), image, atol=1e-6)


def test_remap_resize_matches_interpolate() -> None:
    torch.manual_seed(0)
    image = torch.rand(3, 64, 64)
    grid = sampling_grid(resize_matrix(64, 64, 28, 28), 28)
    expected = F.interpolate(image[None], size=(28, 28), mode='bilinear', align_corners=False)[0]
    assert torch.allclose(remap(image, grid), expected, atol=1e-5)


def test_remap_outside_is_zero() -> None:
    shift = np.array([[1.0, 0.0, 100.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    out = remap(torch.ones(3, 8, 8), sampling_grid(shift, 8))
    assert out.abs().max().item() == 0.0


def test_remap_nearest_keeps_labels() -> None:
    label = torch.randint(0, 11, (32, 32))
    out = remap(label, sampling_grid(similarity_matrix(0.4, 1.1, (1.0, 2.0), (15.5, 15.5), (15.5, 15.5)), 32), 'nearest')
    assert out.dtype == torch.int64
    assert set(out.unique().tolist()) <= set(label.unique().tolist()) | {0}


def test_matrix_moves_points_and_pixels_together() -> None:
    points = np.array([[60, 50], [120, 55], [90, 100], [70, 140], [115, 135]], dtype=np.float64)
    image = dot_image(200, 180, points)
    matrix = landmark_jitter(0.8).sample(np.random.default_rng(3), 128) @ resize_matrix(200, 180, 128, 128)
    warped = remap(torch.from_numpy(image).permute(2, 0, 1).float(), sampling_grid(matrix, 128))
    expected = warp_points(points, matrix)
    for point in expected:
        assert np.allclose(dot_centroid(warped, point), point, atol=0.35)


def test_tanh_warp_moves_points_and_pixels_together() -> None:
    points = np.array([[256, 256], [200, 300], [330, 180], [60, 250], [450, 470]], dtype=np.float64)
    image = dot_image(512, 512, points)
    warped = remap(torch.from_numpy(image).permute(2, 0, 1).float(), sampling_grid(np.eye(3), 512, warp_factor=0.8))
    expected = warp_points(points, np.eye(3), warp_factor=0.8, size=512)
    for point in expected:
        assert np.allclose(dot_centroid(warped, point), point, atol=0.5)


# --- flips ----------------------------------------------------------------------------------


def test_ibug68_permutation_involution() -> None:
    permutation = landmark_flip_permutation('align_300w')
    assert sorted(permutation.tolist()) == list(range(68))
    assert np.array_equal(permutation[permutation], np.arange(68))
    assert permutation[36] == 45
    assert permutation[48] == 54
    assert permutation[30] == 30


def test_landmark_flip_maps_back_exactly() -> None:
    # Quarter-pixel coordinates are exact in float32, so mirroring twice must restore them bit for bit.
    points = (np.random.default_rng(0).integers(0, 892, size=(68, 2)) / 4).astype(np.float32)
    twice = flip_landmarks(flip_landmarks(points, IBUG68_FLIP_PERMUTATION, 224), IBUG68_FLIP_PERMUTATION, 224)
    assert np.array_equal(twice, points)


def test_landmark_flip_fixes_symmetric_face() -> None:
    # A face that is its own mirror image (about x = 111.5) must come back unchanged.
    rng = np.random.default_rng(1)
    points = np.zeros((68, 2))
    permutation = IBUG68_FLIP_PERMUTATION
    for i in range(68):
        j = permutation[i]
        if i < j:
            points[i] = rng.uniform(10, 100), rng.uniform(10, 200)
            points[j] = 223 - points[i][0], points[i][1]
        elif i == j:
            points[i] = 111.5, rng.uniform(10, 200)
    assert np.allclose(flip_landmarks(points, permutation, 224), points)


def test_flip_rejects_unknown_scheme() -> None:
    with pytest.raises(ValueError, match="no horizontal-flip permutation is defined for 'align_wflw'"):
        landmark_flip_permutation('align_wflw')


def test_label_map_flip_swaps_classes() -> None:
    label = torch.tensor([[4, 0, 2], [5, 1, 3]])
    flipped = flip_label_map(label, [(2, 3), (4, 5)])
    assert flipped.tolist() == [[3, 0, 5], [2, 1, 4]]


def test_landmark_transform_flip_matches_unflipped() -> None:
    sample = {'image': np.random.default_rng(0).integers(0, 255, (240, 200, 3), dtype=np.uint8),
              'landmarks': np.random.default_rng(1).uniform(40, 160, (68, 2)).astype(np.float32),
              'box': np.array([20.0, 10.0, 220.0, 190.0], dtype=np.float32)}
    for seed in range(20):
        plain = LandmarkTransform('align_300w', 64, train=True, hflip=False)(sample, np.random.default_rng(seed))
        flipped = LandmarkTransform('align_300w', 64, train=True, hflip=True)(sample, np.random.default_rng(seed))
        if torch.equal(plain['image'], flipped['image']):
            continue
        assert torch.allclose(flipped['image'], plain['image'].flip(-1))
        assert np.allclose(flipped['label'].numpy(), flip_landmarks(plain['label'].numpy(), IBUG68_FLIP_PERMUTATION, 64))
        return
    pytest.fail('no seed in 0..19 flipped the sample')


# --- photometric ops ------------------------------------------------------------------------


def test_random_gray_luma() -> None:
    image = torch.tensor([1.0, 0.5, 0.0]).reshape(3, 1, 1).expand(3, 2, 2)
    always = random_gray(image, np.random.default_rng(0), probability=1.0)
    assert torch.allclose(always, torch.full((3, 2, 2), 0.299 + 0.5 * 0.587))
    assert torch.equal(random_gray(image, np.random.default_rng(0), probability=0.0), image)


def test_random_gamma_choices() -> None:
    image = torch.full((3, 2, 2), 0.25)
    values = {round(random_gamma(image, np.random.default_rng(seed)).max().item(), 6) for seed in range(30)}
    assert values == {0.0625, 0.25, 0.5}


def test_box_blur_matches_window_mean() -> None:
    image = torch.arange(25, dtype=torch.float32).reshape(1, 5, 5)
    blurred = box_blur(image, 3)
    assert blurred[0, 2, 2].item() == pytest.approx(image[0, 1:4, 1:4].mean().item())
    # Reflect-101 border: row -1 is row 1 and column -1 is column 1.
    corner = torch.tensor([[6, 5, 6], [1, 0, 1], [6, 5, 6]], dtype=torch.float32).mean()
    assert blurred[0, 0, 0].item() == pytest.approx(corner.item())


def test_box_blur_even_kernel_anchor() -> None:
    image = torch.zeros(1, 6, 6)
    image[0, 3, 3] = 4.0
    blurred = box_blur(image, 2)
    # A 2 x 2 window covers the center pixel and the one before it on each axis.
    assert blurred[0, 3, 3].item() == pytest.approx(1.0)
    assert blurred[0, 4, 4].item() == pytest.approx(1.0)
    assert blurred[0, 2, 2].item() == 0.0


def test_random_occlusion_blacks_rectangle() -> None:
    out = random_occlusion(torch.ones(3, 64, 64), np.random.default_rng(5))
    zero = (out[0] == 0)
    rows, cols = zero.any(dim=1).nonzero(), zero.any(dim=0).nonzero()
    assert zero.sum().item() == (rows.max() - rows.min() + 1).item() * (cols.max() - cols.min() + 1).item()
    assert zero.sum().item() > 0


def test_noise_fusion_range() -> None:
    out = noise_fusion(torch.full((3, 16, 16), 0.5), np.random.default_rng(0))
    assert out.min().item() >= 0.25
    assert out.max().item() <= 0.75


# --- dense task transforms ------------------------------------------------------------------


def test_parsing_eval_identity_at_full_size() -> None:
    image = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    label = np.random.default_rng(1).integers(0, 19, (32, 32), dtype=np.uint8)
    out = ParsingTransform('parsing_celebam', 32, 'resize', train=False)({'image': image, 'label_map': label}, np.random.default_rng(0))
    assert torch.equal(out['label'], torch.from_numpy(label).long())
    unit = out['image'] * torch.tensor([0.26862954, 0.26130258, 0.27577711])[:, None, None] + torch.tensor([0.48145466, 0.4578275, 0.40821073])[:, None, None]
    assert torch.allclose(unit, torch.from_numpy(image).permute(2, 0, 1).float() / 255, atol=1e-5)


def test_lapa_transform_aligns_five_points() -> None:
    landmarks = np.random.default_rng(0).uniform(50, 150, (106, 2))
    landmarks[[104, 105, 54, 84, 90]] = [[80, 90], [120, 90], [100, 112], [85, 135], [115, 135]]
    sample = {'image': np.zeros((200, 200, 3), dtype=np.uint8), 'label_map': np.zeros((200, 200), dtype=np.uint8), 'landmarks': landmarks}
    transform = build_dense_transform('parsing_lapa', 64, train=False)
    matrix = transform.alignment_matrix(sample)
    aligned = transform_points(landmarks[[104, 105, 54, 84, 90]], matrix)
    template = np.array([[196, 226], [316, 226], [256, 286], [220, 360.4], [292, 360.4]]) / 512 * 63
    assert np.abs(aligned - template).max() < 2.0
    assert transform.warp_factor == 0.8


def test_landmark_transform_output() -> None:
    sample = {'image': np.zeros((100, 100, 3), dtype=np.uint8), 'landmarks': np.array([[50.0, 50.0], [30.0, 40.0]]),
              'box': np.array([0.0, 0.0, 100.0, 100.0])}
    out = build_dense_transform('align_aflw', 32, train=False)(sample, np.random.default_rng(0))
    assert out['image'].shape == (3, 32, 32)
    assert out['label'].dtype == torch.float32
    # AFLW crops at scale 1.0: x' = (x - 0) / 100 * 32 - 0.5.
    assert np.allclose(out['label'].numpy(), [[15.5, 15.5], [9.1, 12.3]], atol=1e-5)


def test_dense_transform_rejects_value_task() -> None:
    with pytest.raises(ValueError, match="'age_morph2' is not a dense task"):
        build_dense_transform('age_morph2', 64)


# --- 112 px transforms ----------------------------------------------------------------------


def test_center_square_resize_crops_center() -> None:
    image = np.zeros((218, 178, 3), dtype=np.uint8)
    image[20:198] = 255  # the centered 178 x 178 square
    out = np.asarray(center_square_resize(Image.fromarray(image), 112))
    assert out.shape == (112, 112, 3)
    assert out.min() == 255


def test_rand_augment_ops_keep_size() -> None:
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (112, 112, 3), dtype=np.uint8))
    rng = np.random.default_rng(0)
    for op in RAND_AUGMENT_OPS:
        out = op(image, 9.0, rng)
        assert out.size == (112, 112), op.__name__
        assert out.mode == 'RGB', op.__name__


def test_rand_augment_changes_image() -> None:
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (112, 112, 3), dtype=np.uint8))
    changed = sum(not np.array_equal(np.asarray(RandAugment()(image, np.random.default_rng(seed))), np.asarray(image)) for seed in range(20))
    assert 10 <= changed <= 20


def test_random_erasing_box_statistics() -> None:
    tensor = torch.zeros(3, 112, 112)
    erased = random_erasing(tensor, np.random.default_rng(0), probability=1.0)
    changed = (erased != 0).any(dim=0)
    fraction = changed.float().mean().item()
    assert 0.015 < fraction < 0.34
    assert erased.std().item() > 0
    assert torch.equal(random_erasing(tensor, np.random.default_rng(0), probability=0.0), tensor)


def test_attribute_transform_deterministic() -> None:
    image = np.random.default_rng(0).integers(0, 255, (218, 178, 3), dtype=np.uint8)
    transform = AttributeTrainTransform(112)
    first = transform(image, np.random.default_rng(7))
    second = transform(image, np.random.default_rng(7))
    assert first.shape == (3, 112, 112)
    assert torch.equal(first, second)
    assert not torch.equal(first, transform(image, np.random.default_rng(8)))


def test_recognition_transform_flip() -> None:
    image = np.zeros((112, 112, 3), dtype=np.uint8)
    image[:, :10] = 255
    outputs = [RecognitionTrainTransform()(image, np.random.default_rng(seed)) for seed in range(10)]
    left_white = [bool(out[0, 0, 0] > 0) for out in outputs]
    assert any(left_white)
    assert not all(left_white)
    assert outputs[0].min().item() == pytest.approx(-1.0)


def test_face_eval_transform_normalization() -> None:
    out = FaceEvalTransform(112)(np.full((50, 60, 3), 255, dtype=np.uint8))
    assert out.shape == (3, 112, 112)
    assert torch.allclose(out, torch.ones_like(out))
    assert math.isclose(FaceEvalTransform(4)(np.zeros((4, 4, 3), dtype=np.uint8)).max().item(), -1.0)
