"""Evaluation: metrics on synthetic test data, and the back-mapping of predictions to original images."""

from __future__ import annotations

import io
import json
import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from faceptor.config import TINY
from faceptor.model import build_model
from faceptor.train.checkpointing import build_checkpoint, write_checkpoint
from faceptor.train.data_pipeline import build_reader
from faceptor.train.dense_augment import build_dense_transform
from faceptor.train.evaluate import evaluate_task, evaluate_verification, main, read_verification_bin
from faceptor.train.geometry import warp_points
from faceptor.train.losses import build_losses_module
from faceptor.train.multitask import FaceptorTrainingModel
from faceptor.train.optim import OptimConfig, build_optimizer
from faceptor.train.synthetic import write_synthetic_datasets
from faceptor.data.landmarks import landmark_crop_matrix

TINY_SMOKE = Path(__file__).resolve().parents[1] / 'configs' / 'tiny-smoke.yaml'
CPU = torch.device('cpu')


@pytest.fixture(scope='module')
def synthetic(tmp_path_factory) -> dict:
    return write_synthetic_datasets(tmp_path_factory.mktemp('data'), ['age_morph2', 'affect_rafdb', 'biattr_celeba', 'parsing_lapa', 'align_300w'], count=6)


@pytest.fixture(scope='module')
def tiny_model():
    torch.manual_seed(0)
    return build_model(TINY).eval()


def reader(synthetic: dict, task: str):
    entry = synthetic[task]
    return build_reader(task, entry['root'], entry['split'], entry['reader_options'])


def test_value_task_metrics(synthetic, tiny_model) -> None:
    age = evaluate_task(tiny_model, 'age_morph2', reader(synthetic, 'age_morph2'), CPU)
    assert 0 <= age['mae'] <= 100
    assert 0 <= age['cs5'] <= 1
    assert 0 <= evaluate_task(tiny_model, 'affect_rafdb', reader(synthetic, 'affect_rafdb'), CPU)['top1'] <= 1
    assert 0 <= evaluate_task(tiny_model, 'biattr_celeba', reader(synthetic, 'biattr_celeba'), CPU)['mean_accuracy'] <= 1


class OracleLandmarks(torch.nn.Module):
    """Returns heatmaps peaked at the true landmarks of the next sample, mapped into the crop."""

    def __init__(self, cfg, points: list[np.ndarray]) -> None:
        super().__init__()
        self.cfg = cfg
        self.points = points

    def forward(self, image: torch.Tensor, task: str) -> torch.Tensor:
        side = self.cfg.dense_input_size // 4
        crop_points = self.points.pop(0) / self.cfg.dense_input_size * side  # heatmap pixel + 0.5
        heat = torch.full((1, len(crop_points), side, side), -40.0)
        for i, (x, y) in enumerate(crop_points - 0.5):
            x0, y0, fx, fy = int(np.floor(x)), int(np.floor(y)), x - np.floor(x), y - np.floor(y)
            for dx, dy, weight in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
                if weight > 1e-9:
                    heat[0, i, y0 + dy, x0 + dx] = math.log(weight / (1 - weight + 1e-12)) if weight < 1 else 40.0
        return heat


def test_landmarks_map_back_to_original(synthetic) -> None:
    landmarks = reader(synthetic, 'align_300w')
    transform = build_dense_transform('align_300w', TINY.dense_input_size, train=False)
    crop_points = []
    for index in range(len(landmarks)):
        sample = landmarks[index]
        matrix = transform.jitter.mean_matrix(transform.size) @ landmark_crop_matrix(sample['box'], size=transform.size, scale=1.0)
        crop_points.append(warp_points(sample['landmarks'], matrix) + 0.5)
    result = evaluate_task(OracleLandmarks(TINY, crop_points), 'align_300w', landmarks, CPU)
    assert result['nme_inter_ocular'] < 1e-4


