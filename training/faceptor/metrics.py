"""Evaluation metrics of the official Faceptor evaluators, on numpy arrays.

Every function takes numpy arrays or torch tensors and returns Python floats or numpy arrays.
Landmark coordinates are (x, y) pixels of the original image; boxes are (y1, x1, y2, x2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

ArrayLike = object  # a numpy array, a torch tensor or a nested sequence of numbers

# Dataset -> normalizer name -> (left point indices, right point indices), or 'box' / 'diag'.
LANDMARK_NORMALIZERS: dict[str, dict[str, tuple | str]] = {
    '300w': {'inter_ocular': ((36,), (45,)), 'inter_pupil': (tuple(range(36, 42)), tuple(range(42, 48)))},
    'wflw': {'inter_ocular': ((60,), (72,)), 'inter_pupil': ((96,), (97,))},
    'cofw': {'inter_ocular': ((8,), (9,))},
    'aflw': {'inter_ocular': ((6,), (11,)), 'inter_pupil': ((7,), (10,)), 'box': 'box', 'diag': 'diag'},
}
# Dataset -> (normalizer, threshold) of its CED, AUC and failure rate.
LANDMARK_CED: dict[str, tuple[str, float]] = {
    '300w': ('inter_ocular', 0.10),
    'wflw': ('inter_ocular', 0.10),
    'cofw': ('inter_ocular', 0.10),
    'aflw': ('box', 0.07),
}
CED_STEP = 1e-4
# insightface's grid: np.arange(0, 4, 0.01), i.e. 0.00 .. 3.99 (4 itself is not on it).
VERIFICATION_THRESHOLDS = np.arange(0, 4, 0.01)


def _array(values: ArrayLike, dtype=np.float64) -> np.ndarray:
    if hasattr(values, 'detach'):
        values = values.detach().cpu().numpy()
    return np.asarray(values, dtype=dtype)


# ---------------------------------------------------------------------------------------------
# Landmarks


def point_distance_normalizer(target: ArrayLike, left: Sequence[int], right: Sequence[int]) -> np.ndarray:
    """Compute the (N,) distance between the mean `left` point and the mean `right` point of (N, P, 2) targets."""
    points = _array(target)
    return np.linalg.norm(points[:, list(left)].mean(axis=1) - points[:, list(right)].mean(axis=1), axis=-1)


def box_normalizer(boxes: ArrayLike) -> np.ndarray:
    """Compute the (N,) sqrt(w * h) of (N, 4) boxes (y1, x1, y2, x2)."""
    boxes = _array(boxes)
    return np.sqrt((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))


def box_diagonal_normalizer(boxes: ArrayLike) -> np.ndarray:
    """Compute the (N,) sqrt(w^2 + h^2) of (N, 4) boxes (y1, x1, y2, x2)."""
    boxes = _array(boxes)
    return np.hypot(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])


def landmark_nme(pred: ArrayLike, target: ArrayLike, normalizer: ArrayLike) -> np.ndarray:
    """Compute the (N,) per-image NME, the mean over points of |pred - target| / normalizer, for (N, P, 2) points."""
    pred, target, normalizer = _array(pred), _array(target), _array(normalizer)
    if pred.shape != target.shape or pred.ndim != 3 or pred.shape[-1] != 2:
        raise ValueError(f'pred and target must both have shape (N, P, 2), got {pred.shape} and {target.shape}')
    if normalizer.shape != (pred.shape[0],):
        raise ValueError(f'normalizer must have shape ({pred.shape[0]},), got {normalizer.shape}')
    if np.any(normalizer <= 0):
        raise ValueError(f'normalizer must be positive; image {int(np.argmin(normalizer))} has {normalizer.min()}')
    return (np.linalg.norm(pred - target, axis=-1) / normalizer[:, None]).mean(axis=1)


def ced_curve(nmes: ArrayLike, threshold: float, step: float = CED_STEP) -> tuple[np.ndarray, np.ndarray]:
    """Sample the cumulative error distribution (CED): the share of NMEs <= x_i for x_i = i * step.

    Returns (xs, ced), both of shape (K + 1,) with K = round(threshold / step), so the grid ends at
    the threshold rounded to a multiple of step.
    """
    nmes = _array(nmes).reshape(-1)
    if nmes.size == 0:
        raise ValueError('nmes is empty')
    if not 0 < step <= threshold:
        raise ValueError(f'need 0 < step <= threshold, got step {step} and threshold {threshold}')
    xs = np.arange(int(round(threshold / step)) + 1) * step
    ced = np.searchsorted(np.sort(nmes), xs, side='right') / nmes.size
    return xs, ced


def ced_auc_failure_rate(nmes: ArrayLike, threshold: float, step: float = CED_STEP) -> tuple[float, float]:
    """Compute (AUC, failure rate) of per-image NMEs at `threshold`.

    AUC is the area under the CED curve from 0 to `threshold`, divided by `threshold`, with the
    curve sampled every `step` and integrated with the trapezoidal rule. The failure rate is the
    share of images with NME > threshold.
    NOTE: the official evaluator integrates with Simpson's rule over np.arange(0, threshold + step,
    step), which for 0.07 ends at 0.0701; the AUCs differ by about step / threshold at most.
    """
    xs, ced = ced_curve(nmes, threshold, step)
    area = float(np.sum((ced[1:] + ced[:-1]) * np.diff(xs)) / 2.0)
    return area / xs[-1], float(1.0 - ced[-1])


def dataset_normalizers(dataset: str, target: ArrayLike, boxes: ArrayLike | None = None) -> dict[str, np.ndarray]:
    """Compute {normalizer name: (N,) values} for a landmark dataset ('300w', 'wflw', 'cofw', 'aflw')."""
    if dataset not in LANDMARK_NORMALIZERS:
        raise ValueError(f'unknown landmark dataset {dataset!r}; valid: {", ".join(LANDMARK_NORMALIZERS)}')
    values = {}
    for name, spec in LANDMARK_NORMALIZERS[dataset].items():
        if isinstance(spec, tuple):
            values[name] = point_distance_normalizer(target, *spec)
        elif boxes is None:
            raise ValueError(f'{dataset} normalizer {name!r} needs the (N, 4) face boxes')
        else:
            values[name] = box_normalizer(boxes) if spec == 'box' else box_diagonal_normalizer(boxes)
    return values


def evaluate_landmarks(
    dataset: str, pred: ArrayLike, target: ArrayLike, boxes: ArrayLike | None = None
) -> dict[str, float]:
    """Compute the mean NME for each normalizer of `dataset`, plus 'auc' and 'failure_rate' of its CED setting.

    pred and target are (N, P, 2) in the original image frame; boxes (N, 4) are needed for AFLW-19.
    """
    normalizers = dataset_normalizers(dataset, target, boxes)
    nmes = {name: landmark_nme(pred, target, norm) for name, norm in normalizers.items()}
    result = {f'nme_{name}': float(values.mean()) for name, values in nmes.items()}
    ced_normalizer, threshold = LANDMARK_CED[dataset]
    result['auc'], result['failure_rate'] = ced_auc_failure_rate(nmes[ced_normalizer], threshold)
    return result


# ---------------------------------------------------------------------------------------------
# Parsing


class ConfusionMatrix:
    """Pixel confusion matrix accumulated over a test set; rows are targets, columns predictions.

    Label maps must already be in the original image frame (the evaluator inverse-warps logits
    before the argmax).
    """

    def __init__(self, num_classes: int) -> None:
        if num_classes < 2:
            raise ValueError(f'num_classes must be at least 2 (background and one part), got {num_classes}')
        self.num_classes = num_classes
        self.matrix = np.zeros((num_classes, num_classes), dtype=np.int64)

    def update(self, pred: ArrayLike, target: ArrayLike) -> None:
        """Add one image's (H, W) predicted and target label maps."""
        pred, target = _array(pred, np.int64), _array(target, np.int64)
        if pred.shape != target.shape:
            raise ValueError(f'pred shape {pred.shape} does not match target shape {target.shape}')
        for name, values in (('pred', pred), ('target', target)):
            if values.size and (values.min() < 0 or values.max() >= self.num_classes):
                bad = values.min() if values.min() < 0 else values.max()
                raise ValueError(f'{name} label {bad} is outside 0..{self.num_classes - 1}')
        counts = np.bincount(target.reshape(-1) * self.num_classes + pred.reshape(-1), minlength=self.num_classes**2)
        self.matrix += counts.reshape(self.num_classes, self.num_classes)

    def f1_per_class(self) -> np.ndarray:
        """Compute the (C,) F1 = 2 TP / (2 TP + FP + FN) of each class.

        A class absent from both targets and predictions gets NaN.
        """
        true_positive = np.diag(self.matrix).astype(np.float64)
        denominator = self.matrix.sum(axis=0) + self.matrix.sum(axis=1)
        with np.errstate(invalid='ignore', divide='ignore'):
            return np.where(denominator > 0, 2.0 * true_positive / denominator, np.nan)

    def f1_mean_foreground(self) -> float:
        """Average the F1 of classes 1..C-1 (background excluded), leaving out classes whose F1 is NaN."""
        foreground = self.f1_per_class()[1:]
        if np.all(np.isnan(foreground)):
            raise ValueError('no foreground class occurs in the targets or predictions')
        return float(np.nanmean(foreground))


