"""Encoder initialization from the FaRL checkpoint (FaRL-Base-Patch16-LAIONFace20M-ep64.pth).

The FaRL file is a torch.save'd dict whose 'state_dict' contains the whole CLIP model; only the
`visual.*` keys are used. Its position table has 1 + 14 * 14 rows (224 px). As in the official
backbone, the 14 x 14 grid is resized once to the model's stored grid (32 x 32 for the 512 px
dense input) with bicubic interpolation, and the CLS row is kept.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..checkpoint import CheckpointError
from ..encoder import resize_position_table
from ..model import Faceptor


def load_farl_visual(model: Faceptor, path: str | Path) -> dict[str, list[str]]:
    """Copy FaRL's `visual.*` weights into `model.backbone_module.visual`.

    Every encoder parameter must be present (the official loader asserts the same); keys of
    FaRL's visual tower that Faceptor lacks are reported, not loaded. Returns {'unused': [...]}.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f'FaRL checkpoint not found: {path}; download FaRL-Base-Patch16-LAIONFace20M-ep64.pth from the FaRL release page')
    checkpoint = torch.load(str(path), map_location='cpu')
    source = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(source, dict):
        raise CheckpointError(f'{path} is not a FaRL checkpoint: expected a dict with a "state_dict" of tensors')

    visual = {key[len('visual.'):]: value for key, value in source.items() if key.startswith('visual.')}
    if not visual:
        visual = {key[len('module.visual.'):]: value for key, value in source.items() if key.startswith('module.visual.')}
    target = model.backbone_module.visual
    expected = target.state_dict()
    if 'positional_embedding' in visual:
        grid = int(round((expected['positional_embedding'].shape[0] - 1) ** 0.5))
        visual['positional_embedding'] = resize_position_table(visual['positional_embedding'].float(), grid)

    missing = [key for key in expected if key not in visual]
    shapes = [f'{key}: {tuple(visual[key].shape)} vs {tuple(expected[key].shape)}' for key in expected if key in visual and visual[key].shape != expected[key].shape]
    if missing or shapes:
        lines = [f'FaRL checkpoint {path} does not fit the encoder:']
        lines += [f'  missing: visual.{key}' for key in missing] + [f'  shape (checkpoint vs model) visual.{line}' for line in shapes]
        lines.append('  Faceptor-Base/Full need the ViT-B/16 FaRL weights; the tiny config has no pretrained encoder')
        raise CheckpointError('\n'.join(lines))
    unused = [f'visual.{key}' for key in visual if key not in expected]
    target.load_state_dict({key: visual[key] for key in expected}, strict=True)
    return {'unused': unused}
