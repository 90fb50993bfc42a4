"""Masked language modelling: which tokens to predict, and how to corrupt them.

The recipe of the BERT paper (section 3.1, appendix A.1) and of Google's
`create_pretraining_data.py`: choose 15% of the non-special tokens of a sequence (at most
`max_predictions`), then replace 80% of the chosen tokens by the mask token, 10% by a random
token and leave 10% unchanged. With `whole_word=True` the choice is made over whole words
(a token and the continuation pieces that follow it), so a word is masked entirely or not
at all, as in the "whole word masking" BERT models.

The same `Masker` serves static masking (BERT: each instance masked `dupe_factor` times when
the instances are written) and dynamic masking (RoBERTa: masked afresh every time a batch is
drawn).

    >>> import numpy as np
    >>> masker = Masker(mask_id=4, special_ids=[0, 2, 3], vocab_size=30,
    ...                 config=MaskingConfig(probability=0.5, max_predictions=2))
    >>> masked = masker([2, 10, 11, 12, 13, 3], np.random.default_rng(0))
    >>> len(masked.positions), [masked.input_ids[i] for i in (0, 5)]
    (2, [2, 3])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bertkit.errors import InputError
from bertkit.text.packing import PackingLayout

IGNORE_INDEX = -100  # the label of positions that are not predicted (PyTorch's cross-entropy default)


@dataclass(frozen=True)
class MaskingConfig:
    """How many tokens to predict and how to corrupt them (BERT's defaults)."""

    probability: float = 0.15
    max_predictions: int = 20
    mask_fraction: float = 0.8  # of the chosen tokens: replaced by the mask token
    random_fraction: float = 0.1  # replaced by a random token; the rest stay unchanged
    whole_word: bool = False

    def __post_init__(self):
        if not 0.0 < self.probability <= 1.0:
            raise InputError(f"masking probability must be in (0, 1], got {self.probability}")
        if self.max_predictions < 1:
            raise InputError(f"max_predictions must be at least 1, got {self.max_predictions}")
        if self.mask_fraction < 0 or self.random_fraction < 0 or self.mask_fraction + self.random_fraction > 1:
            raise InputError(
                f"mask_fraction + random_fraction must lie in [0, 1], got {self.mask_fraction} + {self.random_fraction}"
            )


@dataclass
class MaskedSequence:
    """One masked sequence: the corrupted ids, the predicted positions and their true ids."""

    input_ids: list[int]
    positions: list[int]  # ascending
    labels: list[int]  # the original ids at `positions`


class Masker:
    """Chooses and corrupts the tokens to predict in one sequence of ids.

    special_ids: never chosen ([CLS], [SEP], [PAD], <s>, </s> ...), never used as random tokens.
    continuation: for whole-word masking, `continuation[id]` is True when token `id` continues
        the word before it (WordPiece `##x`; byte-level BPE pieces without a leading space).
    """

    def __init__(
        self,
        mask_id: int,
        special_ids: Sequence[int],
        vocab_size: int,
        config: MaskingConfig = MaskingConfig(),
        continuation: Sequence[bool] | None = None,
    ):
        if config.whole_word and continuation is None:
            raise InputError("whole-word masking needs to know which tokens continue a word")
        self.mask_id, self.config = mask_id, config
        self.special = np.zeros(vocab_size, dtype=bool)
        self.special[list(special_ids) + [mask_id]] = True
        # Random replacements come from the ordinary tokens only: a random [CLS] or [PAD] in
        # the middle of a sentence teaches nothing (Google's script drew from the whole vocab).
        self.random_pool = np.flatnonzero(~self.special)
        self.continuation = None if continuation is None else np.asarray(continuation, dtype=bool)

    @classmethod
    def for_text(cls, tokenizer, layout: PackingLayout, config: MaskingConfig = MaskingConfig()) -> Masker:
        """The masker of a tokenizer and its packing layout: the layout's tokens are never chosen,
        and a word continues at the ids `tokenizer.continues_word` names (whole-word masking)."""
        specials = sorted({*layout.start, *layout.end, *layout.between, layout.pad_id})
        continuation = [tokenizer.continues_word(i) for i in range(tokenizer.vocab_size)] if config.whole_word else None
        return cls(tokenizer.token_id("mask_token"), specials, tokenizer.vocab_size, config, continuation)

    def word_groups(self, ids: np.ndarray) -> list[list[int]]:
        """Candidate positions, grouped: one position per group, or one word per group."""
        candidates = np.flatnonzero(~self.special[ids])
        if not self.config.whole_word:
            return [[int(p)] for p in candidates]
        groups: list[list[int]] = []
        for p in candidates.tolist():
            if groups and self.continuation[ids[p]] and groups[-1][-1] == p - 1:
                groups[-1].append(p)
            else:
                groups.append([p])
        return groups

    def __call__(self, ids: Sequence[int], rng: np.random.Generator) -> MaskedSequence:
        ids = np.asarray(ids, dtype=np.int64)
        groups = self.word_groups(ids)
        n_candidates = sum(len(g) for g in groups)
        if n_candidates == 0:
            return MaskedSequence(ids.tolist(), [], [])
        budget = min(self.config.max_predictions, max(1, round(n_candidates * self.config.probability)))
        chosen: list[int] = []
        for g in rng.permutation(len(groups)).tolist():
            if len(chosen) >= budget:
                break
            # a word that would overshoot the budget is skipped whole, never cut (Google's rule)
            if len(chosen) + len(groups[g]) > budget:
                continue
            chosen.extend(groups[g])
        positions = np.sort(np.asarray(chosen, dtype=np.int64))
        labels = ids[positions]
        corrupted = ids.copy()
        draw = rng.random(len(positions))
        to_mask = draw < self.config.mask_fraction
        to_random = ~to_mask & (draw < self.config.mask_fraction + self.config.random_fraction)
        corrupted[positions[to_mask]] = self.mask_id
        corrupted[positions[to_random]] = rng.choice(self.random_pool, size=int(to_random.sum()))
        return MaskedSequence(corrupted.tolist(), positions.tolist(), labels.tolist())