# ---------------------------------------------------------------------------------------------
# Age, expression, attributes


def _same_length(pred: np.ndarray, target: np.ndarray) -> None:
    if pred.shape != target.shape or pred.ndim != 1 or pred.size == 0:
        raise ValueError(
            f'pred and target must be non-empty (N,) arrays of one length, got {pred.shape} and {target.shape}'
        )


def age_mae(pred: ArrayLike, target: ArrayLike) -> float:
    """Mean absolute error in years between (N,) predicted and true ages."""
    pred, target = _array(pred), _array(target)
    _same_length(pred, target)
    return float(np.abs(pred - target).mean())


def age_cumulative_score(pred: ArrayLike, target: ArrayLike, max_error: float = 5.0) -> float:
    """Compute CS@max_error, the share (0..1) of images whose absolute age error is at most `max_error` years."""
    pred, target = _array(pred), _array(target)
    _same_length(pred, target)
    return float((np.abs(pred - target) <= max_error).mean())


def top1_accuracy(logits: ArrayLike, labels: ArrayLike) -> float:
    """Compute the share (0..1) of rows of (N, C) logits whose argmax equals the (N,) label."""
    logits, labels = _array(logits), _array(labels, np.int64)
    if logits.ndim != 2 or labels.shape != (logits.shape[0],) or labels.size == 0:
        raise ValueError(f'logits must be (N, C) and labels (N,), got {logits.shape} and {labels.shape}')
    return float((logits.argmax(axis=1) == labels).mean())


