"""The loss terms of distillation, as small pure functions of tensors.

General distillation (DistilBERT, Sanh et al. 2019, section 2 and its training code) trains a
student on raw text with a weighted sum of three terms:

    L = alpha_ce * L_ce + alpha_mlm * L_mlm + alpha_cos * L_cos      (defaults 5, 2, 1; T = 2)

    L_ce   soft targets (Hinton et al. 2015): KL(softmax(t / T) || softmax(s / T)) * T^2 over the
           vocabulary, averaged over the non-padding positions; T^2 keeps the gradient's scale
           independent of T (Hinton et al., section 2).
    L_mlm  the ordinary masked-LM cross-entropy on the masked positions.
    L_cos  1 - cosine similarity between the student's and the teacher's last hidden states,
           averaged over the non-padding positions (it aligns the directions of the vectors).

Task distillation trains a student classifier on labelled data with the fine-tuned teacher's
logits as soft targets (the same L_ce, one distribution per text) plus the hard labels:

    L = alpha_ce * L_ce + alpha_hard * CE(student logits, labels)    (defaults 0.5, 0.5; T = 2)

    >>> import torch
    >>> s, t = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    >>> round(float(soft_target_loss(s, t, temperature=1.0)), 4)   # KL([.27, .73] || [.73, .27])
    0.4621
    >>> float(soft_target_loss(t, t, temperature=2.0))
    0.0
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from bertkit.data.masking import IGNORE_INDEX
from bertkit.errors import InputError


def soft_target_loss(
    student_logits: torch.Tensor,  # (..., C): (B, C) per text, or (B, S, V) per token
    teacher_logits: torch.Tensor,  # same shape
    temperature: float = 2.0,
    mask: torch.Tensor | None = None,  # student_logits.shape[:-1]; 1 where the term counts
) -> torch.Tensor:
    """L_ce, averaged over the counted positions: PyTorch's `KLDivLoss(reduction="batchmean")(
    log_softmax(s / T), softmax(t / T)) * T**2` over the selected rows, as DistilBERT's training code."""
    classes = student_logits.shape[-1]
    student, teacher = student_logits.float(), teacher_logits.float()
    if mask is not None:
        keep = mask.bool()
        student, teacher = student[keep], teacher[keep]  # (..., C) -> (N, C)
    student, teacher = student.reshape(-1, classes), teacher.reshape(-1, classes)
    if len(student) == 0:
        return student.sum() * 0.0  # keeps the graph, contributes nothing
    log_p_student = F.log_softmax(student / temperature, dim=-1)
    log_p_teacher = F.log_softmax(teacher / temperature, dim=-1)
    kl = F.kl_div(log_p_student, log_p_teacher, reduction="sum", log_target=True)
    return kl / len(student) * temperature**2


def mlm_loss(
    logits: torch.Tensor,  # (B, S, V), or (N, V)
    labels: torch.Tensor,  # (B, S), or (N,); IGNORE_INDEX where nothing is predicted
) -> torch.Tensor:
    """Cross-entropy of the true token, averaged over the predicted (masked) positions."""
    logits = logits.float().reshape(-1, logits.shape[-1])
    labels = labels.reshape(-1)
    if not (labels != IGNORE_INDEX).any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits, labels, ignore_index=IGNORE_INDEX)


def cosine_loss(
    student_hidden: torch.Tensor,  # (B, S, H)
    teacher_hidden: torch.Tensor,  # (B, S, H)
    mask: torch.Tensor,  # (B, S), 1 on real tokens
) -> torch.Tensor:
    """Mean of 1 - cos(student vector, teacher vector) over the real tokens: PyTorch's
    `CosineEmbeddingLoss` with target 1, as in DistilBERT's training code."""
    keep = mask.bool()
    student, teacher = student_hidden.float()[keep], teacher_hidden.float()[keep]  # (N, H)
    if len(student) == 0:
        return student.sum() * 0.0
    return (1.0 - F.cosine_similarity(student, teacher, dim=-1)).mean()


def hard_label_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:  # (B, C), (B,)
    """Cross-entropy of the gold labels: what the student would learn without a teacher."""
    return F.cross_entropy(logits.float(), labels)


# --- the weighted sums ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LossWeights:
    """The alphas of each term and the temperature; a term with weight 0 is not computed."""

    temperature: float = 2.0
    ce: float = 0.0  # soft targets
    mlm: float = 0.0  # masked-LM cross-entropy (general distillation)
    cos: float = 0.0  # cosine between last hidden states
    hard: float = 0.0  # gold labels (task distillation)

    def __post_init__(self):
        if self.temperature <= 0:
            raise InputError(f"the temperature must be positive, got {self.temperature}")
        for name in ("ce", "mlm", "cos", "hard"):
            if getattr(self, name) < 0:
                raise InputError(f"--alpha-{name} must be >= 0, got {getattr(self, name)}")
        if not any((self.ce, self.mlm, self.cos, self.hard)):
            raise InputError("every loss weight is 0: give at least one of --alpha-ce/-mlm/-cos/-hard a value")

    @classmethod
    def general(cls, **overrides) -> LossWeights:
        """DistilBERT's recipe: T = 2, alpha_ce = 5, alpha_mlm = 2, alpha_cos = 1."""
        return cls(**{"temperature": 2.0, "ce": 5.0, "mlm": 2.0, "cos": 1.0, **overrides})

    @classmethod
    def task(cls, **overrides) -> LossWeights:
        """Soft and hard targets weighed equally at T = 2, as DistilBERT's SQuAD distillation."""
        return cls(**{"temperature": 2.0, "ce": 0.5, "hard": 0.5, **overrides})


def weighted_sum(terms: dict[str, torch.Tensor], weights: LossWeights) -> torch.Tensor:
    """sum(alpha_name * term) over the computed terms."""
    return sum(getattr(weights, name) * value for name, value in terms.items())


def general_distillation_terms(
    weights: LossWeights,
    mask: torch.Tensor,  # (B, S), 1 on real tokens
    student_logits: torch.Tensor | None = None,  # (N, V) at the N real tokens, hidden[mask]
    teacher_logits: torch.Tensor | None = None,  # (N, V)
    mlm_labels: torch.Tensor | None = None,  # (N,), IGNORE_INDEX where nothing was masked
    student_hidden: torch.Tensor | None = None,  # (B, S, H)
    teacher_hidden: torch.Tensor | None = None,  # (B, S, H)
) -> dict[str, torch.Tensor]:
    """The terms of DistilBERT's loss that have a non-zero weight, by name ("ce", "mlm", "cos").

    The vocabulary logits come for the real tokens only: projecting padding onto the
    vocabulary (the costliest matrix product) would be thrown away.
    """
    terms = {}
    if weights.ce:
        terms["ce"] = soft_target_loss(student_logits, teacher_logits, weights.temperature)
    if weights.mlm:
        terms["mlm"] = mlm_loss(student_logits, mlm_labels)
    if weights.cos:
        terms["cos"] = cosine_loss(student_hidden, teacher_hidden, mask)
    return terms


def task_distillation_terms(
    weights: LossWeights,
    student_logits: torch.Tensor,  # (B, C)
    teacher_logits: torch.Tensor | None,  # (B, C); None when training without a teacher
    labels: torch.Tensor,  # (B,)
) -> dict[str, torch.Tensor]:
    """Soft targets ("ce") and gold labels ("hard"), those with a non-zero weight."""
    terms = {}
    if weights.ce:
        terms["ce"] = soft_target_loss(student_logits, teacher_logits, weights.temperature)
    if weights.hard:
        terms["hard"] = hard_label_loss(student_logits, labels)
    return terms
