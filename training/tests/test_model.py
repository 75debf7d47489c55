"""Architecture tests: official key names and shapes, parameter counts, formula weights, forward shapes."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest
import torch

from faceptor.config import BASE, FULL, TINY, ConfigError, DecoderConfig, FaceptorConfig, get_config
from faceptor.fixture_weights import formula_state_dict, tensor_rules
from faceptor.model import build_model, count_parameters


@pytest.fixture(scope='module')
def base_model():
    return build_model(BASE).eval()


@pytest.fixture(scope='module')
def tiny_model():
    torch.manual_seed(0)
    return build_model(TINY).eval()


def inference_keys(official_keys: dict) -> list[tuple[str, list[int]]]:
    return [(key, entry['shape']) for key, entry in official_keys['keys'].items() if not entry['excluded']]


def test_base_keys_match_official(base_model, official_keys):
    got = [(key, list(tensor.shape)) for key, tensor in base_model.state_dict().items()]
    assert got == inference_keys(official_keys)


def test_full_keys_match_official(official_keys):
    variant = official_keys['full_plus_variant']
    task_order = variant['key_order_note'].split(': ', 1)[1].split(', ')
    base = inference_keys(official_keys)

    # Full has Base's keys, with the query tables of all 13 tasks in Full task order.
    query_rows = [i for i, (key, _) in enumerate(base) if '.query_feat.' in key or '.query_embed.' in key]
    start, end = query_rows[0], query_rows[-1] + 1
    shapes = dict(base[start:end])
    shapes.update(variant['keys_added_vs_base'])
    queries = [
        (f'heads_module.decoder.{family}.{task}.weight', shapes[f'heads_module.decoder.{family}.{task}.weight'])
        for family in ('query_feat', 'query_embed')
        for task in task_order
    ]
    expected = base[:start] + queries + base[end:]

    got = [(key, list(tensor.shape)) for key, tensor in build_model(FULL).state_dict().items()]
    assert got == expected
    assert len(got) + 1 == variant['num_keys']  # + the training-only classifier


def test_parameter_counts():
    assert count_parameters(build_model(BASE)) == 103_200_001
    assert count_parameters(build_model(FULL)) == 103_335_681


def test_parameter_count_matches_official(base_model, official_keys):
    assert count_parameters(base_model) == official_keys['inference_param_count_unique_trainable']


def test_channel_norm_alias_shares_storage(base_model):
    state = base_model.state_dict(keep_vars=True)
    prefix = 'heads_module.interpreters.map_v2.mask_map.1.'
    assert state[prefix + 'weight'] is state[prefix + 'ln.weight']
    assert state[prefix + 'bias'] is state[prefix + 'ln.bias']


def test_weight_rules_match_official(base_model, official_keys):
    rules = tensor_rules(base_model)
    expected = {key: entry['rule'] for key, entry in official_keys['keys'].items() if not entry['excluded']}
    assert rules == expected


@pytest.mark.parametrize('tag,offset', [('shared', 0.0), ('heldout', 0.5)])
def test_formula_weights_match_official(base_model, official_keys, tag, offset):
    state = formula_state_dict(base_model, offset)
    mismatched = []
    for key, entry in official_keys['keys'].items():
        if entry['excluded']:
            continue
        values = state[key].numpy()
        if not np.array_equal(values.ravel()[:4], np.asarray(entry[f'first4_{tag}'], dtype=values.dtype)):
            mismatched.append(key)
            continue
        data = values.astype('<f4') if values.dtype.kind == 'f' else values.astype('<i8')
        if hashlib.sha256(np.ascontiguousarray(data).tobytes()).hexdigest() != entry[f'sha256_{tag}']:
            mismatched.append(key)
    assert mismatched == []


def test_tiny_head_output_shapes(tiny_model):
    face = torch.randn(2, 3, TINY.face_input_size, TINY.face_input_size)
    dense = torch.randn(2, 3, TINY.dense_input_size, TINY.dense_input_size)
    with torch.no_grad():
        face_features = tiny_model.encode(face)
        dense_features = tiny_model.encode(dense)
        assert len(face_features) == TINY.encoder.layers
        assert face_features[-1].shape == (2, TINY.encoder.width, 7, 7)
        assert dense_features[-1].shape == (2, TINY.encoder.width, 14, 14)
        assert tiny_model.interpret(face_features, 'recog_ms1mv3').shape == (2, 512)
        assert tiny_model.interpret(face_features, 'age_morph2').shape == (2, 101)
        assert tiny_model.interpret(face_features, 'affect_rafdb').shape == (2, 7)
        assert tiny_model.interpret(dense_features, 'parsing_lapa').shape == (2, 11, 56, 56)
        assert tiny_model.interpret(dense_features, 'align_300w').shape == (2, 68, 56, 56)


def test_layer_attention_uses_every_level():
    cfg = dataclasses.replace(TINY, name='tiny-levels', decoder=dataclasses.replace(TINY.decoder, levels=(1, 3)))
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    assert len(model.heads_module.decoder.input_proj) == 2
    assert model.heads_module.decoder.level_embed.weight.shape == (2, cfg.decoder.width)
    with torch.no_grad():
        features = model.encode(torch.randn(1, 3, 112, 112))
        memory, src = model.heads_module.decoder.build_memory(features)
        assert memory.shape == (2 * 49, 1, cfg.decoder.width)
        assert torch.equal(src, memory[49:])  # the last layer is the second level here
        assert model.heads_module.decoder.memory_position(7).shape == (2 * 49, 1, cfg.decoder.width)

        # Changing an earlier level's features must change the output: the memory really reads it.
        before = model.interpret(features, 'age_morph2')
        features[1] = features[1] + 1.0
        after = model.interpret(features, 'age_morph2')
        assert not torch.allclose(before, after)


def test_training_mode_applies_drop_path():
    cfg = dataclasses.replace(TINY, encoder=dataclasses.replace(TINY.encoder, drop_path_rate=0.5))
    torch.manual_seed(0)
    model = build_model(cfg)
    image = torch.randn(2, 3, 112, 112)
    model.train()
    first = model.encode(image)[-1]
    second = model.encode(image)[-1]
    assert not torch.allclose(first, second)
    model.eval()
    assert torch.equal(model.encode(image)[-1], model.encode(image)[-1])


@pytest.mark.parametrize(
    'change,message',
    [
        ({'decoder': DecoderConfig(levels=(5,))}, 'must contain the last encoder layer 11'),
        ({'decoder': DecoderConfig(levels=(12,))}, 'outside 0..11'),
        ({'face_input_size': 100}, 'face_input_size 100 must be a positive multiple'),
    ],
)
def test_config_rejects_invalid_values(change, message):
    with pytest.raises(ConfigError, match=message):
        dataclasses.replace(BASE, **change)


def test_unknown_config_names_valid_ones():
    with pytest.raises(ConfigError, match='valid configs: base, full, tiny'):
        get_config('huge')


def test_unknown_task_names_valid_ones():
    with pytest.raises(ConfigError, match='valid tasks: recog_ms1mv3, age_morph2'):
        BASE.task('age_utkface')


def test_configs_are_frozen_dataclasses():
    assert isinstance(BASE, FaceptorConfig)
    with pytest.raises(dataclasses.FrozenInstanceError):
        BASE.name = 'other'  # type: ignore[misc]
