"""Official-checkpoint loader: accepts the official layout, rejects mismatches naming every key."""

from __future__ import annotations

import pytest
import torch

from faceptor.checkpoint import (
    CheckpointError,
    CheckpointMismatchError,
    load_official_checkpoint,
    to_official_checkpoint,
)
from faceptor.config import BASE, TINY
from faceptor.model import build_model

CLASSIFIER_KEY = 'losses_module.losses.recog_ms1mv3.classifier'
ALIAS_KEY = 'heads_module.interpreters.map_v2.mask_map.1.ln.weight'


def tiny_checkpoint(seed: int = 1) -> tuple[dict, dict]:
    """An official-format checkpoint of a seeded tiny model, and that model's state_dict."""
    torch.manual_seed(seed)
    state = build_model(TINY).state_dict()
    classifier = torch.zeros(1).expand(93431, TINY.identity_dim)
    return to_official_checkpoint(state, extra={CLASSIFIER_KEY: classifier}, step=50000), state


def save(tmp_path, checkpoint: dict) -> str:
    path = str(tmp_path / 'checkpoint_rank0_iter_50000.pth.tar')
    torch.save(checkpoint, path)
    return path


def test_loader_accepts_official_layout(tmp_path):
    checkpoint, state = tiny_checkpoint()
    assert all(key.startswith('module.') for key in checkpoint['state_dict'])
    torch.manual_seed(2)
    model = build_model(TINY)

    report = load_official_checkpoint(model, save(tmp_path, checkpoint))

    assert report.ignored == [CLASSIFIER_KEY]
    assert report.step == 50000
    assert report.loaded == len(state)
    for key, tensor in model.state_dict().items():
        assert torch.equal(tensor, state[key]), key


def test_loader_accepts_base_keys_from_official_list(tmp_path, official_keys):
    dtypes = {'float32': torch.float32, 'int64': torch.int64}
    state = {}
    for key, entry in official_keys['keys'].items():
        # Stride-0 views keep this 600 MB checkpoint small on disk; shapes are what the loader checks.
        state[entry['checkpoint_key']] = torch.zeros((), dtype=dtypes[entry['dtype']]).expand(entry['shape'])
    path = save(tmp_path, {'step': 0, 'state_dict': state})

    report = load_official_checkpoint(build_model(BASE), path)

    assert report.ignored == [CLASSIFIER_KEY]
    assert report.loaded == sum(1 for entry in official_keys['keys'].values() if not entry['excluded'])


def test_loader_names_every_mismatch(tmp_path):
    checkpoint, _ = tiny_checkpoint()
    weights = checkpoint['state_dict']
    del weights['module.heads_module.decoder.query_feat.age_morph2.weight']
    del weights['module.backbone_module.visual.ln_post.bias']
    weights['module.heads_module.decoder.query_feat.age_utkface.weight'] = torch.zeros(101, 128)
    weights['module.heads_module.interpreters.value.fc.weight'] = torch.zeros(2, 128)
    path = save(tmp_path, checkpoint)

    with pytest.raises(CheckpointMismatchError) as caught:
        load_official_checkpoint(build_model(TINY), path)

    error = caught.value
    assert error.missing == ['backbone_module.visual.ln_post.bias', 'heads_module.decoder.query_feat.age_morph2.weight']
    assert error.unexpected == ['heads_module.decoder.query_feat.age_utkface.weight']
    assert error.shape_mismatches == [('heads_module.interpreters.value.fc.weight', (2, 128), (1, 128))]
    message = str(error)
    assert '2 missing key(s)' in message
    assert 'heads_module.decoder.query_feat.age_morph2.weight' in message
    assert 'backbone_module.visual.ln_post.bias' in message
    assert '1 unexpected key(s)' in message
    assert 'heads_module.decoder.query_feat.age_utkface.weight' in message
    assert 'heads_module.interpreters.value.fc.weight: [2, 128] vs [1, 128]' in message


def test_loader_rejects_differing_alias_pair(tmp_path):
    checkpoint, _ = tiny_checkpoint()
    checkpoint['state_dict']['module.' + ALIAS_KEY] = checkpoint['state_dict']['module.' + ALIAS_KEY] + 1.0
    path = save(tmp_path, checkpoint)

    with pytest.raises(CheckpointMismatchError, match='mask_map.1.weight != .*mask_map.1.ln.weight'):
        load_official_checkpoint(build_model(TINY), path)


def test_loader_rejects_other_layouts(tmp_path):
    with pytest.raises(CheckpointError, match='checkpoint file not found'):
        load_official_checkpoint(build_model(TINY), str(tmp_path / 'absent.pth.tar'))

    path = save(tmp_path, {'model': {}})
    with pytest.raises(CheckpointError, match=r'expected a dict with "state_dict", found \[\'model\'\]'):
        load_official_checkpoint(build_model(TINY), path)

    garbage = tmp_path / 'garbage.pth.tar'
    garbage.write_bytes(b'not a checkpoint')
    with pytest.raises(CheckpointError, match='cannot read checkpoint'):
        load_official_checkpoint(build_model(TINY), str(garbage))
