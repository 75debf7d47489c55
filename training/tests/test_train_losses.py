"""Loss functions and loss weighting, checked against values worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from faceptor.config import BASE, FULL, TINY
from faceptor.train.losses import (
    AttributeLoss,
    CosFaceLoss,
    LossesModule,
    age_dldl_loss,
    age_label_distribution,
    attribute_loss,
    build_losses_module,
    combine_task_losses,
    cosface_logits,
    expression_loss,
    landmark_heatmap_target,
    landmark_loss,
    parsing_loss,
    soft_argmax,
    task_loss_weights,
)

LN2 = math.log(2.0)


def test_cosface_logits_hand_values() -> None:
    # x = (3, 4) has cosines 0.6 and 0.8 with the rows (1, 0) and (0, 2); the margin hits class 1.
    embeddings = torch.tensor([[3.0, 4.0]])
    classifier = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    logits = cosface_logits(embeddings, classifier, torch.tensor([1]), scale=64.0, margin=0.4)
    assert torch.allclose(logits, torch.tensor([[38.4, 25.6]]))


def test_cosface_loss_hand_value() -> None:
    loss = CosFaceLoss(num_classes=2, embedding_dim=2, scale=1.0, margin=0.4)
    with torch.no_grad():
        loss.classifier.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0]]))
    terms = loss(torch.tensor([[3.0, 4.0]]), torch.tensor([1]))
    # logits (0.6, 0.4), target 1: -log(e^0.4 / (e^0.6 + e^0.4)) = log(1 + e^0.2)
    assert terms.total.item() == pytest.approx(0.7981388693815917, abs=1e-6)
    assert set(terms.parts) == {'cosface'}


def test_cosface_classifier_init_range() -> None:
    torch.manual_seed(0)
    loss = CosFaceLoss(num_classes=1000, embedding_dim=512)
    bound = 1 / math.sqrt(512)
    assert loss.classifier.shape == (1000, 512)
    assert loss.classifier.abs().max().item() <= bound
    assert loss.classifier.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.02)


def test_cosface_rejects_identity_out_of_range() -> None:
    loss = CosFaceLoss(num_classes=4, embedding_dim=8)
    with pytest.raises(ValueError, match=r'identity label 4 is outside 0\.\.3'):
        loss(torch.randn(2, 8), torch.tensor([0, 4]))


def test_age_distribution_hand_values() -> None:
    # Age 1 over bins 0..2 with sigma 1: exp(-0.5), 1, exp(-0.5), L1-normalized.
    q = age_label_distribution(torch.tensor([1.0]), num_bins=3, sigma=1.0)
    assert torch.allclose(q, torch.tensor([[0.274068619, 0.451862762, 0.274068619]]))


def test_age_distribution_default_bins() -> None:
    q = age_label_distribution(torch.tensor([30.0, 0.0]))
    assert q.shape == (2, 101)
    assert torch.allclose(q.sum(dim=1), torch.ones(2))
    assert q[0].argmax().item() == 30
    assert q[0, 28].item() == pytest.approx(q[0, 32].item())


def test_age_loss_hand_values() -> None:
    # Zero logits give p = 1/3 per bin and expected age 1. KL(q || p) = sum q log q + log 3:
    # 0.0301669 for age 1 and 0.2141605 for age 2; the L1 parts are 0 and 1.
    terms = age_dldl_loss(torch.zeros(2, 3), torch.tensor([1.0, 2.0]), sigma=1.0)
    assert terms.parts['kl'].item() == pytest.approx((0.030166900 + 0.214160497) / 2, abs=1e-6)
    assert terms.parts['l1'].item() == pytest.approx(0.5, abs=1e-6)
    assert terms.total.item() == pytest.approx(terms.parts['kl'].item() + 0.5, abs=1e-6)


def test_age_loss_finite_when_bins_underflow() -> None:
    logits = torch.full((1, 101), -200.0)
    logits[0, 40] = 50.0
    terms = age_dldl_loss(logits, torch.tensor([40.0]))
    assert torch.isfinite(terms.total)


def test_age_loss_half_precision_input() -> None:
    terms = age_dldl_loss(torch.zeros(2, 101, dtype=torch.float16), torch.tensor([20.0, 60.0]))
    assert terms.total.dtype == torch.float32
    assert torch.isfinite(terms.total)


def test_expression_loss_hand_value() -> None:
    terms = expression_loss(torch.zeros(1, 7), torch.tensor([3]))
    assert terms.total.item() == pytest.approx(math.log(7), abs=1e-6)


def test_expression_rejects_label_seven() -> None:
    with pytest.raises(ValueError, match=r'expression label 7 is outside 0\.\.6'):
        expression_loss(torch.zeros(2, 7), torch.tensor([1, 7]))


def test_attribute_loss_masks_missing() -> None:
    # Three known labels at logit 0 cost ln 2 each; the -1 label costs nothing; divided by B = 2.
    terms = attribute_loss(torch.zeros(2, 2), torch.tensor([[1, -1], [0, 1]]))
    assert terms.total.item() == pytest.approx(1.5 * LN2, abs=1e-6)


def test_attribute_loss_sums_over_attributes() -> None:
    loss = AttributeLoss()(torch.zeros(1, 40), torch.ones(1, 40, dtype=torch.long))
    assert loss.total.item() == pytest.approx(40 * LN2, abs=1e-5)


def test_parsing_loss_hand_value() -> None:
    # Logits (0, ln 3) everywhere: class 0 costs ln 4, class 1 costs ln(4/3).
    logits = torch.tensor([0.0, math.log(3.0)]).reshape(1, 2, 1, 1)
    labels = torch.tensor([[[0, 1], [1, 1]]])
    terms = parsing_loss(logits, labels)
    assert terms.total.item() == pytest.approx(0.5623351446, abs=1e-6)


def test_parsing_loss_upsamples_bilinear() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 4, 4)
    labels = torch.randint(0, 3, (2, 16, 16))
    upsampled = torch.nn.functional.interpolate(logits, size=(16, 16), mode='bilinear', align_corners=False)
    expected = torch.nn.functional.cross_entropy(upsampled, labels)
    assert parsing_loss(logits, labels).total.item() == pytest.approx(expected.item(), abs=1e-6)


def test_heatmap_target_hand_values() -> None:
    # A point at heatmap pixel (x 2, y 3) of an 8 x 8 map, R = 5.
    point = torch.tensor([[[(2 + 0.5) / 8, (3 + 0.5) / 8]]])
    target = landmark_heatmap_target(point, 8, 8, radius=5.0)[0, 0]
    assert target[3, 2].item() == pytest.approx(1.0)
    assert target[3, 3].item() == pytest.approx(math.exp(-8 / 25), abs=1e-6)
    assert target[3, 7].item() == pytest.approx(math.exp(-8), abs=1e-7)
    assert target[7, 7].item() == 0.0
    assert target[7, 5].item() == pytest.approx(math.exp(-8), abs=1e-7)


def test_soft_argmax_peak() -> None:
    logits = torch.full((1, 1, 8, 8), -30.0)
    logits[0, 0, 2, 5] = 30.0
    points = soft_argmax(logits)
    assert points[0, 0, 0].item() == pytest.approx(5.5 / 8, abs=1e-4)
    assert points[0, 0, 1].item() == pytest.approx(2.5 / 8, abs=1e-4)


def test_landmark_loss_hand_value() -> None:
    # Zero logits: every target value costs ln 2, and the soft-argmax is the map center (0.5, 0.5).
    # The point (1.5, 3.5) of an 8 px crop normalizes to (0.25, 0.5), 0.25 from the center.
    terms = landmark_loss(torch.zeros(1, 1, 4, 4), torch.tensor([[[1.5, 3.5]]]), input_size=8)
    assert terms.parts['coord'].item() == pytest.approx(0.25, abs=1e-6)
    assert terms.parts['heatmap'].item() == pytest.approx(LN2, abs=1e-6)
    assert terms.total.item() == pytest.approx(0.25 + LN2, abs=1e-6)


def test_landmark_loss_rejects_point_count() -> None:
    with pytest.raises(ValueError, match=r'expected \(B, P, 2\) = \(1, 68, 2\)'):
        landmark_loss(torch.zeros(1, 68, 4, 4), torch.zeros(1, 98, 2), input_size=16)


def test_base_loss_weights() -> None:
    raw = {'recog_ms1mv3': 128, 'age_morph2': 32, 'biattr_celeba': 32, 'affect_affectnet': 32,
           'affect_rafdb': 8, 'parsing_celebam': 2, 'align_300w': 2}
    types = {'recog': 5, 'age': 6, 'biattr': 2, 'affect': 5, 'parsing': 100, 'align': 1000}
    alphas = task_loss_weights(raw, types)
    assert alphas == pytest.approx({'recog_ms1mv3': 5, 'age_morph2': 6, 'biattr_celeba': 2, 'affect_affectnet': 4,
                                    'affect_rafdb': 1, 'parsing_celebam': 100, 'align_300w': 1000})
    assert sum(alphas.values()) == pytest.approx(1118)


def test_full_loss_weights_sum() -> None:
    raw = {'recog_ms1mv3': 64, 'age_morph2': 16, 'age_utkface': 4, 'biattr_celeba': 16, 'affect_affectnet': 16,
           'affect_rafdb': 4, 'affect_ferplus': 4, 'parsing_celebam': 1, 'parsing_lapa': 1, 'align_300w': 1,
           'align_cofw': 1, 'align_wflw': 1, 'align_aflw': 1}
    types = {'recog': 5, 'age': 5, 'biattr': 2, 'affect': 10, 'parsing': 200, 'align': 1000}
    alphas = task_loss_weights(raw, types)
    assert alphas['affect_affectnet'] == pytest.approx(20 / 3)
    assert alphas['align_wflw'] == pytest.approx(250)
    assert sum(alphas.values()) == pytest.approx(1222)


def test_loss_weights_without_types() -> None:
    assert task_loss_weights({'age_morph2': 3.0, 'affect_rafdb': 1.0}) == {'age_morph2': 3.0, 'affect_rafdb': 1.0}


def test_loss_weights_reject_missing_type() -> None:
    with pytest.raises(ValueError, match=r"task_weights has no entry for type 'align'"):
        task_loss_weights({'age_morph2': 1.0, 'align_300w': 1.0}, {'age': 1.0})


def test_combine_normalizes_by_alpha_sum() -> None:
    total = combine_task_losses({'a_x': torch.tensor(1.0), 'b_y': torch.tensor(3.0)}, {'a_x': 1.0, 'b_y': 3.0})
    assert total.item() == pytest.approx(2.5)


def test_losses_module_official_key() -> None:
    module = build_losses_module(BASE, [t.name for t in BASE.tasks], num_identities=10)
    keys = [f'losses_module.{key}' for key in module.state_dict()]
    assert keys == ['losses_module.losses.recog_ms1mv3.classifier']
    assert isinstance(module, LossesModule)


def test_losses_module_every_full_task() -> None:
    module = build_losses_module(FULL, [t.name for t in FULL.tasks], num_identities=10)
    assert list(module.losses) == [t.name for t in FULL.tasks]


def test_losses_module_needs_identities() -> None:
    with pytest.raises(ValueError, match='num_identities'):
        build_losses_module(TINY, ['recog_ms1mv3'])