def attribute_accuracy(logits: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, float]:
    """Compute the (A,) per-attribute accuracies and their mean for (N, A) logits and (N, A) labels in {0, 1, -1}.

    A logit > 0 (sigmoid > 0.5) predicts 1. Labels of -1 are masked out; an attribute with no
    labelled image gets NaN and is left out of the mean.
    """
    logits, labels = _array(logits), _array(labels, np.int64)
    if logits.shape != labels.shape or logits.ndim != 2:
        raise ValueError(f'logits and labels must both be (N, A), got {logits.shape} and {labels.shape}')
    bad = np.setdiff1d(np.unique(labels), [-1, 0, 1])
    if bad.size:
        raise ValueError(f'attribute labels must be 0, 1 or -1 (masked), got {bad[0]}')
    valid = labels >= 0
    correct = ((logits > 0).astype(np.int64) == labels) & valid
    counts = valid.sum(axis=0)
    with np.errstate(invalid='ignore', divide='ignore'):
        per_attribute = np.where(counts > 0, correct.sum(axis=0) / counts, np.nan)
    if np.all(np.isnan(per_attribute)):
        raise ValueError('every attribute label is masked (-1)')
    return per_attribute, float(np.nanmean(per_attribute))


# ---------------------------------------------------------------------------------------------
# Face verification


@dataclass(frozen=True)
class VerificationResult:
    """10-fold verification accuracy."""

    accuracy: float
    """Mean of the fold accuracies."""
    std: float
    """Population standard deviation of the fold accuracies (np.std)."""
    fold_accuracies: np.ndarray
    """(n_folds,) accuracy of each test fold."""
    thresholds: np.ndarray
    """(n_folds,) squared-distance threshold chosen on the other folds."""


