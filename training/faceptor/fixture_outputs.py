"""Arrays named like the official parity fixture's files, computed by this implementation.

File stems and what they hold (R = input pixels, S = token grid side, H = map side = 4S):

    enc<R>_layer<l>               encoder block l output (B, D, S, S)
    decoder_src_<R>               projected last encoder layer (S*S, B, C)
    debug_posembed_<R>            position table used at R px (1 + S*S, D)
    debug_memory_pos_<S>          memory key position code (levels*S*S, 1, C)
    <task>__decoder_output        decoder output (Q, B, C)
    recog_*__embedding_raw, __embedding_l2norm, __embedding_raw_hflip_input, __embedding_fliptta_l2norm
    age_*__logits, __prob (sigmoid, L1-normalized), __age (expected value)
    biattr_*__logits, __prob (sigmoid), __pred (round(sigmoid), int32)
    affect_*__logits, __prob (softmax), __argmax (int32)
    parsing_*__logits_<H>, __logits_<R>_nhwc (bilinear upsample, channels last), __label_<R> (int32)
    align_*__heatmap_logits, __heatmap_sigmoid, __landmark_norm, __landmark_px<R>

Identity and value tasks read the face-size input, map tasks the dense-size input.
"""

from __future__ import annotations

import re
from typing import Callable

import numpy as np
import torch

from . import postprocess
from .config import ConfigError
from .decoder import DecoderResult
from .model import Faceptor


class FixtureOutputs:
    """Lazy, cached producer of fixture-named arrays for one model and one set of input batches."""

    def __init__(self, model: Faceptor, inputs: dict[int, torch.Tensor]) -> None:
        self.model = model
        self.cfg = model.cfg
        self.inputs = inputs
        self._cache: dict[tuple, object] = {}

    def produce(self, stem: str) -> np.ndarray | None:
        """The array for file stem `stem`, or None when this implementation has no such output."""
        with torch.no_grad():
            value = self._produce(stem)
        if value is None:
            return None
        return value.numpy() if isinstance(value, torch.Tensor) else np.asarray(value)

    def _produce(self, stem: str) -> torch.Tensor | None:
        match = re.fullmatch(r'enc(\d+)_layer(\d+)', stem)
        if match:
            features = self.features(int(match.group(1)))
            layer = int(match.group(2))
            return features[layer] if layer < len(features) else None
        match = re.fullmatch(r'decoder_src_(\d+)', stem)
        if match:
            return self.model.heads_module.decoder.build_memory(self.features(int(match.group(1))))[1]
        match = re.fullmatch(r'debug_posembed_(\d+)', stem)
        if match:
            return self.model.backbone_module.position_table(int(match.group(1)))
        match = re.fullmatch(r'debug_memory_pos_(\d+)', stem)
        if match:
            return self.model.heads_module.decoder.memory_position(int(match.group(1)))
        if '__' in stem:
            task, output = stem.split('__', 1)
            return self._task_output(task, output)
        return None

    def features(self, size: int, flipped: bool = False) -> list[torch.Tensor]:
        """Encoder outputs for the input batch of `size` px (flipped along W when asked)."""
        key = ('features', size, flipped)
        if key not in self._cache:
            if size not in self.inputs:
                raise ConfigError(f'the fixture has no {size} px input (found sizes: {sorted(self.inputs)})')
            image = self.inputs[size]
            self._cache[key] = self.model.encode(torch.flip(image, dims=[3]) if flipped else image)
        return self._cache[key]

    def _cached(self, key: tuple, compute: Callable[[], object]):
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def _input_size(self, kind: str) -> int:
        return self.cfg.face_input_size if kind in ('identity', 'value') else self.cfg.dense_input_size

    def _decoded(self, task: str, size: int) -> DecoderResult:
        return self._cached(('decoded', task), lambda: self.model.decode(self.features(size), task))

    def _raw(self, task: str, kind: str, size: int) -> torch.Tensor:
        def compute() -> torch.Tensor:
            decoded = None if kind == 'identity' else self._decoded(task, size)
            return self.model.interpret(self.features(size), task, decoded)

        return self._cached(('raw', task), compute)

    def _task_output(self, task: str, output: str) -> torch.Tensor | None:
        try:
            spec = self.cfg.task(task)
        except ConfigError:
            return None
        size = self._input_size(spec.kind)
        if output == 'decoder_output':
            return None if spec.kind == 'identity' else self._decoded(task, size).output
        raw = self._raw(task, spec.kind, size)
        if spec.kind == 'identity':
            return self._identity_output(task, output, raw, size)
        if spec.kind == 'value':
            return _value_output(spec.type, output, raw)
        return _map_output(spec.type, output, raw)

    def _identity_output(self, task: str, output: str, raw: torch.Tensor, size: int) -> torch.Tensor | None:
        flipped = lambda: self._cached(  # noqa: E731
            ('flipped', task), lambda: self.model.embed_identity(self.features(size, flipped=True))
        )
        if output == 'embedding_raw':
            return raw
        if output == 'embedding_l2norm':
            return postprocess.l2_normalize(raw)
        if output == 'embedding_raw_hflip_input':
            return flipped()
        if output == 'embedding_fliptta_l2norm':
            return postprocess.l2_normalize(raw + flipped())
        return None


def _value_output(task_type: str, output: str, logits: torch.Tensor) -> torch.Tensor | None:
    if output == 'logits':
        return logits
    if task_type == 'age':
        if output == 'prob':
            return postprocess.age_probabilities(logits)
        if output == 'age':
            return postprocess.expected_age(postprocess.age_probabilities(logits))
    if task_type == 'biattr':
        if output == 'prob':
            return torch.sigmoid(logits)
        if output == 'pred':
            return torch.round(torch.sigmoid(logits)).to(torch.int32)
    if task_type == 'affect':
        if output == 'prob':
            return torch.softmax(logits, dim=1)
        if output == 'argmax':
            return logits.argmax(dim=1).to(torch.int32)
    return None


def _map_output(task_type: str, output: str, logits: torch.Tensor) -> torch.Tensor | None:
    map_side = logits.shape[-1]
    if task_type == 'parsing':
        if output == f'logits_{map_side}':
            return logits
        match = re.fullmatch(r'logits_(\d+)_nhwc', output)
        if match:
            return postprocess.upsample_parsing(logits, int(match.group(1)))
        match = re.fullmatch(r'label_(\d+)', output)
        if match:
            return postprocess.upsample_parsing(logits, int(match.group(1))).argmax(dim=-1).to(torch.int32)
    if task_type == 'align':
        if output == 'heatmap_logits':
            return logits
        if output == 'heatmap_sigmoid':
            return torch.sigmoid(logits)
        if output == 'landmark_norm':
            return postprocess.landmarks_from_heatmaps(logits)
        match = re.fullmatch(r'landmark_px(\d+)', output)
        if match:
            return postprocess.denormalize_points(postprocess.landmarks_from_heatmaps(logits), int(match.group(1)))
    return None