def test_parsing_metric_on_random_model(synthetic, tiny_model) -> None:
    result = evaluate_task(tiny_model, 'parsing_lapa', reader(synthetic, 'parsing_lapa'), CPU)
    assert 0 <= result['f1_mean'] <= 1
    assert 'f1_10' in result


def write_bin(path: Path, pairs: int) -> None:
    images = []
    for index in range(2 * pairs):
        buffer = io.BytesIO()
        Image.fromarray(np.full((112, 112, 3), index * 7 % 255, dtype=np.uint8)).save(buffer, format='JPEG')
        images.append(buffer.getvalue())
    with open(path, 'wb') as handle:
        pickle.dump((images, [i % 2 == 0 for i in range(pairs)]), handle)


def test_verification_bin(tmp_path: Path, tiny_model) -> None:
    write_bin(tmp_path / 'lfw.bin', 10)
    images, same = read_verification_bin(tmp_path / 'lfw.bin')
    assert len(images) == 20
    assert same.tolist()[:2] == [True, False]
    result = evaluate_verification(tiny_model, tmp_path / 'lfw.bin', CPU)
    assert 0 <= result['accuracy'] <= 1


def test_verification_bin_rejects_code(tmp_path: Path) -> None:
    import os
    (tmp_path / 'evil.bin').write_bytes(pickle.dumps((os.system, ['true'])))
    with pytest.raises(pickle.UnpicklingError, match='refers to posix.system'):
        read_verification_bin(tmp_path / 'evil.bin')


def test_evaluate_cli(tmp_path: Path, synthetic, capsys) -> None:
    tasks = ['recog_ms1mv3', 'age_morph2', 'parsing_lapa']
    torch.manual_seed(0)
    model = FaceptorTrainingModel(TINY, build_losses_module(TINY, tasks, num_identities=8), {task: 1.0 for task in tasks})
    checkpoint = write_checkpoint(build_checkpoint(model, build_optimizer(model, OptimConfig()), 5), tmp_path / 'checkpoint_rank0_iter_5.pth.tar')
    config = {
        'model': 'tiny', 'max_iter': 10, 'optim': {'warmup_steps': 1}, 'num_identities': 8,
        'tasks': [{'name': task, 'root': synthetic[task]['root'], 'batch_size': 2} for task in ('age_morph2', 'parsing_lapa')],
    }
    (tmp_path / 'run.json').write_text(json.dumps(config))
    assert main(['--config', str(tmp_path / 'run.json'), '--checkpoint', str(checkpoint), '--device', 'cpu',
                 '--split', 'age_morph2=train', '--split', 'parsing_lapa=train']) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed) == {'age_morph2', 'parsing_lapa'}
    assert 'mae' in printed['age_morph2']


def test_training_evaluates_on_interval(tmp_path: Path) -> None:
    from faceptor.train.builder import build_training
    from faceptor.train.config import read_config_file, train_config_from_dict
    from faceptor.train.ddp import init_distributed
    from faceptor.train.synthetic import use_synthetic_data

    data = read_config_file(TINY_SMOKE)
    data['tasks'] = [task for task in data['tasks'] if task['name'] in ('recog_ms1mv3', 'age_morph2', 'align_300w')]
    use_synthetic_data(data, tmp_path / 'data')
    data.update(max_iter=2, output_dir=str(tmp_path / 'run'), evaluate_interval=2,
                evaluate_splits={'age_morph2': 'train', 'align_300w': 'train'})
    data['optim']['warmup_steps'] = 1
    build_training(train_config_from_dict(data), init_distributed('cpu'), resume=None).run()
    lines = [json.loads(line) for line in (tmp_path / 'run' / 'logs' / 'train_log.jsonl').read_text().splitlines()]
    evaluations = [line for line in lines if 'evaluation' in line]
    assert len(evaluations) == 1
    assert evaluations[0]['iter'] == 2
    assert set(evaluations[0]['evaluation']) == {'age_morph2', 'align_300w'}