def kfold_splits(count: int, n_folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Split range(count) into `n_folds` consecutive (train, test) index arrays, as sklearn's unshuffled KFold does.

    The first count % n_folds folds contain one extra item.
    """
    if not 2 <= n_folds <= count:
        raise ValueError(f'n_folds must be in 2..{count} (the number of pairs), got {n_folds}')
    sizes = np.full(n_folds, count // n_folds)
    sizes[: count % n_folds] += 1
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    indices = np.arange(count)
    return [(
        np.concatenate([indices[:start], indices[stop:]]), indices[start:stop]
    ) for start, stop in zip(bounds[:-1], bounds[1:])]


def _accuracy_at(threshold: float, distances: np.ndarray, same: np.ndarray) -> float:
    return float(((distances < threshold) == same).mean())


def verification_accuracy_from_distances(
    distances: ArrayLike, same: ArrayLike, n_folds: int = 10, thresholds: ArrayLike = VERIFICATION_THRESHOLDS
) -> VerificationResult:
    """Compute the K-fold accuracy of "same person iff distance < threshold" over (N,) pair distances.

    For each fold, the threshold with the best accuracy on the other folds (the first one on ties)
    is applied to the fold.
    """
    distances, same, thresholds = _array(distances), _array(same, bool), _array(thresholds)
    if distances.shape != same.shape or distances.ndim != 1:
        raise ValueError(
            f'distances and same must be (N,) arrays of one length, got {distances.shape} and {same.shape}'
        )
    fold_accuracies, chosen = [], []
    for train, test in kfold_splits(distances.size, n_folds):
        train_accuracies = [_accuracy_at(t, distances[train], same[train]) for t in thresholds]
        best = thresholds[int(np.argmax(train_accuracies))]
        chosen.append(best)
        fold_accuracies.append(_accuracy_at(best, distances[test], same[test]))
    folds = np.array(fold_accuracies)
    return VerificationResult(float(folds.mean()), float(folds.std()), folds, np.array(chosen))


def l2_normalize_rows(embeddings: ArrayLike) -> np.ndarray:
    """Scale (N, E) rows to unit L2 norm; raise ValueError on an all-zero row."""
    embeddings = _array(embeddings)
    norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError(f'embedding row {int(np.argmin(norms))} is all zeros and cannot be normalized')
    return embeddings / norms


def flip_sum_embeddings(embeddings: ArrayLike, flipped: ArrayLike) -> np.ndarray:
    """Combine (N, E) embeddings of images and their mirrors as the evaluator does: L2-normalize their sum."""
    return l2_normalize_rows(_array(embeddings) + _array(flipped))


def pair_distances(embeddings1: ArrayLike, embeddings2: ArrayLike) -> np.ndarray:
    """Compute (N,) squared L2 distances between the L2-normalized rows of two (N, E) arrays (0..4)."""
    first, second = l2_normalize_rows(embeddings1), l2_normalize_rows(embeddings2)
    if first.shape != second.shape:
        raise ValueError(f'embeddings1 and embeddings2 must have one shape, got {first.shape} and {second.shape}')
    return np.sum((first - second) ** 2, axis=1)


def verification_accuracy(
    embeddings1: ArrayLike, embeddings2: ArrayLike, same: ArrayLike, n_folds: int = 10
) -> VerificationResult:
    """Compute the 10-fold verification accuracy of pairs (embeddings1[i], embeddings2[i]) labelled `same[i]`.

    For insightface `.bin` sets, whose embeddings interleave the pairs, pass rows 0::2 and 1::2.
    """
    return verification_accuracy_from_distances(pair_distances(embeddings1, embeddings2), same, n_folds)


def roc_auc(scores: ArrayLike, positive: ArrayLike) -> float:
    """Compute the area under the ROC curve, P(score of a positive > score of a negative), ties counted half."""
    scores, positive = _array(scores).reshape(-1), _array(positive, bool).reshape(-1)
    if scores.shape != positive.shape:
        raise ValueError(f'scores and positive must have one length, got {scores.size} and {positive.size}')
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f'ROC AUC needs both positive and negative pairs, got {n_pos} and {n_neg}')
    order = np.argsort(scores, kind='mergesort')
    ranks = np.empty(scores.size)
    sorted_scores = scores[order]
    start = 0
    while start < scores.size:  # average ranks over runs of tied scores
        stop = start
        while stop + 1 < scores.size and sorted_scores[stop + 1] == sorted_scores[start]:
            stop += 1
        ranks[order[start:stop + 1]] = (start + stop) / 2.0 + 1.0
        start = stop + 1
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def pair_similarity_auc(embeddings1: ArrayLike, embeddings2: ArrayLike, same: ArrayLike) -> float:
    """Compute the ROC AUC of the cosine similarity of each pair (1 - squared distance / 2) against `same`."""
    return roc_auc(1.0 - pair_distances(embeddings1, embeddings2) / 2.0, same)

