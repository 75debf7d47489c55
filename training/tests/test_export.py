"""ONNX export: graph wrappers equal the model, the tiny export produces valid graphs and manifest.

Debian has no onnxruntime for Python, so the Node suite test/model-parity.slow.test.ts runs the
graphs against the official arrays. Here the export wrappers are compared with the model in PyTorch.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
import torch

from faceptor.checkpoint import file_sha256, to_official_checkpoint
from faceptor.config import BASE, TINY
from faceptor.export import (
    EncoderGraph,
    ExportError,
    MapGraph,
    ValuesGraph,
    block_diagonal_mask,
    select_heads,
)
from faceptor.manifest import HEAD_FIELDS, ManifestError, validate_manifest
from faceptor.model import build_model

TRAINING_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = TRAINING_DIR.parent
EXPORT = str(TRAINING_DIR / 'export_onnx.py')
TINY_FOLDER = REPO_ROOT / 'models' / 'faceptor-tiny'


@pytest.fixture(scope='module')
def tiny_model():
    torch.manual_seed(3)
    return build_model(TINY).eval()


@pytest.fixture(scope='module')
def tiny_export(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp('export') / 'faceptor-tiny-test'
    result = subprocess.run(
        [sys.executable, EXPORT, '--config', 'tiny', '--random-seed', '0', '--out', str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def test_encoder_graph_equals_model(tiny_model):
    image = torch.randn(2, 3, 112, 112)
    with torch.no_grad():
        (layer,) = EncoderGraph(tiny_model, 112, [TINY.encoder.layers - 1])(image)
        assert torch.allclose(layer, tiny_model.encode(image)[-1], atol=1e-6)


def test_values_graph_equals_one_pass_per_task(tiny_model):
    tasks = ['age_morph2', 'biattr_celeba', 'affect_rafdb']
    image = torch.randn(2, 3, 112, 112)
    with torch.no_grad():
        features = tiny_model.encode(image)
        combined = ValuesGraph(tiny_model, tasks, 7)(features[-1])
        for task, logits in zip(tasks, combined):
            separate = tiny_model.interpret(features, task)
            assert logits.shape == separate.shape
            assert torch.allclose(logits, separate, atol=1e-5, rtol=1e-5), task


def test_values_graph_without_mask_differs(tiny_model):
    # The block-diagonal mask matters: without it the tasks' queries attend to each other.
    tasks = ['age_morph2', 'affect_rafdb']
    with torch.no_grad():
        features = tiny_model.encode(torch.randn(1, 3, 112, 112))
        graph = ValuesGraph(tiny_model, tasks, 7)
        masked = graph(features[-1])[1]
        graph.self_attn_mask = None
        unmasked = graph(features[-1])[1]
        assert not torch.allclose(masked, unmasked, atol=1e-4)


def test_map_graph_equals_model(tiny_model):
    image = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        features = tiny_model.encode(image)
        for task in ('parsing_lapa', 'align_300w'):
            graph_logits = MapGraph(tiny_model, task, 14)(features[-1])
            assert torch.allclose(graph_logits, tiny_model.interpret(features, task), atol=1e-5), task


def test_block_diagonal_mask_layout():
    mask = block_diagonal_mask([2, 1])
    assert mask[0, 1] == 0
    assert mask[2, 2] == 0
    assert torch.isinf(mask[0, 2])
    assert torch.isinf(mask[2, 0])


def test_select_heads_defaults_and_errors():
    heads = select_heads(BASE, {})
    assert (heads.identity, heads.age, heads.attributes, heads.expression, heads.landmarks, heads.parsing) == (
        'recog_ms1mv3', 'age_morph2', 'biattr_celeba', 'affect_rafdb', 'align_300w', 'parsing_celebam',
    )
    assert select_heads(BASE, {'expression': 'affect_affectnet'}).expression == 'affect_affectnet'
    with pytest.raises(ExportError, match="'affect_ferplus' is not a task of type affect in config 'base'; valid choices: affect_affectnet, affect_rafdb"):
        select_heads(BASE, {'expression': 'affect_ferplus'})


def test_tiny_export_writes_every_graph(tiny_export: Path):
    manifest = json.loads((tiny_export / 'manifest.json').read_text())
    expected = {'encoder_112', 'encoder_224', 'identity', 'values', 'landmarks', 'parsing'}
    assert set(manifest['graphs']) == expected
    for name in expected:
        graph = onnx.load(str(tiny_export / f'{name}.onnx'))
        onnx.checker.check_model(graph)
        assert graph.opset_import[0].version == 17
        for value in list(graph.graph.input) + list(graph.graph.output):
            assert value.type.tensor_type.shape.dim[0].dim_param == 'N', f'{name}.{value.name} has no dynamic batch axis'
    total = sum(os.path.getsize(tiny_export / f'{name}.onnx') for name in expected)
    assert total < 26e6


def test_tiny_export_manifest_is_valid(tiny_export: Path):
    manifest = json.loads((tiny_export / 'manifest.json').read_text())
    validate_manifest(manifest, str(tiny_export))

    assert set(manifest['heads']) == set(HEAD_FIELDS)
    assert all(head['trained'] is False and head['trained_on'] is None for head in manifest['heads'].values())
    assert manifest['source']['kind'] == 'random-init'
    assert manifest['crops']['parsing']['kind'] == 'lapa-tanh'
    assert manifest['heads']['parsing']['scheme'] == 'lapa-11'
    assert len(manifest['heads']['parsing']['labels']) == 11
    assert manifest['heads']['landmarks']['heatmap_size'] == 56
    assert manifest['encoders']['dense'] == {
        'graph': 'encoder_224', 'input_size': 224, 'token_grid': 14,
        'mean': [0.48145466, 0.4578275, 0.40821073], 'std': [0.26862954, 0.26130258, 0.27577711],
    }
    assert manifest['graphs']['values']['outputs'] == [
        {'name': 'age_logits', 'shape': ['N', 101]},
        {'name': 'attribute_logits', 'shape': ['N', 40]},
        {'name': 'expression_logits', 'shape': ['N', 7]},
    ]
    assert manifest['graphs']['parsing']['outputs'] == [{'name': 'parsing_logits', 'shape': ['N', 11, 56, 56]}]


def test_committed_tiny_model_is_valid():
    manifest_path = TINY_FOLDER / 'manifest.json'
    assert manifest_path.is_file(), f'{manifest_path} is missing; regenerate it as models/README.md says'
    manifest = json.loads(manifest_path.read_text())
    validate_manifest(manifest, str(TINY_FOLDER))
    assert manifest['name'] == 'faceptor-tiny'
    # The committed model is the distilled demo (docs/model-card.md): no teacher exists for attributes or
    # parsing, so those stay untrained, and every trained head names what it was distilled from.
    assert manifest['source']['kind'] == 'distilled-here'
    for name in ('attributes', 'parsing'):
        assert manifest['heads'][name]['trained'] is False
        assert manifest['heads'][name]['trained_on'] is None
    for name, head in manifest['heads'].items():
        assert head['trained'] == (head['trained_on'] is not None), name


def test_validate_manifest_lists_every_problem(tiny_export: Path):
    manifest = json.loads((tiny_export / 'manifest.json').read_text())
    broken = copy.deepcopy(manifest)
    del broken['license']
    broken['heads']['age']['graph'] = 'age_graph'
    broken['heads']['parsing']['output'] = 'labels'
    broken['graphs']['identity']['sha256'] = '0' * 64

    with pytest.raises(ManifestError) as caught:
        validate_manifest(broken, str(tiny_export))

    message = str(caught.value)
    assert 'manifest.license is missing' in message
    assert "heads.age.graph 'age_graph' is not in graphs" in message
    assert "heads.parsing.output 'labels' is not an output of graph 'parsing'" in message
    assert 'graphs.identity.sha256 does not match identity.onnx' in message


def test_export_cli_rejects_unknown_head(tmp_path: Path):
    result = subprocess.run(
        [sys.executable, EXPORT, '--config', 'tiny', '--random-seed', '0', '--out', str(tmp_path / 'x'),
         '--parsing-head', 'parsing_celebam'],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert "--parsing-head 'parsing_celebam' is not a task of type parsing in config 'tiny'; valid choices: parsing_lapa" in result.stderr


def test_export_cli_refuses_non_empty_folder(tmp_path: Path):
    (tmp_path / 'keep.txt').write_text('existing')
    result = subprocess.run(
        [sys.executable, EXPORT, '--config', 'tiny', '--random-seed', '0', '--out', str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert 'is not empty; pass --force' in result.stderr
    assert (tmp_path / 'keep.txt').exists()


def test_convert_checkpoint_marks_heads_trained(tmp_path: Path):
    torch.manual_seed(4)
    state = build_model(TINY).state_dict()
    checkpoint = to_official_checkpoint(state, extra={'losses_module.losses.recog_ms1mv3.classifier': torch.zeros(8, 512)})
    checkpoint_path = tmp_path / 'checkpoint_rank0_iter_50000.pth.tar'
    torch.save(checkpoint, checkpoint_path)
    out = tmp_path / 'faceptor-tiny-trained'

    result = subprocess.run(
        [sys.executable, str(TRAINING_DIR / 'convert_checkpoint.py'), str(checkpoint_path), '--config', 'tiny', '--out', str(out)],
        capture_output=True, text=True, timeout=600,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    manifest = json.loads((out / 'manifest.json').read_text())
    validate_manifest(manifest, str(out))
    assert manifest['source']['kind'] == 'official-checkpoint'
    assert manifest['source']['sha256'] == file_sha256(str(checkpoint_path))
    assert manifest['license']['id'] == 'see-notes'
    trained_on = {head: entry['trained_on'] for head, entry in manifest['heads'].items()}
    assert trained_on == {
        'identity': 'MS1MV3', 'age': 'MORPH II', 'expression': 'RAF-DB', 'attributes': 'CelebA',
        'landmarks': '300W', 'parsing': 'LaPa',
    }
    assert all(entry['trained'] is True for entry in manifest['heads'].values())


def test_convert_checkpoint_reports_mismatch(tmp_path: Path):
    torch.manual_seed(4)
    state = build_model(TINY).state_dict()
    del state['heads_module.decoder.level_embed.weight']
    checkpoint_path = tmp_path / 'broken.pth.tar'
    torch.save(to_official_checkpoint(state), checkpoint_path)

    result = subprocess.run(
        [sys.executable, str(TRAINING_DIR / 'convert_checkpoint.py'), str(checkpoint_path), '--config', 'tiny',
         '--out', str(tmp_path / 'out')],
        capture_output=True, text=True, timeout=600,
    )

    assert result.returncode == 2
    assert '1 missing key(s)' in result.stderr
    assert 'heads_module.decoder.level_embed.weight' in result.stderr
