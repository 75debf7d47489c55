"""The training model: Faceptor plus its losses, with the official top-level module names.

`FaceptorTrainingModel` is a `Faceptor` with a third child, `losses_module`, so its state_dict keys
are those of the official checkpoints (`backbone_module.*`, `heads_module.*`,
`losses_module.losses.<task>.*`) and a DDP wrapper adds the official `module.` prefix.

One forward runs a whole multi-task step. The batches of all tasks with the same input side are
concatenated and pass through the encoder once. Each task's slice then goes through its head and
loss, and the task losses are combined with the official normalized weights.
"""

from __future__ import annotations

from typing import Mapping, NamedTuple

import torch

from ..config import FaceptorConfig
from ..data.sampling import encode_by_size_group
from ..model import Faceptor
from .losses import LossesModule, LossTerms, combine_task_losses


class StepLosses(NamedTuple):
    """Losses of one multi-task step."""

    total: torch.Tensor
    """sum_t alpha_t L_t / sum_t alpha_t, the scalar that is back-propagated."""
    tasks: dict[str, LossTerms]
    """Per-task total and named parts, unweighted."""


class FaceptorTrainingModel(Faceptor):
    """Faceptor encoder and heads, plus `losses_module` and the task loss weights alpha_t."""

    def __init__(self, cfg: FaceptorConfig, losses: LossesModule, alphas: Mapping[str, float]) -> None:
        super().__init__(cfg)
        self.losses_module = losses
        missing = [task for task in losses.losses if task not in alphas]
        if missing:
            raise ValueError(f'loss weights are missing for task(s) {missing}')
        self.alphas = dict(alphas)

    def inference_state_dict(self) -> dict[str, torch.Tensor]:
        """state_dict without the training-only `losses_module.*` keys (what `build_model` loads)."""
        return {key: value for key, value in self.state_dict().items() if not key.startswith('losses_module.')}

    def forward(self, batches: Mapping[str, Mapping[str, torch.Tensor]]) -> StepLosses:
        """Compute the step's losses from {task: {'image': (B_t, 3, R, R), 'label': ...}}."""
        unknown = [task for task in batches if task not in self.losses_module.losses]
        if unknown:
            raise ValueError(f'batches for task(s) {unknown} have no loss; trained tasks: {", ".join(self.losses_module.losses)}')

        features = encode_by_size_group(self.encode, {task: batch['image'] for task, batch in batches.items()})
        task_losses = {}
        for task, batch in batches.items():
            head_output = self.interpret(features[task], task)
            task_losses[task] = self.losses_module(task, head_output, batch['label'])

        total = combine_task_losses({task: terms.total for task, terms in task_losses.items()}, self.alphas)
        return StepLosses(total, task_losses)
