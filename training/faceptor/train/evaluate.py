"""Evaluate a Faceptor checkpoint on the test splits, with the official evaluators' protocols.

- age: expected age sum_k k p_k with p = sigmoid / sum sigmoid; MAE and CS@5.
- expression: top-1 accuracy. Attributes: mean accuracy over the 40 attributes (-1 masked).
- parsing: logits upsampled to the crop, warped back to the original image (bilinear, with the
  inverse tanh warp for LaPa), argmax; F1 per class from one confusion matrix over the test set,
  averaged over the foreground classes.
- landmarks: soft-argmax points mapped back to the original image; NME per normalizer, AUC and
  failure rate (faceptor.metrics).
- identity: 10-fold verification accuracy on insightface `.bin` pair sets, with the embeddings of
  each image and its mirror summed before L2 normalization.

Command line (from the repository root):

    PYTHONPATH=training /usr/bin/python3 -m faceptor.train.evaluate --config training/configs/base.yaml \\
        --checkpoint runs/faceptor-base/checkpoints/checkpoint_rank0_iter_50000.pth.tar --data-root /data/faceptor
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import pickle
import sys
from pathlib import Path
from typing import Mapping

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from .. import metrics
from ..checkpoint import load_official_state, read_checkpoint, strip_ddp_prefix
from ..config import ConfigError, get_config
from ..model import Faceptor, build_model
from ..postprocess import age_probabilities, expected_age
from .augment import FaceEvalTransform
from .config import TrainConfig, load_train_config
from .data_pipeline import LABEL_FIELDS, build_reader
from ..data.landmarks import landmark_crop_matrix
from .dense_augment import LandmarkTransform, ParsingTransform, build_dense_transform, image_to_unit_tensor, normalize_clip
from .geometry import remap, sampling_grid, transform_points, warp_points
from .losses import soft_argmax
from .stage2 import enable_add_level

LOGGER = logging.getLogger('faceptor.train')

# Test split of each task; the landmark splits are the "Full" sets of the published tables.
TEST_SPLITS = {
    'age_morph2': 'test', 'age_utkface': 'test', 'biattr_celeba': 'test', 'affect_affectnet': 'test', 'affect_rafdb': 'test',
    'affect_ferplus': 'test', 'parsing_celebam': 'test', 'parsing_lapa': 'test', 'align_300w': 'valid', 'align_wflw': 'test',
    'align_cofw': 'test', 'align_aflw': 'test_full',
}


def head_output(model: torch.nn.Module, images: torch.Tensor, task: str) -> torch.Tensor:
    """Raw head output of `task`, also for a FaceptorTrainingModel, whose forward runs a training step."""
    if isinstance(model, Faceptor):
        return Faceptor.forward(model, images, task)
    return model(images, task)


def _batches(count: int, batch_size: int):
    for start in range(0, count, batch_size):
        yield range(start, min(count, start + batch_size))


@torch.no_grad()
def evaluate_value_task(model: Faceptor, task: str, reader: Dataset, device: torch.device, batch_size: int = 64) -> dict[str, float]:
    """Age (mae, cs5), expression (top1) or attribute (mean_accuracy) metrics over a whole reader."""
    transform = FaceEvalTransform(model.cfg.face_input_size)
    task_type = task.split('_', 1)[0]
    outputs, labels = [], []
    for indices in _batches(len(reader), batch_size):
        samples = [reader[i] for i in indices]
        images = torch.stack([transform(sample['image']) for sample in samples]).to(device)
        outputs.append(head_output(model, images, task).float().cpu())
        labels += [sample[LABEL_FIELDS[task_type]] for sample in samples]
    logits = torch.cat(outputs)
    if task_type == 'age':
        ages = expected_age(age_probabilities(logits)).numpy()
        return {'mae': metrics.age_mae(ages, labels), 'cs5': metrics.age_cumulative_score(ages, labels, 5.0)}
    if task_type == 'affect':
        return {'top1': metrics.top1_accuracy(logits, labels)}
    _, mean = metrics.attribute_accuracy(logits, np.stack(labels))
    return {'mean_accuracy': mean}


@torch.no_grad()
def evaluate_parsing(model: Faceptor, task: str, reader: Dataset, device: torch.device, num_classes: int) -> dict[str, float]:
    """F1 per class and the foreground mean, with predictions warped back to each original image."""
    transform: ParsingTransform = build_dense_transform(task, model.cfg.dense_input_size, train=False)
    size = transform.size
    confusion = metrics.ConfusionMatrix(num_classes)
    for index in range(len(reader)):
        sample = reader[index]
        matrix = transform.alignment_matrix(sample)
        image = normalize_clip(remap(image_to_unit_tensor(sample['image']), sampling_grid(matrix, size, transform.warp_factor)))
        logits = head_output(model, image[None].to(device), task).float()
        logits = torch.nn.functional.interpolate(logits, size=(size, size), mode='bilinear', align_corners=False)[0].cpu()

        height, width = sample['label_map'].shape
        ys, xs = np.meshgrid(np.arange(height, dtype=np.float64), np.arange(width, dtype=np.float64), indexing='ij')
        crop_points = warp_points(np.stack([xs, ys], axis=-1).reshape(-1, 2), matrix, transform.warp_factor, size)
        original = remap(logits, crop_points.reshape(height, width, 2), 'bilinear')  # (C, H, W)
        confusion.update(original.argmax(dim=0).numpy(), sample['label_map'])
    per_class = confusion.f1_per_class()
    return {'f1_mean': confusion.f1_mean_foreground(), **{f'f1_{i}': float(value) for i, value in enumerate(per_class)}}


@torch.no_grad()
def evaluate_landmarks(model: Faceptor, task: str, reader: Dataset, device: torch.device) -> dict[str, float]:
    """NME per normalizer, AUC and failure rate, with points mapped back to each original image."""
    transform: LandmarkTransform = build_dense_transform(task, model.cfg.dense_input_size, train=False)
    size = transform.size
    predictions, targets, boxes = [], [], []
    for index in range(len(reader)):
        sample = reader[index]
        output = transform(sample, np.random.default_rng(0))
        matrix = transform.jitter.mean_matrix(size) @ landmark_crop_matrix(sample['box'], size=size, scale=1.0)
        heatmaps = head_output(model, output['image'][None].to(device), task).float().cpu()
        crop_points = soft_argmax(heatmaps)[0].numpy() * size - 0.5
        predictions.append(transform_points(crop_points, np.linalg.inv(matrix)))
        targets.append(np.asarray(sample['landmarks'], dtype=np.float64))
        boxes.append(np.asarray(sample['box'], dtype=np.float64))
    return metrics.evaluate_landmarks(task.split('_', 1)[1], np.stack(predictions), np.stack(targets), np.stack(boxes))


class _BinUnpickler(pickle.Unpickler):
    """Unpickler for insightface `.bin` files: containers, bytes, bools and numpy arrays only."""

    _allowed = {
        ('numpy.core.multiarray', '_reconstruct'), ('numpy._core.multiarray', '_reconstruct'), ('numpy', 'ndarray'),
        ('numpy', 'dtype'), ('numpy.core.multiarray', 'scalar'), ('numpy._core.multiarray', 'scalar'), ('builtins', 'bytes'),
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self._allowed:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f'verification .bin refers to {module}.{name}, which a pair file has no use for')


def read_verification_bin(path: str | Path) -> tuple[list[bytes], np.ndarray]:
    """Read an insightface pair set (`lfw.bin`, ...): 2N encoded images and (N,) same-identity flags."""
    with open(path, 'rb') as handle:
        bins, same = _BinUnpickler(handle, encoding='bytes').load()
    same = np.asarray(same, dtype=bool)
    if len(bins) != 2 * len(same):
        raise ConfigError(f'{path}: {len(bins)} images for {len(same)} pairs; a .bin file has 2 images per pair')
    return [bytes(image) for image in bins], same


@torch.no_grad()
def evaluate_verification(model: Faceptor, path: str | Path, device: torch.device, batch_size: int = 128) -> dict[str, float]:
    """10-fold verification accuracy on one `.bin` pair set, with flip-sum embeddings."""
    images, same = read_verification_bin(path)
    transform = FaceEvalTransform(model.cfg.face_input_size)
    embeddings = []
    for indices in _batches(len(images), batch_size):
        batch = torch.stack([transform(np.asarray(Image.open(io.BytesIO(images[i])).convert('RGB'))) for i in indices]).to(device)
        plain = head_output(model, batch, 'recog_ms1mv3').float().cpu().numpy()
        flipped = head_output(model, batch.flip(-1), 'recog_ms1mv3').float().cpu().numpy()
        embeddings.append(metrics.flip_sum_embeddings(plain, flipped))
    stacked = np.concatenate(embeddings)
    result = metrics.verification_accuracy(stacked[0::2], stacked[1::2], same)
    return {'accuracy': result.accuracy, 'std': result.std}


def evaluate_task(model: Faceptor, task: str, reader: Dataset, device: torch.device) -> dict[str, float]:
    """Dispatch to the evaluator of the task's type; the caller puts the model in eval mode."""
    kind = model.cfg.task(task).kind
    if kind == 'value':
        return evaluate_value_task(model, task, reader, device)
    if task.startswith('parsing_'):
        return evaluate_parsing(model, task, reader, device, model.cfg.task(task).queries)
    if task.startswith('align_'):
        return evaluate_landmarks(model, task, reader, device)
    raise ValueError(f'task {task!r} is evaluated on verification .bin files; pass --verification-bin')


