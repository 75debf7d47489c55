"""CPU smoke tests of the distillation: batches, losses, a short run and the export of its student."""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from distill.augment import GeometricJitter, jitter_matrix
from distill.data import LabelsError, load_labels
from distill.export_student import SOURCE_KIND
from distill.objectives import IdentityDistillation, gaussian_log_density, heatmap_cross_entropy, pairwise_cosine, soft_expression_loss, softmax_point_loss
from distill.trainer import (
    BatchBuilder, DistillConfig, FaceStream, build_student, learning_rate, load_samples, sincos_position_table, train,
)
from faceptor.export import SoftmaxHeatmapOutput
from faceptor.model import build_model
from faceptor.train.losses import soft_argmax

REPO_ROOT = Path(__file__).resolve().parents[2]
LABELS = REPO_ROOT / 'training' / 'data' / 'teacher-labels.json'
PHOTOS = REPO_ROOT / 'test' / 'fixtures' / 'photos'
CONFIG = REPO_ROOT / 'training' / 'configs' / 'demo-tiny.json'
TRAIN_DEMO = REPO_ROOT / 'training' / 'distill' / 'train_demo.py'


@pytest.fixture(scope='module')
def labels():
    return load_labels(LABELS)


@pytest.fixture(scope='module')
def few_samples(labels):
    return load_samples(labels.split('train')[:3], PHOTOS)


def test_labels_split_sizes(labels):
    summary = labels.raw['summary']
    assert len(labels.split('train')) == summary['train']['faces']
    assert len(labels.split('heldout')) == summary['heldout']['faces']
    with pytest.raises(LabelsError, match='valid splits: train, heldout'):
        labels.split('test')


def test_batch_points_follow_crop(few_samples):
    builder = BatchBuilder(DistillConfig.from_file(CONFIG))
    batch = builder.build(few_samples, np.random.default_rng(0))
    size = builder.cfg.dense_input_size
    assert batch.dense.shape == (3, 3, size, size)
    assert batch.face.shape == (3, 3, 112, 112)
    assert batch.points.shape == (3, 68, 2)
    # Jittered crops keep the face inside the crop: the points' center stays near the crop center.
    center = batch.points.mean(dim=1)
    assert torch.all((center - (size - 1) / 2).abs() < 0.3 * size)


def test_flip_keeps_person_left_right(few_samples):
    builder = BatchBuilder(replace(DistillConfig.from_file(CONFIG), dense_jitter={
        'max_rotation_degrees': 0.0, 'max_scale_change': 0.0, 'max_shift_fraction': 0.0, 'flip_probability': 1.0,
    }))
    _, plain = builder.landmark_crop(few_samples[0], None)
    _, flipped = builder.landmark_crop(few_samples[0], np.random.default_rng(1))
    size = builder.cfg.dense_input_size
    # Point 36 (outer corner of the eye on the image left) stays on the image left after the swap.
    assert flipped[36, 0] < flipped[45, 0]
    np.testing.assert_allclose(flipped[36, 0], size - 1 - plain[45, 0], atol=1e-9)
    np.testing.assert_allclose(flipped[36, 1], plain[45, 1], atol=1e-9)


def test_jitter_matrix_is_similarity():
    matrix, _ = jitter_matrix(128, GeometricJitter(20.0, 0.2, 0.1, flip_probability=0.0), np.random.default_rng(3))
    linear = matrix[:2, :2]
    np.testing.assert_allclose(linear @ linear.T, np.eye(2) * abs(np.linalg.det(linear)), atol=1e-12)


def test_face_stream_batches_distinct(few_samples):
    stream = FaceStream(few_samples, np.random.default_rng(0))
    for _ in range(10):
        batch = stream.take(3)
        assert len({id(sample) for sample in batch}) == 3


def test_learning_rate_schedule():
    cfg = DistillConfig(learning_rate=1e-3, warmup_steps=10, min_learning_rate_ratio=0.1)
    assert learning_rate(0, 0.0, cfg) == pytest.approx(1e-4)
    assert learning_rate(9, 0.0, cfg) == pytest.approx(1e-3)
    assert learning_rate(50, 0.5, cfg) == pytest.approx(1e-4 + 0.9e-3 * 0.5)
    assert learning_rate(100, 1.0, cfg) == pytest.approx(1e-4)


def test_soft_expression_loss_minimum_at_teacher():
    teacher = torch.tensor([[0.7, 0.1, 0.05, 0.05, 0.04, 0.03, 0.03]])
    matching = soft_expression_loss(teacher.log(), teacher).total
    other = soft_expression_loss(torch.zeros(1, 7), teacher).total
    entropy = -(teacher * teacher.log()).sum()
    assert float(matching) == pytest.approx(float(entropy), abs=1e-6)
    assert float(other) > float(matching)


