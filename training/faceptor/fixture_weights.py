"""Deterministic "formula" weights of the official parity fixture.

Every tensor is a closed-form function of its state_dict key string and element index, so a
re-implementation with the official key names reproduces the official model's weights exactly:

    h      = (sum_j byte_j * (j + 1)) mod 9973        over the UTF-8 bytes of the key, j 0-based
    phase  = h / 997.3 + phase_offset
    base_i = sin(0.7311 i + phase + 2 pi ((i*i) mod 9973) / 9973)    i = flat C-order index, float64

and then, by the kind of tensor, cast to float32:

    weight of a normalization layer (LayerNorm, BatchNorm1d, channel LayerNorm)  1 + 0.1 base
    any bias                                                                      0.01 base
    BatchNorm running_mean                                                        0.01 base
    BatchNorm running_var                                                         1 + 0.1 |base|
    BatchNorm num_batches_tracked                                                 0 (int64)
    everything else                                                               0.02 base

A key that shares storage with an earlier key (the channel-LayerNorm alias `...ln.weight`) takes
the values generated from the earlier key's string.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .heads import ChannelLayerNorm

HASH_MODULUS = 9973
TWO_PI = 2.0 * math.pi
NORM_MODULES = (nn.LayerNorm, nn.BatchNorm1d, ChannelLayerNorm)


def key_hash(key: str) -> int:
    """Position-weighted byte sum of the UTF-8 key, modulo 9973."""
    data = np.frombuffer(key.encode('utf-8'), dtype=np.uint8).astype(np.int64)
    return int((data * np.arange(1, data.size + 1, dtype=np.int64)).sum() % HASH_MODULUS)


def base_sequence(key: str, count: int, phase_offset: float) -> np.ndarray:
    """The float64 base_i sequence of `key` for i = 0..count-1."""
    phase = key_hash(key) / 997.3 + phase_offset
    index = np.arange(count, dtype=np.int64)
    residue = (index * index) % HASH_MODULUS  # exact: count**2 < 2**53 for every tensor here
    return np.sin(0.7311 * index.astype(np.float64) + phase + TWO_PI * residue.astype(np.float64) / HASH_MODULUS)


def formula_tensor(key: str, shape: tuple[int, ...], rule: str, phase_offset: float) -> torch.Tensor:
    """The tensor for `key` under `rule` (see `tensor_rules`)."""
    if rule == 'num_batches_tracked':
        return torch.zeros(shape, dtype=torch.int64)
    base = base_sequence(key, int(np.prod(shape, dtype=np.int64)), phase_offset)
    if rule == 'norm_weight':
        values = 1.0 + 0.1 * base
    elif rule in ('bias', 'bn_running_mean'):
        values = 0.01 * base
    elif rule == 'bn_running_var':
        values = 1.0 + 0.1 * np.abs(base)
    elif rule == 'default':
        values = 0.02 * base
    else:
        raise ValueError(f'unknown weight rule {rule!r} for key {key!r}')
    return torch.from_numpy(values.astype(np.float32).reshape(shape))


def tensor_rules(model: nn.Module) -> dict[str, str]:
    """Rule name for every state_dict key of `model`, from the owning module's type."""
    module_of = dict(model.named_modules())
    rules = {}
    for key in model.state_dict():
        owner_name, _, leaf = key.rpartition('.')
        owner = module_of[owner_name]
        if leaf == 'num_batches_tracked':
            rules[key] = 'num_batches_tracked'
        elif leaf == 'running_mean':
            rules[key] = 'bn_running_mean'
        elif leaf == 'running_var':
            rules[key] = 'bn_running_var'
        elif leaf == 'weight' and isinstance(owner, NORM_MODULES):
            rules[key] = 'norm_weight'
        elif leaf.endswith('bias'):
            rules[key] = 'bias'
        else:
            rules[key] = 'default'
    return rules


def formula_state_dict(model: nn.Module, phase_offset: float) -> dict[str, torch.Tensor]:
    """Formula weights for every state_dict key of `model` (aliases share one generated tensor)."""
    rules = tensor_rules(model)
    source_of: dict[int, str] = {}
    generated: dict[str, torch.Tensor] = {}
    state = {}
    for key, tensor in model.state_dict(keep_vars=True).items():
        source = source_of.setdefault(id(tensor), key)
        if source not in generated:
            generated[source] = formula_tensor(source, tuple(tensor.shape), rules[source], phase_offset)
        state[key] = generated[source]
    return state