def load_model_for_evaluation(cfg: TrainConfig, checkpoint_path: str) -> Faceptor:
    """Build the run's inference model (with the AddLevel decoder for stage 2) and load a checkpoint strictly."""
    model = build_model(get_config(cfg.model))
    if cfg.stage2 is not None:
        enable_add_level(model, cfg.stage2.new_levels)
    checkpoint = read_checkpoint(checkpoint_path)
    state = strip_ddp_prefix(checkpoint['state_dict'])
    load_official_state(model, state, source=checkpoint_path, step=checkpoint.get('step'))
    return model


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Evaluate a Faceptor checkpoint on the test splits of a run config\'s tasks; prints JSON.')
    parser.add_argument('--config', required=True, help='the run config the checkpoint was trained with (model, task roots, stage 2)')
    parser.add_argument('--checkpoint', required=True, help='checkpoint in the official layout (checkpoint_rank0_iter_<N>.pth.tar)')
    parser.add_argument('--data-root', help='folder that relative task roots resolve against (overrides the config)')
    parser.add_argument('--tasks', nargs='+', help='tasks to evaluate (default: every non-identity task of the config)')
    parser.add_argument('--split', action='append', default=[], metavar='TASK=SPLIT',
                        help='test split of a task, for example align_300w=valid_challenge; default: the "Full" sets of the published tables')
    parser.add_argument('--verification-bin', action='append', default=[], metavar='PATH',
                        help='insightface pair set (lfw.bin, cfp_fp.bin, agedb_30.bin, calfw.bin, cplfw.bin) for the identity head; repeatable')
    parser.add_argument('--device', default='auto', choices=('auto', 'cuda', 'cpu'), help='device; auto (the default) picks CUDA when available')
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(name)s: %(message)s')
    overrides = [f'data_root={args.data_root}'] if args.data_root else []
    cfg = load_train_config(args.config, overrides)
    device = torch.device('cuda' if args.device == 'cuda' or (args.device == 'auto' and torch.cuda.is_available()) else 'cpu')
    model = load_model_for_evaluation(cfg, args.checkpoint).to(device).eval()

    splits = dict(TEST_SPLITS)
    for entry in args.split:
        task, _, split = entry.partition('=')
        splits[task] = split
    tasks = args.tasks or [task.name for task in cfg.tasks if not task.name.startswith('recog_')]
    results: dict[str, Mapping[str, float]] = {}
    for task in tasks:
        task_cfg = cfg.task_config(task)
        reader = build_reader(task, cfg.resolve_root(task_cfg), splits.get(task, 'test'), task_cfg.reader_options)
        results[task] = evaluate_task(model, task, reader, device)
        LOGGER.info('%s (%s, %d images): %s', task, splits.get(task, 'test'), len(reader), json.dumps(results[task]))
    for path in args.verification_bin:
        results[f'verification:{Path(path).stem}'] = evaluate_verification(model, path, device)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())


def build_evaluation_hook(cfg: TrainConfig, device: torch.device):
    """Open the test readers of the run's tasks now, and return a Trainer `evaluate(model, step)` hook.

    Splits come from cfg.evaluate_splits, else TEST_SPLITS. Recognition is not evaluated in the
    loop (the official Base config turns its evaluator off too).
    """
    readers = {}
    for task in cfg.tasks:
        if task.name.startswith('recog_'):
            continue
        split = cfg.evaluate_splits.get(task.name, TEST_SPLITS.get(task.name, 'test'))
        readers[task.name] = build_reader(task.name, cfg.resolve_root(task), split, task.reader_options)

    def evaluate(model: torch.nn.Module, step: int) -> dict[str, dict[str, float]]:
        return {task: evaluate_task(model, task, reader, device) for task, reader in readers.items()}

    return evaluate
