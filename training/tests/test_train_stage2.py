"""Stage 2: the AddLevel decoder and the two trainable-parameter lists."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from faceptor.config import FULL, TINY
from faceptor.train.builder import build_training_model
from faceptor.train.checkpointing import build_checkpoint, write_checkpoint
from faceptor.train.config import read_config_file, train_config_from_dict
from faceptor.train.losses import build_losses_module
from faceptor.train.multitask import FaceptorTrainingModel
from faceptor.train.optim import OptimConfig, build_optimizer
from faceptor.train.stage2 import AddLevelDecoder, apply_stage2_trainable, enable_add_level
from faceptor.train.synthetic import use_synthetic_data

CONFIGS = Path(__file__).resolve().parents[1] / 'configs'
TINY_NEW_LEVELS = [0, 1, 2]
NEW_MODULE_NAMES = {
    'heads_module.decoder.new_level_embed.weight',
    'heads_module.decoder.new_input_proj.0.weight', 'heads_module.decoder.new_input_proj.0.bias',
    'heads_module.decoder.new_input_proj.1.weight', 'heads_module.decoder.new_input_proj.1.bias',
    'heads_module.decoder.new_input_proj.2.weight', 'heads_module.decoder.new_input_proj.2.bias',
}


def tiny_training_model(tasks: list[str]) -> FaceptorTrainingModel:
    torch.manual_seed(0)
    return FaceptorTrainingModel(TINY, build_losses_module(TINY, tasks, num_identities=8), {task: 1.0 for task in tasks})


def test_official_trainable_names() -> None:
    model = tiny_training_model(['affect_rafdb'])
    enable_add_level(model, TINY_NEW_LEVELS)
    assert set(apply_stage2_trainable(model, 'affect_rafdb', official=True)) == NEW_MODULE_NAMES


def test_fixed_trainable_names_add_task_queries() -> None:
    model = tiny_training_model(['affect_rafdb'])
    enable_add_level(model, TINY_NEW_LEVELS)
    names = set(apply_stage2_trainable(model, 'affect_rafdb', official=False))
    assert names == NEW_MODULE_NAMES | {'heads_module.decoder.query_feat.affect_rafdb.weight', 'heads_module.decoder.query_embed.affect_rafdb.weight'}
    frozen = {name for name, parameter in model.named_parameters() if not parameter.requires_grad}
    assert 'heads_module.decoder.query_feat.age_morph2.weight' in frozen
    assert 'backbone_module.visual.conv1.weight' in frozen


def test_full_new_modules_parameter_count() -> None:
    decoded = [task for task in FULL.tasks if task.kind != 'identity']
    decoder = AddLevelDecoder(FULL.decoder, FULL.encoder.width, FULL.encoder.layers, decoded)
    new = sum(p.numel() for name, p in decoder.named_parameters() if name.startswith(('new_input_proj', 'new_level_embed')))
    assert new == 985600


def test_add_level_memory_layout() -> None:
    decoded = [task for task in TINY.tasks if task.kind != 'identity']
    decoder = AddLevelDecoder(TINY.decoder, TINY.encoder.width, TINY.encoder.layers, decoded, TINY_NEW_LEVELS)
    features = [torch.randn(2, TINY.encoder.width, 7, 7) for _ in range(TINY.encoder.layers)]
    memory, src = decoder.build_memory(features)
    assert memory.shape == (4 * 49, 2, TINY.decoder.width)
    assert torch.equal(memory[:49], src)
    expected_new = decoder.new_input_proj[1](features[1]).flatten(2).permute(2, 0, 1)
    assert torch.allclose(memory[2 * 49:3 * 49], expected_new)
    position = decoder.memory_position(7)
    assert position.shape == (4 * 49, 1, TINY.decoder.width)
    assert torch.allclose(position[49:98] - position[:49], (decoder.new_level_embed.weight[0] - decoder.level_embed.weight[0]).expand(49, 1, -1), atol=1e-6)
    assert decoder(features, 'affect_rafdb').output.shape == (7, 2, TINY.decoder.width)


def test_enable_add_level_keeps_weights() -> None:
    model = tiny_training_model(['affect_rafdb'])
    before = {key: value.clone() for key, value in model.heads_module.decoder.state_dict().items()}
    enable_add_level(model, TINY_NEW_LEVELS)
    after = model.heads_module.decoder.state_dict()
    for key, value in before.items():
        assert torch.equal(after[key], value), key


def test_add_level_rejects_existing_level() -> None:
    decoded = [task for task in TINY.tasks if task.kind != 'identity']
    with pytest.raises(ValueError, match=r'new_levels \[1, 3\] must be distinct encoder layers in 0\.\.3'):
        AddLevelDecoder(TINY.decoder, TINY.encoder.width, TINY.encoder.layers, decoded, [1, 3])


@pytest.mark.parametrize('official', [True, False])
def test_stage2_step_moves_only_trainable(tmp_path: Path, official: bool) -> None:
    stage1 = tiny_training_model(['recog_ms1mv3', 'affect_rafdb'])
    init = write_checkpoint(build_checkpoint(stage1, build_optimizer(stage1, OptimConfig()), 100), tmp_path / 'stage1.pth.tar')

    data = read_config_file(CONFIGS / 'stage2-rafdb.yaml')
    data.update(model='tiny', max_iter=3, precision='fp32', num_workers=0, output_dir=str(tmp_path / 'run'))
    data['optim']['warmup_steps'] = 1
    data['stage2'].update(init_checkpoint=str(init), new_levels=TINY_NEW_LEVELS, official_params=official)
    data['tasks'][0]['batch_size'] = 2
    use_synthetic_data(data, tmp_path / 'data')
    model = build_training_model(train_config_from_dict(data))

    stage1_state = stage1.state_dict()
    for key, value in model.state_dict().items():
        if 'new_' not in key and not key.startswith('losses_module.'):
            assert torch.equal(value, stage1_state[key]), key

    before = {name: parameter.detach().clone() for name, parameter in model.named_parameters()}
    optimizer = build_optimizer(model, OptimConfig(base_lr=1e-3))
    batch = {'affect_rafdb': {'image': torch.randn(2, 3, 112, 112), 'label': torch.tensor([0, 3])}}
    model(batch).total.backward()
    optimizer.step()
    changed = {name for name, parameter in model.named_parameters() if not torch.equal(parameter, before[name])}
    expected = set(NEW_MODULE_NAMES)
    if not official:
        expected |= {'heads_module.decoder.query_feat.affect_rafdb.weight', 'heads_module.decoder.query_embed.affect_rafdb.weight'}
    assert changed == expected
