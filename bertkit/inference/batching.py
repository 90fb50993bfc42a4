"""Length-bucketed batches under a token budget.

Padding every text of a batch to the batch's longest wastes the compute of the difference;
sorting the texts by length first makes the texts of a batch nearly equal in length, and a
token budget (texts x longest) instead of a fixed batch size keeps every batch about the same
amount of work: many short texts or a few long ones.

    >>> length_batches([5, 40, 6, 38, 7], max_tokens=80)
    [[0, 2, 4], [3, 1]]
"""

from __future__ import annotations

from collections.abc import Sequence


def length_batches(lengths: Sequence[int], max_tokens: int = 4096, max_texts: int | None = None) -> list[list[int]]:
    """Indices of `lengths` grouped into batches, shortest texts first.

    Each batch holds texts of adjacent lengths, at most `max_texts` of them, and its padded
    size (texts x longest) stays within `max_tokens` unless one text alone exceeds it.
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    batch: list[int] = []
    for i in order:
        # Sorted ascending: the text being added is the longest of the batch.
        full = max_texts is not None and len(batch) >= max_texts
        if batch and (full or (len(batch) + 1) * lengths[i] > max_tokens):
            batches.append(batch)
            batch = []
        batch.append(i)
    if batch:
        batches.append(batch)
    return batches
