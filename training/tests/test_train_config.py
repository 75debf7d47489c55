"""Run configs: the shipped files, validation messages, overrides and the command line."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from faceptor.config import ConfigError
from faceptor.train.config import apply_overrides, load_train_config, read_config_file, train_config_from_dict
from faceptor.train.losses import task_loss_weights

TRAINING_DIR = Path(__file__).resolve().parents[1]
CONFIGS = TRAINING_DIR / 'configs'


def loss_weight_sum(path: Path) -> float:
    cfg = load_train_config(path)
    return sum(task_loss_weights({t.name: t.raw_loss_weight for t in cfg.tasks}, cfg.task_weights).values())


def load_cli_module():
    spec = importlib.util.spec_from_file_location('faceptor_train_cli', TRAINING_DIR / 'train.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('name', ['base', 'full', 'tiny-smoke', 'stage2-rafdb', 'stage2-morph2', 'stage2-celeba'])
def test_shipped_config_loads(name: str) -> None:
    cfg = load_train_config(CONFIGS / f'{name}.yaml')
    assert cfg.tasks
    assert cfg.optim.clip_grad_norm == 5.0
    assert cfg.optim.weight_decay == 0.05


def test_base_config_official_values() -> None:
    cfg = load_train_config(CONFIGS / 'base.yaml')
    assert [task.name for task in cfg.tasks] == ['recog_ms1mv3', 'age_morph2', 'biattr_celeba', 'affect_affectnet', 'affect_rafdb', 'parsing_celebam', 'align_300w']
    assert [task.batch_size for task in cfg.tasks] == [128, 32, 32, 32, 8, 2, 2]
    assert (cfg.optim.base_lr, cfg.optim.peak_lr, cfg.optim.warmup_steps, cfg.max_iter) == (1e-6, 5e-5, 2000, 50000)
    assert loss_weight_sum(CONFIGS / 'base.yaml') == pytest.approx(1118)


def test_full_config_loss_weight_sum() -> None:
    assert loss_weight_sum(CONFIGS / 'full.yaml') == pytest.approx(1222)
    assert len(load_train_config(CONFIGS / 'full.yaml').tasks) == 13


def test_stage2_config_single_task() -> None:
    cfg = load_train_config(CONFIGS / 'stage2-rafdb.yaml')
    assert cfg.stage2.task == 'affect_rafdb'
    assert cfg.stage2.new_levels == [1, 3, 5, 7, 9]
    assert cfg.stage2.official_params is False
    assert cfg.max_iter == 20000


def test_unknown_field_named() -> None:
    data = read_config_file(CONFIGS / 'tiny-smoke.yaml')
    data['optim']['lr'] = 1.0
    with pytest.raises(ConfigError, match=r"optim: unknown field\(s\) \['lr'\]; valid fields: base_lr"):
        train_config_from_dict(data)


def test_missing_task_root_named() -> None:
    data = read_config_file(CONFIGS / 'tiny-smoke.yaml')
    del data['tasks'][1]['root']
    with pytest.raises(ConfigError, match=r"tasks\[1\]: missing required field\(s\) \['root'\]"):
        train_config_from_dict(data)


def test_unknown_task_named() -> None:
    data = read_config_file(CONFIGS / 'tiny-smoke.yaml')
    data['tasks'][0]['name'] = 'align_wflw'
    with pytest.raises(ConfigError, match="task 'align_wflw' is not in config 'tiny'"):
        train_config_from_dict(data)


def test_invalid_precision_named() -> None:
    data = read_config_file(CONFIGS / 'tiny-smoke.yaml')
    data['precision'] = 'fp8'
    with pytest.raises(ConfigError, match="precision 'fp8' is invalid; valid values: fp32"):
        train_config_from_dict(data)


def test_stage2_requires_single_task() -> None:
    data = read_config_file(CONFIGS / 'stage2-rafdb.yaml')
    data['tasks'].append({'name': 'age_morph2', 'root': 'MORPH2', 'batch_size': 4})
    with pytest.raises(ConfigError, match=r'stage 2 trains one task: tasks must be exactly \[affect_rafdb\]'):
        train_config_from_dict(data)


def test_overrides_dotted_paths() -> None:
    data = apply_overrides(read_config_file(CONFIGS / 'base.yaml'), ['optim.peak_lr=1e-4', 'tasks.0.batch_size=64', 'dense_hflip=true'])
    cfg = train_config_from_dict(data)
    assert cfg.optim.peak_lr == 1e-4
    assert cfg.tasks[0].batch_size == 64
    assert cfg.dense_hflip is True


def test_override_without_equals_rejected() -> None:
    with pytest.raises(ConfigError, match="override 'max_iter' must look like key=value"):
        apply_overrides({}, ['max_iter'])


def test_cli_every_flag_has_help() -> None:
    parser = load_cli_module().build_parser()
    for action in parser._actions:
        assert action.help, action.dest


def test_cli_help_runs() -> None:
    completed = subprocess.run([sys.executable, str(TRAINING_DIR / 'train.py'), '--help'], capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0
    assert '--official-stage2-params' in completed.stdout
    assert '--resume' in completed.stdout


def test_cli_official_stage2_flag() -> None:
    cli = load_cli_module()
    cfg = cli.resolve_config(cli.parse_args(['--config', str(CONFIGS / 'stage2-rafdb.yaml'), '--official-stage2-params', '--init-checkpoint', 'x.pth.tar']))
    assert cfg.stage2.official_params is True
    assert cfg.stage2.init_checkpoint == 'x.pth.tar'


def test_cli_official_stage2_flag_needs_stage2() -> None:
    cli = load_cli_module()
    with pytest.raises(ConfigError, match='--official-stage2-params needs a stage-2 config'):
        cli.resolve_config(cli.parse_args(['--config', str(CONFIGS / 'base.yaml'), '--official-stage2-params']))


def test_exponent_text_read_as_float() -> None:
    data = read_config_file(CONFIGS / 'tiny-smoke.yaml')
    data['optim']['peak_lr'] = '5e-5'
    assert train_config_from_dict(data).optim.peak_lr == 5e-5


def test_non_integer_max_iter_rejected() -> None:
    data = read_config_file(CONFIGS / 'tiny-smoke.yaml')
    data['max_iter'] = 'many'
    with pytest.raises(ConfigError, match="max_iter must be an integer, got 'many'"):
        train_config_from_dict(data)
