"""CPU smoke runs of the tiny config on synthetic data in the official formats."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from faceptor.checkpoint import load_official_checkpoint
from faceptor.config import TINY
from faceptor.data.sampling import multitask_steps
from faceptor.model import build_model
from faceptor.train.builder import build_training
from faceptor.train.config import read_config_file, train_config_from_dict
from faceptor.train.ddp import init_distributed
from faceptor.train.synthetic import use_synthetic_data
from faceptor.train.trainer import NonFiniteLossError

TRAINING_DIR = Path(__file__).resolve().parents[1]
TINY_SMOKE = TRAINING_DIR / 'configs' / 'tiny-smoke.yaml'


@pytest.fixture(scope='module')
def fixed_batch_session(tmp_path_factory):
    """A tiny-config session (10 iterations) and the first batch of every task."""
    data = read_config_file(TINY_SMOKE)
    use_synthetic_data(data, tmp_path_factory.mktemp('data'))
    data.update(max_iter=10, output_dir=str(tmp_path_factory.mktemp('run')), print_interval=100)
    session = build_training(train_config_from_dict(data), init_distributed('cpu'), resume=None)
    return session, next(multitask_steps(session.loaders))


def test_fixed_batch_loss_decreases(fixed_batch_session) -> None:
    session, batches = fixed_batch_session
    records = [session.trainer.train_step(batches, step) for step in range(10)]
    totals = [record.total for record in records]
    assert all(math.isfinite(total) for total in totals)
    assert all(math.isfinite(record.grad_norm) for record in records)
    assert totals[-1] < 0.8 * totals[0], totals
    assert set(records[0].tasks) == {task.name for task in TINY.tasks}


def test_batches_have_task_shapes(fixed_batch_session) -> None:
    _, batches = fixed_batch_session
    assert batches['recog_ms1mv3']['image'].shape == (2, 3, 112, 112)
    assert batches['parsing_lapa']['image'].shape == (2, 3, 224, 224)
    assert batches['parsing_lapa']['label'].shape == (2, 224, 224)
    assert batches['align_300w']['label'].shape == (2, 68, 2)
    assert batches['biattr_celeba']['label'].shape == (2, 40)
    assert batches['age_morph2']['label'].dtype == torch.float32
    assert batches['affect_rafdb']['label'].dtype == torch.int64


def test_non_finite_loss_names_task(fixed_batch_session) -> None:
    session, batches = fixed_batch_session
    broken = {task: dict(batch) for task, batch in batches.items()}
    broken['age_morph2']['label'] = torch.tensor([float('nan'), 30.0])
    before = [parameter.detach().clone() for parameter in session.model.parameters()]
    with pytest.raises(NonFiniteLossError, match=r'iteration 3 in task\(s\) age_morph2') as caught:
        session.trainer.train_step(broken, 3)
    assert 'align_300w:' in str(caught.value)
    assert caught.value.tasks == ['age_morph2']
    for old, new in zip(before, session.model.parameters()):
        assert torch.equal(old, new)


def test_cli_smoke_run_writes_loadable_checkpoint(tmp_path: Path) -> None:
    command = [sys.executable, str(TRAINING_DIR / 'train.py'), '--config', str(TINY_SMOKE), '--synthetic-data', str(tmp_path / 'data'),
               '--output-dir', str(tmp_path / 'run'), '--device', 'cpu', '--max-iter', '4']
    completed = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert 'iter 4/4' in completed.stderr

    checkpoint = tmp_path / 'run' / 'checkpoints' / 'checkpoint_rank0_iter_4.pth.tar'
    report = load_official_checkpoint(build_model(TINY), str(checkpoint))
    assert report.step == 4
    log_lines = (tmp_path / 'run' / 'logs' / 'train_log.jsonl').read_text().splitlines()
    assert len(log_lines) == 4


def test_cli_rejects_bad_config(tmp_path: Path) -> None:
    config = tmp_path / 'bad.yaml'
    config.write_text('model: tiny\nmax_iter: 4\nlearning_rate: 1\ntasks: []\n')
    completed = subprocess.run([sys.executable, str(TRAINING_DIR / 'train.py'), '--config', str(config)], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 2
    assert "unknown field(s) ['learning_rate']" in completed.stderr
