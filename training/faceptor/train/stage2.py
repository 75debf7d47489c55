"""Stage-2 "auxiliary supervised learning": one task fine-tuned on the AddLevel decoder.

The AddLevel decoder (official `TransformerDecoderLevelAddLevel`) keeps the stage-1 memory of the
last encoder layer (its projection and level embedding) and appends layers 1, 3, 5, 7 and 9,
each through a new 1x1 projection (`new_input_proj.<j>`, 768 -> 256, kaiming_uniform(a=1) with
zero bias) and with a new level embedding (`new_level_embed`, N(0, 1)). The memory is 6 * S * S
tokens; decoder_src, which the map heads read, stays the last layer.

Trainable parameters: the official code keeps every parameter whose name contains one of
'query_embed_task_type', 'query_feat_task_type', 'losses_module', 'new_level_embed' or
'new_input_proj', and freezes the rest. The first two never match a real name (the tables are
`query_embed.<task>.weight`), so the released runs train only the new projections and embeddings
(985,600 parameters for Faceptor-Full). By default this module also trains the task's own query
tables, because those two entries were evidently meant to select them. `official=True`
reproduces the released behaviour.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..config import DecoderConfig, TaskSpec
from ..decoder import TaskDecoder, sine_grid_code
from ..model import Faceptor

DEFAULT_NEW_LEVELS = (1, 3, 5, 7, 9)
OFFICIAL_TRAINABLE_PATTERNS = ('query_embed_task_type', 'query_feat_task_type', 'losses_module', 'new_level_embed', 'new_input_proj')
NEW_MODULE_NAMES = ('new_input_proj', 'new_level_embed')


class AddLevelDecoder(TaskDecoder):
    """TaskDecoder whose memory also contains `new_levels`, each with its own new projection and level embedding."""

    def __init__(self, cfg: DecoderConfig, encoder_width: int, encoder_layers: int, tasks: list[TaskSpec], new_levels: Sequence[int] = DEFAULT_NEW_LEVELS) -> None:
        super().__init__(cfg, encoder_width, encoder_layers, tasks)
        new_levels = tuple(int(level) for level in new_levels)
        invalid = [level for level in new_levels if not 0 <= level < encoder_layers or level in self.levels]
        if not new_levels or invalid or len(set(new_levels)) != len(new_levels):
            raise ValueError(
                f'new_levels {list(new_levels)} must be distinct encoder layers in 0..{encoder_layers - 1} '
                f'that are not already decoder levels {list(self.levels)}'
            )
        self.new_levels = new_levels
        self.new_level_embed = nn.Embedding(len(new_levels), self.width)
        self.new_input_proj = nn.ModuleList([nn.Conv2d(encoder_width, self.width, kernel_size=1) for _ in new_levels])
        for proj in self.new_input_proj:
            nn.init.kaiming_uniform_(proj.weight, a=1)
            nn.init.zeros_(proj.bias)

    def memory_position(self, side: int) -> torch.Tensor:
        """Key position code ((len(levels) + len(new_levels)) * S * S, 1, C): old levels first, then the new ones."""
        grid = sine_grid_code(side, self.width // 2).to(self.new_level_embed.weight.device)
        location = self.adapt_pos2d(grid)[:, None, :]  # (S*S, 1, C)
        new_codes = [location + self.new_level_embed.weight[j][None, None, :] for j in range(len(self.new_levels))]
        return torch.cat([super().memory_position(side)] + new_codes, dim=0)

    def build_memory(self, features: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Memory of the old levels followed by the new ones; decoder_src is still the last layer."""
        memory, src = super().build_memory(features)
        new_tokens = [self.new_input_proj[j](features[level]).flatten(2).permute(2, 0, 1) for j, level in enumerate(self.new_levels)]  # (S*S, B, C) each
        return torch.cat([memory] + new_tokens, dim=0), src


def enable_add_level(model: Faceptor, new_levels: Sequence[int] = DEFAULT_NEW_LEVELS) -> AddLevelDecoder:
    """Replace the model's decoder by an AddLevelDecoder that keeps every existing decoder weight."""
    cfg = model.cfg
    old = model.heads_module.decoder
    decoded_tasks = [task for task in cfg.tasks if task.kind != 'identity']
    new = AddLevelDecoder(cfg.decoder, cfg.encoder.width, cfg.encoder.layers, decoded_tasks, new_levels)
    new.to(old.level_embed.weight.device)
    result = new.load_state_dict(old.state_dict(), strict=False)
    unexpected_missing = [key for key in result.missing_keys if not key.startswith(NEW_MODULE_NAMES)]
    if result.unexpected_keys or unexpected_missing:
        raise RuntimeError(f'AddLevel decoder does not match the stage-1 decoder: missing {unexpected_missing}, unexpected {result.unexpected_keys}')
    model.heads_module.decoder = new
    return new


def stage2_trainable_patterns(task: str, official: bool = False) -> tuple[str, ...]:
    """Name substrings that mark a stage-2 parameter as trainable."""
    if official:
        return OFFICIAL_TRAINABLE_PATTERNS
    return OFFICIAL_TRAINABLE_PATTERNS + (f'heads_module.decoder.query_feat.{task}.', f'heads_module.decoder.query_embed.{task}.')


def apply_stage2_trainable(model: nn.Module, task: str, official: bool = False) -> list[str]:
    """Set requires_grad from `stage2_trainable_patterns`; returns the trainable parameter names."""
    patterns = stage2_trainable_patterns(task, official)
    trainable = []
    for name, parameter in model.named_parameters():
        parameter.requires_grad = any(pattern in name for pattern in patterns)
        if parameter.requires_grad:
            trainable.append(name)
    return trainable