def test_identity_loss_zero_for_matching_geometry():
    torch.manual_seed(0)
    teacher = torch.randn(6, 128)
    loss = IdentityDistillation(512, 128)
    with torch.no_grad():
        loss.projection.weight.copy_(torch.eye(128, 512))
    embeddings = torch.cat([teacher, torch.zeros(6, 384)], dim=1)
    terms = loss(embeddings, teacher)
    assert float(terms.parts['pair_mse']) == pytest.approx(0.0, abs=1e-10)
    assert float(terms.parts['pair_corr']) == pytest.approx(0.0, abs=1e-6)
    assert float(terms.parts['projection']) == pytest.approx(0.0, abs=1e-6)
    assert pairwise_cosine(teacher).shape == (15,)


def test_short_run_has_finite_losses(few_samples):
    cfg = replace(DistillConfig.from_file(CONFIG), batch_size=3, eval_every=0, warmup_steps=2)
    result = train(cfg, few_samples, few_samples, steps=3, minutes=None, seed=0)
    assert result.steps == 3
    assert all(math.isfinite(value) for value in result.final_log.values())
    for split in ('train', 'heldout'):
        assert math.isfinite(result.checks[split]['nme'])
        assert 0.0 <= result.checks[split]['expression_agreement'] <= 1.0


def test_cli_exports_trained_flags(tmp_path):
    out = tmp_path / 'faceptor-tiny'
    completed = subprocess.run(
        [sys.executable, str(TRAIN_DEMO), '--labels', str(LABELS), '--out', str(out), '--steps', '1', '--faces', '3',
         '--work-dir', str(tmp_path / 'work'), '--threads', '1', '--untrained-heads', 'identity'],
        capture_output=True, text=True, timeout=900,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    manifest = json.loads((out / 'manifest.json').read_text())
    trained = {name for name, head in manifest['heads'].items() if head['trained']}
    assert trained == {'landmarks', 'age', 'expression'}
    assert manifest['heads']['identity']['trained_on'] is None
    assert 'trained heads: landmarks, age, expression;' in manifest['description']
    assert manifest['heads']['attributes']['trained_on'] is None
    assert manifest['heads']['parsing']['trained_on'] is None
    assert manifest['source']['kind'] == SOURCE_KIND
    assert '--seed 0 --steps 1' in manifest['source']['notes']
    assert manifest['encoders']['dense']['input_size'] == 128
    for graph in manifest['graphs'].values():
        assert hashlib.sha256((out / graph['file']).read_bytes()).hexdigest() == graph['sha256']
    assert not (tmp_path / 'faceptor-tiny.partial').exists()


def test_cli_rejects_bad_flags(tmp_path):
    for flags, message in (
        (['--steps', '0'], '--steps must be at least 1 (or 0 with --init-checkpoint)'),
        (['--steps', '1', '--untrained-heads', 'landmarks,parsing'], "--untrained-heads names ['parsing']"),
    ):
        completed = subprocess.run(
            [sys.executable, str(TRAIN_DEMO), '--labels', str(LABELS), *flags], capture_output=True, text=True, timeout=120,
        )
        assert completed.returncode == 2
        assert message in completed.stderr


def test_cli_rejects_missing_labels(tmp_path):
    completed = subprocess.run(
        [sys.executable, str(TRAIN_DEMO), '--labels', str(tmp_path / 'none.json'), '--steps', '1'],
        capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 2
    assert 'not found' in completed.stderr
    assert 'label-photos.ts' in completed.stderr


def test_student_aligned_run_finite(few_samples):
    cfg = replace(DistillConfig.from_file(CONFIG), batch_size=3, eval_every=0, face_alignment='student')
    batch = BatchBuilder(cfg).build(few_samples, np.random.default_rng(0))
    assert batch.face is None
    result = train(cfg, few_samples, [], steps=2, minutes=None, seed=0)
    assert result.steps == 2
    assert all(math.isfinite(value) for value in result.final_log.values())


def test_config_rejects_unknown_alignment():
    with pytest.raises(ValueError, match='valid values: teacher, student'):
        DistillConfig(face_alignment='detector')


def softmax_expectation(logits: torch.Tensor) -> torch.Tensor:
    """(B, P, H, W) -> (B, P, 2) normalized softmax-weighted mean position, written out independently."""
    batch, count, height, width = logits.shape
    weights = torch.softmax(logits.double().reshape(batch, count, -1), dim=-1).reshape(batch, count, height, width)
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float64), torch.arange(width, dtype=torch.float64), indexing='ij')
    x = (weights * xs).sum(dim=(2, 3))
    y = (weights * ys).sum(dim=(2, 3))
    return torch.stack([(x + 0.5) / width, (y + 0.5) / height], dim=-1)


def test_softmax_output_matches_sigmoid_decoder():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 16, 16) * 4
    prior = torch.randn(5, 16, 16)
    rewrite = SoftmaxHeatmapOutput(prior)
    served = rewrite(logits)
    assert float(served.max()) <= -10 + 1e-5
    expected = softmax_expectation(logits + prior)
    assert torch.allclose(soft_argmax(served).double(), expected, atol=2e-5)
    # Without the rewrite the official sigmoid decoder reads other points.
    assert not torch.allclose(soft_argmax(logits + prior).double(), expected, atol=1e-2)


