"""Evaluation metrics against values worked out by hand in the comments."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from faceptor.metrics import (
    ConfusionMatrix, age_cumulative_score, age_mae, attribute_accuracy, ced_auc_failure_rate, ced_curve,
    dataset_normalizers, evaluate_landmarks, flip_sum_embeddings, kfold_splits, landmark_nme, pair_distances,
    pair_similarity_auc, roc_auc, top1_accuracy, verification_accuracy, verification_accuracy_from_distances,
)

# ---------------------------------------------------------------------------------------------
# Landmarks


def ibug_target() -> np.ndarray:
    """68 points with outer eye corners 36 = (0, 0) and 45 = (10, 0).

    Points 37..41 sit at (1, 0), so the left pupil (mean of 36..41) is (5/6, 0). Points 42..44 and
    46..47 sit at (9, 0), so the right pupil (mean of 42..47) is (55/6, 0). Inter-pupil = 50/6 = 25/3.
    """
    points = np.stack([np.arange(68, dtype=float) * 0.5, np.full(68, 20.0)], axis=1)
    points[36:42] = [1.0, 0.0]
    points[36] = [0.0, 0.0]
    points[42:48] = [9.0, 0.0]
    points[45] = [10.0, 0.0]
    return points


def test_300w_nme_both_normalizers() -> None:
    target = np.stack([ibug_target(), ibug_target()])
    pred = target.copy()
    pred[0] += [3.0, 4.0]  # every point off by 5 px: NME = 5 / 10 = 0.5 and 5 / (25/3) = 0.6
    pred[1, 7] += [0.0, 6.8]  # one point off by 6.8 px: mean error 0.1 px, so 0.01 and 0.012
    normalizers = dataset_normalizers('300w', target)
    np.testing.assert_allclose(normalizers['inter_ocular'], [10.0, 10.0])
    np.testing.assert_allclose(normalizers['inter_pupil'], [25 / 3, 25 / 3])
    np.testing.assert_allclose(landmark_nme(pred, target, normalizers['inter_ocular']), [0.5, 0.01])
    result = evaluate_landmarks('300w', pred, target)
    assert result['nme_inter_ocular'] == pytest.approx((0.5 + 0.01) / 2)
    assert result['nme_inter_pupil'] == pytest.approx((0.6 + 0.012) / 2)
    assert result['failure_rate'] == pytest.approx(0.5)  # 0.5 > 0.10, 0.01 <= 0.10


def test_wflw_and_cofw_normalizer_points() -> None:
    wflw = np.zeros((1, 98, 2))
    wflw[0, 72] = [3.0, 4.0]  # dist(60, 72) = 5
    wflw[0, 96] = [1.0, 1.0]
    wflw[0, 97] = [1.0, 7.0]  # dist(96, 97) = 6
    normalizers = dataset_normalizers('wflw', wflw)
    assert normalizers['inter_ocular'].tolist() == [5.0]
    assert normalizers['inter_pupil'].tolist() == [6.0]
    cofw = np.zeros((1, 29, 2))
    cofw[0, 8] = [2.0, 2.0]
    cofw[0, 9] = [2.0, 9.0]  # dist(8, 9) = 7
    assert dataset_normalizers('cofw', cofw) == {'inter_ocular': pytest.approx([7.0])}


def test_aflw_box_normalizers_and_auc() -> None:
    target = np.zeros((1, 19, 2))
    target[0, 11] = [8.0, 0.0]  # dist(6, 11) = 8
    target[0, 7] = [1.0, 0.0]
    target[0, 10] = [6.0, 0.0]  # dist(7, 10) = 5
    pred = target + [0.4806, 0.6408]  # every point off by 0.801 px (0.6 and 0.8 of it)
    boxes = np.array([[0.0, 0.0, 40.0, 10.0]])  # (y1, x1, y2, x2): w = 10, h = 40
    result = evaluate_landmarks('aflw', pred, target, boxes)
    assert result['nme_inter_ocular'] == pytest.approx(0.801 / 8)
    assert result['nme_inter_pupil'] == pytest.approx(0.801 / 5)
    assert result['nme_box'] == pytest.approx(0.801 / 20)  # sqrt(10 * 40) = 20, NME 0.04005
    assert result['nme_diag'] == pytest.approx(0.801 / math.sqrt(1700))  # sqrt(10^2 + 40^2)
    # CED by box at 0.07: one image at 0.04005, halfway between grid points 0.0400 and 0.0401, so the
    # area is 0.07 - 0.04005 = 0.02995 and AUC = 0.02995 / 0.07.
    assert result['auc'] == pytest.approx(0.02995 / 0.07, abs=1e-9)
    assert result['failure_rate'] == 0.0


def test_ced_auc_and_failure_rate() -> None:
    # Errors between grid points: 0.02005 adds 0.1 - 0.02005 = 0.07995 of area, 0.05005 adds 0.04995,
    # 0.2 adds nothing. Area = (0.07995 + 0.04995) / 3 = 0.0433, AUC = 0.0433 / 0.1 = 0.433.
    auc, failure_rate = ced_auc_failure_rate([0.02005, 0.05005, 0.2], threshold=0.1)
    assert auc == pytest.approx(0.433, abs=1e-9)
    assert failure_rate == pytest.approx(1 / 3)


def test_ced_curve_counts_errors_at_or_below_x() -> None:
    xs, ced = ced_curve([0.0, 0.00015, 0.5], threshold=0.0003)
    np.testing.assert_allclose(xs, [0.0, 0.0001, 0.0002, 0.0003])
    np.testing.assert_allclose(ced, [1 / 3, 1 / 3, 2 / 3, 2 / 3])  # NME 0 counts at x = 0


def test_landmark_metrics_reject_bad_input() -> None:
    target = np.zeros((2, 19, 2))
    with pytest.raises(
        ValueError, match=r'pred and target must both have shape \(N, P, 2\), got \(2, 18, 2\) and \(2, 19, 2\)'
    ):
        landmark_nme(np.zeros((2, 18, 2)), target, np.ones(2))
    with pytest.raises(ValueError, match=r'normalizer must be positive; image 1 has 0.0'):
        landmark_nme(target, target, np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match=r"aflw normalizer 'box' needs the \(N, 4\) face boxes"):
        evaluate_landmarks('aflw', target, target)
    with pytest.raises(ValueError, match=r"unknown landmark dataset '68pt'; valid: 300w, wflw, cofw, aflw"):
        evaluate_landmarks('68pt', target, target)
    with pytest.raises(ValueError, match='nmes is empty'):
        ced_auc_failure_rate([], 0.1)


# ---------------------------------------------------------------------------------------------
# Parsing


def parsing_matrix(num_classes: int = 3) -> ConfusionMatrix:
    matrix = ConfusionMatrix(num_classes)
    matrix.update(np.array([[0, 1], [2, 0]]), np.array([[0, 1], [2, 2]]))
    matrix.update(torch.tensor([[1, 0], [0, 0]]), torch.tensor([[1, 1], [0, 0]]))
    return matrix


def test_parsing_f1_from_accumulated_matrix() -> None:
    matrix = parsing_matrix()
    # Rows are targets, columns predictions: [[3, 0, 0], [1, 2, 0], [1, 0, 1]].
    assert matrix.matrix.tolist() == [[3, 0, 0], [1, 2, 0], [1, 0, 1]]
    # F1 = 2 TP / (column sum + row sum): 6 / (5 + 3), 4 / (2 + 3), 2 / (1 + 2).
    np.testing.assert_allclose(matrix.f1_per_class(), [0.75, 0.8, 2 / 3])
    assert matrix.f1_mean_foreground() == pytest.approx((0.8 + 2 / 3) / 2)  # background left out


def test_parsing_absent_class_is_nan() -> None:
    matrix = parsing_matrix(num_classes=4)
    f1 = matrix.f1_per_class()
    assert math.isnan(f1[3])
    assert matrix.f1_mean_foreground() == pytest.approx((0.8 + 2 / 3) / 2)


def test_parsing_rejects_bad_maps() -> None:
    matrix = ConfusionMatrix(3)
    with pytest.raises(ValueError, match=r'pred shape \(2, 2\) does not match target shape \(2, 3\)'):
        matrix.update(np.zeros((2, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r'target label 3 is outside 0..2'):
        matrix.update(np.zeros((1, 2)), np.array([[0, 3]]))
    with pytest.raises(ValueError, match=r'pred label -1 is outside 0..2'):
        matrix.update(np.array([[-1, 0]]), np.zeros((1, 2)))
    assert matrix.matrix.sum() == 0  # a rejected update leaves the counts alone


# ---------------------------------------------------------------------------------------------
# Age, expression, attributes


def test_age_mae_and_cumulative_score() -> None:
    pred, target = [20.5, 30.0, 41.0], [20, 36, 40]
    # Errors 0.5, 6 and 1: MAE = 7.5 / 3 = 2.5; two of three errors are <= 5.
    assert age_mae(pred, target) == pytest.approx(2.5)
    assert age_cumulative_score(pred, target) == pytest.approx(2 / 3)
    assert age_cumulative_score(pred, target, max_error=6) == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r'got \(3,\) and \(2,\)'):
        age_mae(pred, target[:2])


def test_expression_top1_accuracy() -> None:
    logits = np.zeros((4, 7))
    logits[0, 1] = 2.0  # predicts 1, label 1
    logits[1, 6] = 1.0  # predicts 6, label 6
    logits[2, 3] = 0.5  # predicts 3, label 4: wrong
    # row 3 ties everywhere, so argmax picks class 0, label 0
    assert top1_accuracy(logits, [1, 6, 4, 0]) == pytest.approx(0.75)
    with pytest.raises(ValueError, match=r'logits must be \(N, C\) and labels \(N,\)'):
        top1_accuracy(logits, [1, 2])


def test_attribute_accuracy_masks_missing() -> None:
    logits = np.array([[1.0, -1.0], [-2.0, 0.0], [3.0, 2.0], [0.5, -0.5]])
    labels = np.array([[1, 0], [1, 0], [0, 1], [-1, -1]])
    # Predictions (logit > 0): [[1, 0], [0, 0], [1, 1], row 3 masked]. A logit of 0 predicts 0.
    # Attribute 0: labels 1, 1, 0 against 1, 0, 1 -> 1/3. Attribute 1: 0, 0, 1 against 0, 0, 1 -> 1.
    per_attribute, mean = attribute_accuracy(logits, labels)
    np.testing.assert_allclose(per_attribute, [1 / 3, 1.0])
    assert mean == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match='attribute labels must be 0, 1 or -1 \\(masked\\), got 2'):
        attribute_accuracy(logits, np.full((4, 2), 2))


# ---------------------------------------------------------------------------------------------
# Face verification


def test_kfold_splits_are_consecutive() -> None:
    splits = kfold_splits(23, 10)
    # 23 = 10 * 2 + 3, so the first 3 folds hold 3 pairs and the other 7 hold 2.
    assert [len(test) for _, test in splits] == [3, 3, 3, 2, 2, 2, 2, 2, 2, 2]
    assert np.concatenate([test for _, test in splits]).tolist() == list(range(23))
    train, test = splits[1]
    assert test.tolist() == [3, 4, 5]
    assert sorted(train.tolist() + test.tolist()) == list(range(23))
    with pytest.raises(ValueError, match=r'n_folds must be in 2..5 \(the number of pairs\), got 10'):
        kfold_splits(5, 10)


def test_verification_picks_threshold_on_other_fold() -> None:
    distances = [0.2, 1.2, 0.7, 0.4, 0.4, 1.1, 1.3, 1.6]
    same = [True, False, True, False, True, True, False, False]
    # Fold 0 (pairs 0..3) is tested with the threshold best on fold 1: at 0.5, 1.0 and 1.5 fold 1
    # scores 3/4 each, so the first, 0.5, wins. Fold 0 at 0.5 predicts [T, F, F, T]: 2/4 right.
    # Fold 1 is tested with fold 0's best: 0.5 -> 2/4, 1.0 -> 3/4, 1.5 -> 2/4, so 1.0. Fold 1 at 1.0
    # predicts [T, F, F, F]: 3/4 right. Mean 0.625, std |0.5 - 0.75| / 2 = 0.125.
    result = verification_accuracy_from_distances(distances, same, n_folds=2, thresholds=[0.5, 1.0, 1.5])
    np.testing.assert_allclose(result.fold_accuracies, [0.5, 0.75])
    np.testing.assert_allclose(result.thresholds, [0.5, 1.0])
    assert result.accuracy == pytest.approx(0.625)
    assert result.std == pytest.approx(0.125)


def test_verification_ten_folds_default_grid() -> None:
    # Even pairs are the same person at distance 0.5, odd pairs different people at 1.5, and pair 0
    # is a same-person pair at 1.9. Every fold of two pairs is perfect with a threshold in (0.5, 1.5],
    # and the first such grid value is 0.51. Fold 0 then misses pair 0: accuracies nine 1.0 and one
    # 0.5, so the mean is 0.95 and the std sqrt((9 * 0.05^2 + 0.45^2) / 10) = 0.15.
    distances = np.where(np.arange(20) % 2 == 0, 0.5, 1.5)
    distances[0] = 1.9
    same = np.arange(20) % 2 == 0
    result = verification_accuracy_from_distances(distances, same)
    assert result.fold_accuracies.tolist() == [0.5] + [1.0] * 9
    assert result.accuracy == pytest.approx(0.95)
    assert result.std == pytest.approx(0.15)
    np.testing.assert_allclose(result.thresholds, 0.51)


def test_verification_threshold_is_strict() -> None:
    # At threshold 1.0 a pair at distance exactly 1.0 is predicted "different".
    result = verification_accuracy_from_distances([1.0, 1.0, 1.0, 1.0], [False] * 4, n_folds=2, thresholds=[1.0])
    assert result.accuracy == 1.0


def test_pair_distances_normalize_first() -> None:
    first = np.array([[3.0, 0.0], [1.0, 1.0], [1.0, 0.0]])
    second = np.array([[0.0, 5.0], [2.0, 2.0], [-4.0, 0.0]])
    # Unit vectors: orthogonal -> 2, equal -> 0, opposite -> 4.
    np.testing.assert_allclose(pair_distances(first, second), [2.0, 0.0, 4.0], atol=1e-12)
    with pytest.raises(ValueError, match='embedding row 0 is all zeros'):
        pair_distances(np.zeros((1, 2)), np.ones((1, 2)))


def test_verification_accuracy_from_embeddings() -> None:
    angles = np.where(np.arange(20) % 2 == 0, 0.3, 2.0)  # same pairs 0.3 rad apart, others 2 rad
    first = np.tile([[1.0, 0.0]], (20, 1))
    second = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    result = verification_accuracy(first, second, np.arange(20) % 2 == 0)
    assert result.accuracy == 1.0
    assert result.std == 0.0


def test_flip_sum_normalizes_sum() -> None:
    combined = flip_sum_embeddings([[1.0, 0.0]], [[0.0, 1.0]])
    np.testing.assert_allclose(combined, [[1 / math.sqrt(2), 1 / math.sqrt(2)]])


def test_roc_auc_counts_ties_half() -> None:
    scores = [0.9, 0.6, 0.7, 0.1, 0.6]
    positive = [True, True, False, False, False]
    # 0.9 beats all 3 negatives; 0.6 beats 0.1, loses to 0.7 and ties 0.6: (3 + 1 + 0.5) / 6 = 0.75.
    assert roc_auc(scores, positive) == pytest.approx(0.75)
    with pytest.raises(ValueError, match='ROC AUC needs both positive and negative pairs, got 2 and 0'):
        roc_auc([0.1, 0.2], [True, True])


def test_pair_similarity_auc() -> None:
    first = np.array([[1.0, 0.0]] * 4)
    second = np.array([[1.0, 0.1], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]])
    # Cosines: 0.995, 0, 0.707, -1. Positives (pairs 0 and 2) outrank both negatives: AUC = 1.
    assert pair_similarity_auc(first, second, [True, False, True, False]) == pytest.approx(1.0)
    # Swapping the labels of pairs 1 and 2 puts the 0-cosine positive below the 0.707 negative: 3/4.
    assert pair_similarity_auc(first, second, [True, True, False, False]) == pytest.approx(0.75)
