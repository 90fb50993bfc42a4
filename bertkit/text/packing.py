"""Packing: segments of token ids -> the fixed-size arrays a BERT-family encoder reads.

TF Hub's `bert_pack_inputs` semantics, with the special-token layout as data so that BERT
(`[CLS] A [SEP] B [SEP]`) and RoBERTa (`<s> A </s></s> B </s>`) differ only in a
`PackingLayout`, never in an `if model_type`:

1. truncate: the segments together keep `seq_length - (number of special tokens)` tokens,
   - "round_robin" (TF Hub's default): tokens are handed out one per segment in turn, so the
     segments end up as equal as their lengths allow and the first keeps the odd token;
   - "waterfall": the first segment keeps all it can, then the second, and so on;
2. combine: `start + A + end + between + B + end + ...`; type ids 0 up to and including the
   first segment's `end`, then 1 for the second segment (with its `between` and `end`), 2 ...;
3. pad to `seq_length` (or to the longest row with `padding="longest"`), mask 1 on real tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np

from bertkit.errors import InputError

PADDINGS = ("max_length", "longest")


@dataclass(frozen=True)
class PackingLayout:
    """Where special tokens go around and between segments.

    >>> bert = PackingLayout.bert(cls_id=101, sep_id=102)
    >>> bert.num_special_tokens(2)
    3
    >>> roberta = PackingLayout.roberta(cls_id=0, sep_id=2, pad_id=1)
    >>> roberta.num_special_tokens(2)
    4
    """

    start: tuple[int, ...]  # before the first segment
    end: tuple[int, ...]  # after every segment
    between: tuple[int, ...] = ()  # before every segment but the first
    pad_id: int = 0
    typed_segments: bool = True  # type id i for segment i; False: all 0

    @classmethod
    def bert(cls, cls_id: int, sep_id: int, pad_id: int = 0) -> PackingLayout:
        return cls(start=(cls_id,), end=(sep_id,), pad_id=pad_id)

    @classmethod
    def roberta(cls, cls_id: int, sep_id: int, pad_id: int) -> PackingLayout:
        """`<s> A </s>`, `<s> A </s></s> B </s>`: RoBERTa has no segment embedding to feed."""
        return cls(start=(cls_id,), end=(sep_id,), between=(sep_id,), pad_id=pad_id, typed_segments=False)

    def num_special_tokens(self, num_segments: int) -> int:
        return len(self.start) + num_segments * len(self.end) + (num_segments - 1) * len(self.between)


def round_robin(lengths: Sequence[int], budget: int) -> list[int]:
    """How many tokens each segment keeps when tokens are dealt out one per segment in turn.

    >>> round_robin([10, 10], 7), round_robin([2, 10], 7), round_robin([5, 5, 5], 7)
    ([4, 3], [2, 5], [3, 2, 2])
    """
    lengths = list(lengths)
    if sum(lengths) <= budget:
        return lengths
    kept = [0] * len(lengths)
    left = budget
    while left > 0:
        hungry = [i for i, n in enumerate(lengths) if kept[i] < n]
        rounds = left // len(hungry)
        if rounds == 0:  # the last, partial round: the first segments take one more each
            for i in hungry[:left]:
                kept[i] += 1
            break
        for i in hungry:  # `rounds` full rounds at once; short segments run out on the way
            take = min(rounds, lengths[i] - kept[i])
            kept[i] += take
            left -= take
    return kept


def waterfall(lengths: Sequence[int], budget: int) -> list[int]:
    """The first segment keeps all it can, then the next, ...

    >>> waterfall([10, 10], 7), waterfall([2, 10], 7)
    ([7, 0], [2, 5])
    """
    kept = []
    for n in lengths:
        kept.append(min(n, budget))
        budget -= kept[-1]
    return kept


TRUNCATORS = {"round_robin": round_robin, "waterfall": waterfall}


class Packer:
    """Truncates, combines and pads a batch of segments into TF Hub's three int32 arrays.

    >>> packer = Packer(PackingLayout.bert(cls_id=101, sep_id=102), seq_length=8)
    >>> out = packer.pack([[[7, 8, 9]], [[4, 5, 6, 7]]])
    >>> out["input_word_ids"].tolist(), out["input_type_ids"].tolist()
    ([[101, 7, 8, 9, 102, 4, 5, 102]], [[0, 0, 0, 0, 0, 1, 1, 1]])
    """

    def __init__(self, layout: PackingLayout, seq_length: int = 128, truncate: str = "round_robin"):
        if truncate not in TRUNCATORS:
            raise InputError(f"truncate must be one of {', '.join(TRUNCATORS)}, not {truncate!r}")
        if not isinstance(seq_length, int) or seq_length < 1:
            raise InputError(f"seq_length must be a positive integer, not {seq_length!r}")
        self.layout = layout
        self.seq_length = seq_length
        self.truncate = truncate

    def budget(self, num_segments: int) -> int:
        """Tokens left for the segments together once the special tokens have their places."""
        budget = self.seq_length - self.layout.num_special_tokens(num_segments)
        if budget < 0:
            raise InputError(
                f"seq_length {self.seq_length} cannot hold the "
                f"{self.layout.num_special_tokens(num_segments)} special tokens of {num_segments} segments"
            )
        return budget

    def pack(self, segments: Sequence[Sequence[Sequence[int]]], padding: str = "max_length") -> dict[str, np.ndarray]:
        """`segments[i][b]`: ids of segment i of example b -> dict of (B, S) int32 arrays."""
        if padding not in PADDINGS:
            raise InputError(f"padding must be one of {', '.join(PADDINGS)}, not {padding!r}")
        if not segments:
            raise InputError("pack needs at least one segment")
        batch = len(segments[0])
        for i, segment in enumerate(segments):
            if len(segment) != batch:
                raise InputError(f"segment {i} has {len(segment)} rows, segment 0 has {batch}")
        budget = self.budget(len(segments))
        if len(segments) == 1:
            return self._pack_single(segments[0], budget, padding)
        return self._pack_many(segments, budget, padding)

    def _width(self, total: np.ndarray, padding: str) -> int:
        if padding == "longest":
            return int(total.max(initial=0))
        return self.seq_length

    def _pack_single(self, rows, budget, padding):
        # The common case, vectorised: start tokens, then each row's ids, then the end tokens.
        layout = self.layout
        rows = [ids[:budget] for ids in rows]
        lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))  # (B,)
        n_start = len(layout.start)
        total = lengths + n_start + len(layout.end)
        width = self._width(total, padding)
        positions = np.arange(width)  # (S,)
        word_ids = np.full((len(rows), width), layout.pad_id, dtype=np.int32)
        word_ids[:, :n_start] = layout.start
        content = (positions >= n_start) & (positions < (n_start + lengths)[:, None])  # (B, S)
        word_ids[content] = np.fromiter(chain.from_iterable(rows), dtype=np.int32, count=int(lengths.sum()))
        batch_index = np.arange(len(rows))
        for j, token in enumerate(layout.end):
            word_ids[batch_index, n_start + lengths + j] = token
        return {
            "input_word_ids": word_ids,
            "input_mask": (positions < total[:, None]).astype(np.int32),
            "input_type_ids": np.zeros_like(word_ids),
        }

    def _pack_many(self, segments, budget, padding):
        layout, keep = self.layout, TRUNCATORS[self.truncate]
        id_rows, type_rows = [], []
        for row in zip(*segments):
            kept = keep([len(ids) for ids in row], budget)
            ids, types = list(layout.start), [0] * len(layout.start)
            for i, (segment, n) in enumerate(zip(row, kept)):
                type_id = i if layout.typed_segments else 0
                pieces = (layout.between, segment[:n], layout.end) if i else (segment[:n], layout.end)
                for piece in pieces:
                    ids.extend(piece)
                    types += [type_id] * len(piece)
            id_rows.append(ids)
            type_rows.append(types)
        total = np.fromiter(map(len, id_rows), dtype=np.int64, count=len(id_rows))  # (B,)
        width = self._width(total, padding)
        real = np.arange(width) < total[:, None]  # (B, S)
        count = int(total.sum())
        word_ids = np.full((len(id_rows), width), layout.pad_id, dtype=np.int32)
        word_ids[real] = np.fromiter(chain.from_iterable(id_rows), dtype=np.int32, count=count)
        type_ids = np.zeros((len(id_rows), width), dtype=np.int32)
        type_ids[real] = np.fromiter(chain.from_iterable(type_rows), dtype=np.int32, count=count)
        return {"input_word_ids": word_ids, "input_mask": real.astype(np.int32), "input_type_ids": type_ids}