def test_softmax_output_rejects_bad_settings():
    with pytest.raises(ValueError, match='margin must lie in'):
        SoftmaxHeatmapOutput(None, margin=16.0)
    with pytest.raises(ValueError, match='log_prior has shape'):
        SoftmaxHeatmapOutput(torch.zeros(3, 8, 8))(torch.zeros(1, 3, 16, 16))


def test_log_prior_peaks_at_points():
    # Crop pixel 63.5 of a 128 crop is map coordinate 15.5 of 32; pixel 15.5 is map 3.5, pixel 0 is map -0.375.
    prior = gaussian_log_density(torch.tensor([[63.5, 15.5], [0.0, 0.0]]), 128, 32, 2.0)
    assert prior.shape == (2, 32, 32)
    assert float(prior[0, 3, 15]) == pytest.approx(-(0.25 + 0.25) / 8)
    assert float(prior[1, 0, 0]) == pytest.approx(-(0.375**2 * 2) / 8)
    x, y = softmax_expectation(prior[None])[0, 0].tolist()
    assert x == pytest.approx(64.0 / 128, abs=1e-6)
    # 3.5 map pixels from the top edge at sigma 2, the cut-off Gaussian's mean moves inward.
    assert 16.0 / 128 < y < 17.0 / 128


def test_heatmap_cross_entropy_minimum():
    points = torch.tensor([[[40.0, 72.0]]])  # map pixel (9.625, 17.625) of a 32 map over a 128 crop
    target = gaussian_log_density(points, 128, 32, 1.0)
    at_target = heatmap_cross_entropy(target, points, 128, 1.0)
    shifted = heatmap_cross_entropy(torch.roll(target, 1, dims=3), points, 128, 1.0)
    flat = heatmap_cross_entropy(torch.zeros(1, 1, 32, 32), points, 128, 1.0)
    assert float(at_target.parts['cross_entropy_excess']) == pytest.approx(0.0, abs=1e-5)
    assert float(flat.total) == pytest.approx(math.log(32 * 32), abs=1e-5)
    # One map pixel off at sigma 1: KL of two unit Gaussians one std apart, 1/2.
    assert float(shifted.parts['cross_entropy_excess']) == pytest.approx(0.5, abs=0.01)
    assert float(at_target.total) < float(shifted.total) < float(flat.total)
    with pytest.raises(ValueError, match='sigma must be positive'):
        heatmap_cross_entropy(target, points, 128, 0.0)


def test_sincos_table_codes_grid():
    model = build_model(DistillConfig.from_file(CONFIG).model_config())
    sincos_position_table(model, 3.0)
    table = model.backbone_module.visual.positional_embedding.detach()
    side = int(round((table.shape[0] - 1) ** 0.5))
    quarter = table.shape[1] // 4
    assert torch.all(table[0] == 0)
    # Row 1 + y * side + x: the first frequency is 1 per grid step.
    row = 1 + 2 * side + 5
    assert float(table[row, 0]) == pytest.approx(3 * math.sin(5.0), abs=1e-5)
    assert float(table[row, 2 * quarter]) == pytest.approx(3 * math.sin(2.0), abs=1e-5)
    assert len({tuple(r.tolist()) for r in table[1:]}) == side * side


def test_untrained_student_gives_mean_shape(few_samples):
    cfg = DistillConfig.from_file(CONFIG)
    assert cfg.landmark_decoding == 'softmax'
    assert cfg.landmark_prior_sigma > 0
    student = build_student(cfg, few_samples, 128, None)
    mean_shape = BatchBuilder(cfg).mean_shape(few_samples)
    # A map head that outputs zeros leaves only the prior, whose expectation is the mean shape
    # (up to the map border's truncation of the Gaussian).
    map_side = 4 * student.model.cfg.token_grid(cfg.dense_input_size)
    served = student.served_heatmaps(torch.zeros(1, 68, map_side, map_side))
    points = soft_argmax(served)[0].double().numpy() * cfg.dense_input_size - 0.5
    border = 3 * cfg.landmark_prior_sigma * cfg.dense_input_size / map_side  # three prior stds, in crop pixels
    inner = (mean_shape > border).all(axis=1) & (mean_shape < cfg.dense_input_size - border).all(axis=1)
    assert inner.sum() >= 20
    assert np.abs(points[inner] - mean_shape[inner]).max() < 0.05
    # Near the crop border the cut-off prior pulls the points inward, never outward.
    center = cfg.dense_input_size / 2
    assert np.all(np.abs(points - center) <= np.abs(mean_shape - center) + 0.05)


def test_config_rejects_bad_landmark_settings():
    with pytest.raises(ValueError, match='needs landmark_decoding "softmax"'):
        DistillConfig(landmark_prior_sigma=3.0)
    with pytest.raises(ValueError, match='unknown losses'):
        DistillConfig(loss_weights={'landmark': 1.0})
