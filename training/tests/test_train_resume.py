"""Checkpoints in the official layout, and resuming a run with identical losses."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from faceptor.checkpoint import load_official_checkpoint
from faceptor.config import TINY, ConfigError
from faceptor.model import build_model
from faceptor.train.builder import build_training
from faceptor.train.checkpointing import NEWEST_NAME, find_resume_checkpoint
from faceptor.train.config import read_config_file, train_config_from_dict
from faceptor.train.ddp import init_distributed
from faceptor.train.synthetic import use_synthetic_data

TINY_SMOKE = Path(__file__).resolve().parents[1] / 'configs' / 'tiny-smoke.yaml'


def tiny_config(data_dir: Path, output_dir: Path, **fields):
    data = read_config_file(TINY_SMOKE)
    use_synthetic_data(data, data_dir)
    data.update(output_dir=str(output_dir), max_iter=6, save_interval=3, newest_interval=2, print_interval=100)
    data.update(fields)
    return train_config_from_dict(data)


@pytest.fixture(scope='module')
def straight_run(tmp_path_factory):
    """An uninterrupted 6-iteration run: (session, records, run folder, data folder)."""
    data_dir = tmp_path_factory.mktemp('synthetic')
    output = tmp_path_factory.mktemp('straight')
    session = build_training(tiny_config(data_dir, output), init_distributed('cpu'), resume=None)
    records = []
    session.run(on_step=records.append)
    return session, records, output, data_dir


def copy_checkpoint(run_dir: Path, name: str, target: Path) -> None:
    (target / 'checkpoints').mkdir(parents=True)
    shutil.copy(run_dir / 'checkpoints' / name, target / 'checkpoints' / name)


def test_resume_matches_uninterrupted(straight_run, tmp_path: Path) -> None:
    _, straight, run_dir, data_dir = straight_run
    copy_checkpoint(run_dir, 'checkpoint_rank0_iter_3.pth.tar', tmp_path)

    resumed = build_training(tiny_config(data_dir, tmp_path), init_distributed('cpu'), resume='auto')
    continued = []
    resumed.run(on_step=continued.append)

    assert resumed.start_step == 3
    assert [record.step for record in continued] == [3, 4, 5]
    for expected, got in zip(straight[3:], continued):
        assert got.lr == expected.lr
        assert got.total == expected.total, f'iteration {got.step}'
        assert got.tasks == expected.tasks, f'iteration {got.step}'


def test_checkpoint_official_layout(straight_run) -> None:
    _, _, run_dir, _ = straight_run
    kept_checkpoint = run_dir / 'checkpoints' / 'checkpoint_rank0_iter_6.pth.tar'
    checkpoint = torch.load(kept_checkpoint, map_location='cpu')

    assert checkpoint['step'] == 6
    assert set(checkpoint) >= {'step', 'state_dict', 'optimizer'}
    assert all(key.startswith('module.') for key in checkpoint['state_dict'])
    assert 'module.losses_module.losses.recog_ms1mv3.classifier' in checkpoint['state_dict']
    assert torch.load(run_dir / 'checkpoints' / NEWEST_NAME, map_location='cpu')['step'] == 6
    assert find_resume_checkpoint(run_dir / 'checkpoints') == kept_checkpoint

    report = load_official_checkpoint(build_model(TINY), str(kept_checkpoint))
    assert report.step == 6
    assert report.ignored == ['losses_module.losses.recog_ms1mv3.classifier']


def test_checkpoint_weights_match_model(straight_run) -> None:
    session, _, run_dir, _ = straight_run
    model = build_model(TINY)
    load_official_checkpoint(model, str(run_dir / 'checkpoints' / 'checkpoint_rank0_iter_6.pth.tar'))
    trained = session.model.inference_state_dict()
    for key, value in model.state_dict().items():
        assert torch.equal(value, trained[key]), key


def test_resume_rejects_changed_max_iter(straight_run, tmp_path: Path) -> None:
    _, _, run_dir, data_dir = straight_run
    copy_checkpoint(run_dir, 'checkpoint_rank0_iter_3.pth.tar', tmp_path)
    with pytest.raises(ConfigError, match='max_iter 6 vs 9'):
        build_training(tiny_config(data_dir, tmp_path, max_iter=9), init_distributed('cpu'), resume='auto')


def test_resume_nothing_to_resume(tmp_path: Path) -> None:
    assert find_resume_checkpoint(tmp_path / 'missing') is None
    (tmp_path / 'checkpoints').mkdir()
    assert find_resume_checkpoint(tmp_path / 'checkpoints') is None
