"""Encoder initialization from a FaRL-style checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from faceptor.checkpoint import CheckpointError
from faceptor.config import TINY, EncoderConfig
from faceptor.encoder import VisualTransformer, resize_position_table
from faceptor.model import build_model
from faceptor.train.pretrained import load_farl_visual


def farl_like_checkpoint(path: Path, grid: int) -> dict:
    """A CLIP-style state_dict: `visual.*` of a tiny ViT with a `grid` x `grid` position table, plus text keys."""
    torch.manual_seed(1)
    encoder = TINY.encoder
    visual = VisualTransformer(EncoderConfig(**{**encoder.__dict__, 'position_grid': grid}))
    state = {f'visual.{key}': value for key, value in visual.state_dict().items()}
    state['text_projection'] = torch.zeros(4, 4)
    torch.save({'state_dict': state}, path)
    return state


def test_farl_weights_copied_and_table_resized(tmp_path: Path) -> None:
    state = farl_like_checkpoint(tmp_path / 'farl.pth', grid=7)
    model = build_model(TINY)
    report = load_farl_visual(model, tmp_path / 'farl.pth')
    visual = model.backbone_module.visual.state_dict()

    assert report['unused'] == []
    assert torch.equal(visual['conv1.weight'], state['visual.conv1.weight'])
    assert torch.equal(visual['transformer.resblocks.3.mlp.c_fc.weight'], state['visual.transformer.resblocks.3.mlp.c_fc.weight'])
    expected_table = resize_position_table(state['visual.positional_embedding'], TINY.encoder.position_grid)
    assert visual['positional_embedding'].shape == (1 + 14 * 14, TINY.encoder.width)
    assert torch.allclose(visual['positional_embedding'], expected_table)
    assert torch.equal(visual['positional_embedding'][0], state['visual.positional_embedding'][0])


def test_farl_missing_key_listed(tmp_path: Path) -> None:
    state = farl_like_checkpoint(tmp_path / 'farl.pth', grid=14)
    del state['visual.ln_pre.weight']
    torch.save({'state_dict': state}, tmp_path / 'broken.pth')
    with pytest.raises(CheckpointError, match='missing: visual.ln_pre.weight'):
        load_farl_visual(build_model(TINY), tmp_path / 'broken.pth')


def test_farl_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match='FaRL checkpoint not found'):
        load_farl_visual(build_model(TINY), tmp_path / 'absent.pth')
