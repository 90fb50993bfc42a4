"""bertkit/train/distill/losses.py: every term against values computed by hand, and DistilBERT's formulation."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from bertkit.errors import InputError
from bertkit.train.distill.losses import (
    LossWeights,
    cosine_loss,
    general_distillation_terms,
    hard_label_loss,
    mlm_loss,
    soft_target_loss,
    task_distillation_terms,
    weighted_sum,
)

IGNORE = -100
LN3 = math.log(3.0)


def close(value: torch.Tensor, expected: float) -> bool:
    return abs(float(value) - expected) < 1e-6


# --- soft targets -----------------------------------------------------------------------------


def test_soft_targets_at_temperature_one():
    # p_teacher = [1/(1+e), e/(1+e)], p_student the reverse; log(p_t1 / p_s1) = -1, log(p_t2 / p_s2) = +1
    # KL = p_t2 - p_t1 = (e - 1) / (e + 1)
    e = math.e
    assert close(soft_target_loss(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]]), 1.0), (e - 1) / (e + 1))


def test_soft_targets_at_temperature_two_carry_the_t_squared_factor():
    # logits / 2 = [0.5, 0] vs [0, 0.5]: KL = (sigmoid(.5) - sigmoid(-.5)) * 0.5 = tanh(.25) / 2; times T^2 = 4
    loss = soft_target_loss(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]]), 2.0)
    assert close(loss, 2 * math.tanh(0.25))


def test_soft_targets_are_zero_when_the_student_agrees():
    t = torch.tensor([[0.3, -1.0, 2.0]])
    assert close(soft_target_loss(t, t, 2.0), 0.0)
    assert close(soft_target_loss(t + 5.0, t, 2.0), 0.0)  # softmax ignores a shift


def test_soft_targets_average_over_the_counted_positions_only():
    # (B=1, S=3, V=2): position 0 disagrees (KL = tanh(1/2) at T=1), position 2 agrees (0),
    # position 1 is padding with a huge disagreement that must not count: mean over 2 positions.
    student = torch.tensor([[[1.0, 0.0], [50.0, -50.0], [0.0, 0.0]]])
    teacher = torch.tensor([[[0.0, 1.0], [-50.0, 50.0], [0.0, 0.0]]])
    mask = torch.tensor([[1, 0, 1]])
    assert close(soft_target_loss(student, teacher, 1.0, mask), math.tanh(0.5) / 2)
    assert close(soft_target_loss(student, teacher, 1.0, torch.zeros_like(mask)), 0.0)


def test_soft_targets_equal_distilberts_kldiv_formulation():
    torch.manual_seed(0)
    s, t = torch.randn(2, 5, 11), torch.randn(2, 5, 11)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    T = 2.0
    keep = mask.bool()
    reference = (
        nn.KLDivLoss(reduction="batchmean")(torch.log_softmax(s[keep] / T, -1), torch.softmax(t[keep] / T, -1)) * T**2
    )
    assert torch.allclose(soft_target_loss(s, t, T, mask), reference, atol=1e-6)


def test_soft_targets_send_gradient_to_the_student_only():
    s = torch.tensor([[1.0, 0.0]], requires_grad=True)
    t = torch.tensor([[0.0, 1.0]], requires_grad=True)
    soft_target_loss(s, t, 2.0).backward()
    # d/ds of T^2 KL = T (p_s - p_t): p_s - p_t = [tanh(.25), -tanh(.25)] at T = 2
    assert torch.allclose(s.grad, torch.tensor([[2 * math.tanh(0.25), -2 * math.tanh(0.25)]]), atol=1e-6)


# --- masked LM, cosine, hard labels ------------------------------------------------------------


def test_mlm_loss_averages_over_predicted_positions():
    # logits [0, ln 3] -> p = [1/4, 3/4]; labels 1 and 0 -> -ln(3/4) and -ln(1/4); the third is ignored
    logits = torch.tensor([[[0.0, LN3], [0.0, LN3], [9.0, -9.0]]])
    labels = torch.tensor([[1, 0, IGNORE]])
    assert close(mlm_loss(logits, labels), (math.log(4 / 3) + math.log(4)) / 2)
    assert close(mlm_loss(logits, torch.full_like(labels, IGNORE)), 0.0)


def test_cosine_loss_over_real_tokens():
    # cos([1,0],[1,1]) = 1/sqrt 2; cos([1,2],[-2,1]) = 0; the padding position (opposite vectors) is left out
    student = torch.tensor([[[1.0, 0.0], [1.0, 2.0], [1.0, 0.0]]])
    teacher = torch.tensor([[[1.0, 1.0], [-2.0, 1.0], [-1.0, 0.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert close(cosine_loss(student, teacher, mask), ((1 - 1 / math.sqrt(2)) + 1.0) / 2)
    assert close(cosine_loss(3.0 * teacher, teacher, torch.ones_like(mask)), 0.0)  # scale does not matter


def test_cosine_loss_equals_cosine_embedding_loss():
    torch.manual_seed(1)
    s, t = torch.randn(3, 4, 8), torch.randn(3, 4, 8)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]])
    keep = mask.bool()
    reference = nn.CosineEmbeddingLoss()(s[keep], t[keep], torch.ones(int(keep.sum())))
    assert torch.allclose(cosine_loss(s, t, mask), reference, atol=1e-6)


def test_hard_label_loss():
    logits = torch.tensor([[0.0, LN3], [0.0, LN3]])
    assert close(hard_label_loss(logits, torch.tensor([0, 1])), (math.log(4) + math.log(4 / 3)) / 2)


# --- the weighted sums ---------------------------------------------------------------------------


def test_general_distillation_weights_the_three_terms():
    weights = LossWeights.general()
    assert (weights.temperature, weights.ce, weights.mlm, weights.cos) == (2.0, 5.0, 2.0, 1.0)
    student = torch.tensor([[1.0, 0.0], [0.0, LN3]])  # (N, V) at the real tokens
    teacher = torch.tensor([[0.0, 1.0], [0.0, LN3]])
    mask = torch.tensor([[1, 1, 0]])
    hidden_s = torch.tensor([[[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]]])
    hidden_t = torch.tensor([[[1.0, 1.0], [1.0, 0.0], [-1.0, 0.0]]])  # the padding position does not count
    labels = torch.tensor([IGNORE, 1])
    terms = general_distillation_terms(weights, mask, student, teacher, labels, hidden_s, hidden_t)
    ce, mlm, cos = 2 * math.tanh(0.25) / 2, math.log(4 / 3), (1 - 1 / math.sqrt(2)) / 2
    assert close(terms["ce"], ce) and close(terms["mlm"], mlm) and close(terms["cos"], cos)
    assert close(weighted_sum(terms, weights), 5 * ce + 2 * mlm + cos)


def test_zero_weights_skip_their_terms():
    weights = LossWeights.general(ce=0.0, mlm=0.0)
    hidden = torch.ones(1, 2, 3)
    terms = general_distillation_terms(weights, torch.ones(1, 2), student_hidden=hidden, teacher_hidden=hidden)
    assert list(terms) == ["cos"]


def test_task_distillation_soft_and_hard_targets():
    weights = LossWeights.task()
    assert (weights.temperature, weights.ce, weights.hard) == (2.0, 0.5, 0.5)
    student, teacher = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    terms = task_distillation_terms(weights, student, teacher, torch.tensor([1]))
    soft, hard = 2 * math.tanh(0.25), math.log(1 + math.e)  # -log softmax([1, 0])[1]
    assert close(terms["ce"], soft) and close(terms["hard"], hard)
    assert close(weighted_sum(terms, weights), 0.5 * soft + 0.5 * hard)
    alone = LossWeights.task(ce=0.0, hard=1.0)  # the same student without a teacher
    assert list(task_distillation_terms(alone, student, None, torch.tensor([1]))) == ["hard"]


@pytest.mark.parametrize("bad", [dict(temperature=0.0), dict(ce=-1.0), dict(ce=0.0, hard=0.0)])
def test_bad_weights_are_refused(bad):
    with pytest.raises(InputError):
        LossWeights.task(**bad)


def test_docstring_examples_run():
    import doctest

    import bertkit.train.distill.losses

    assert doctest.testmod(bertkit.train.distill.losses).failed == 0
