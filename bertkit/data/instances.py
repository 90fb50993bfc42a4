"""Pretraining instances from documents: BERT's sentence pairs (MLM + NSP) and RoBERTa's
full-sentence sequences (MLM only), a buffer of documents at a time, so a corpus larger than
memory works. Each sequence is framed by the model's `PackingLayout` (text/packing.py), the
one framing of the project: `[CLS] A [SEP] B [SEP]`, `<s> A </s>`.

    >>> import numpy as np
    >>> from bertkit.text.packing import PackingLayout
    >>> docs = [[[10, 11, 12], [13, 14]], [[20, 21], [22, 23, 24], [25]]]
    >>> maker = InstanceMaker(PackingLayout.bert(cls_id=2, sep_id=3), DataSettings(max_seq_length=12))
    >>> instance = next(maker.instances(iter(docs), np.random.default_rng(0)))
    >>> instance.input_ids[0], instance.input_ids.count(3), instance.next_sentence_label in (0, 1)
    (2, 2, True)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from bertkit.data.masking import Masker, MaskingConfig
from bertkit.errors import InputError
from bertkit.text.packing import PackingLayout

# NSP label convention (DESIGN.md): 0 = B follows A, 1 = B is a random sentence.
IS_NEXT, IS_RANDOM = 0, 1
NO_NSP_LABEL = -1  # instances made without next sentence prediction


@dataclass(frozen=True)
class DataSettings:
    """How a corpus becomes pretraining instances and shards (defaults: BERT's recipe, Google's
    `create_pretraining_data.py`, at 128 tokens)."""

    max_seq_length: int = 128
    short_seq_prob: float = 0.1  # shorter targets now and then, so fine-tuning on short inputs works
    next_sentence: bool = True  # BERT sentence pairs with NSP labels; False: RoBERTa full sentences
    random_next_prob: float = 0.5
    masking: MaskingConfig = field(default_factory=MaskingConfig)
    dynamic_masking: bool = False  # True: masks drawn anew each epoch (RoBERTa); False: dupe_factor copies
    dupe_factor: int = 5
    hold_out_every: int = 20  # every n-th document goes to the held-out set ...
    max_held_out_documents: int = 1000  # ... up to this many
    buffer_documents: int = 2_000  # documents held in memory at once (random B comes from these)
    instances_per_shard: int = 20_000
    seed: int = 12345

    def __post_init__(self):
        if self.max_seq_length < 8:
            raise InputError(f"max_seq_length must be at least 8, got {self.max_seq_length}")


@dataclass
class Instance:
    input_ids: list[int]  # framed by the layout, unpadded
    type_ids: list[int]
    next_sentence_label: int  # IS_NEXT, IS_RANDOM, or NO_NSP_LABEL
    masked_positions: list[int] = field(default_factory=list)  # empty for dynamic masking
    masked_labels: list[int] = field(default_factory=list)


class InstanceMaker:
    """Documents -> instances, `settings.buffer_documents` documents at a time."""

    def __init__(self, layout: PackingLayout, settings: DataSettings = DataSettings(), masker: Masker | None = None):
        self.layout, self.settings = layout, settings
        self.masker = masker  # None: leave masking to batch time (dynamic masking)

    def instances(
        self, documents: Iterable[list[list[int]]], rng: np.random.Generator, dupe_factor: int = 1
    ) -> Iterator[Instance]:
        """All instances of the corpus; each buffer of documents is used `dupe_factor` times
        (each time with new pairs, new random next sentences and new masks), then shuffled."""
        if not self.settings.next_sentence:
            yield from self._full_sentences(documents, rng, dupe_factor)
            return
        buffer: list[list[list[int]]] = []
        previous: list[list[int]] | None = None  # a document kept from the last buffer
        seen = 0
        for document in documents:
            buffer.append(document)
            seen += 1
            if len(buffer) == self.settings.buffer_documents:
                yield from self._pairs_from_buffer(buffer, previous, rng, dupe_factor)
                previous, buffer = buffer[-1], []
        if seen == 0:
            raise InputError("the corpus holds no text: no non-empty line in any file")
        if seen == 1:
            raise InputError(
                "the corpus holds a single document; next sentence prediction needs at least two "
                "(separate documents with a blank line), or pretrain without NSP (--no-nsp)"
            )
        if buffer:
            yield from self._pairs_from_buffer(buffer, previous, rng, dupe_factor)

    def _pairs_from_buffer(self, buffer, previous, rng, dupe_factor) -> Iterator[Instance]:
        # Random next sentences come from the other documents of this buffer (and, when the last
        # buffer holds a single document, from one document kept from the buffer before).
        sources = buffer if len(buffer) > 1 or previous is None else buffer + [previous]
        made = [
            instance
            for _ in range(dupe_factor)
            for index in range(len(buffer))
            for instance in self._pairs_from_document(sources, index, rng)
        ]
        yield from _shuffled(made, rng)

    def _pairs_from_document(self, documents, index, rng) -> Iterator[Instance]:
        """BERT's sentence pairs from one document (Google's `create_instances_from_document`)."""
        document = documents[index]
        max_tokens = self.settings.max_seq_length - self.layout.num_special_tokens(2)
        target = max_tokens
        if rng.random() < self.settings.short_seq_prob:
            target = int(rng.integers(2, max_tokens + 1))
        chunk: list[list[int]] = []
        length = i = 0
        while i < len(document):
            chunk.append(document[i])
            length += len(document[i])
            if i == len(document) - 1 or length >= target:
                a_end = 1 if len(chunk) < 2 else int(rng.integers(1, len(chunk)))
                tokens_a = [t for sentence in chunk[:a_end] for t in sentence]
                random_next = rng.random() < self.settings.random_next_prob
                if len(chunk) == 1 and not random_next and i + 1 < len(document):
                    # One sentence filled the chunk: its continuation is the next sentence. (Google's
                    # script takes a random B whenever the chunk has one sentence, which skews the
                    # labels towards "random": 66% on changelog-like text with long lines.)
                    label = IS_NEXT
                    tokens_b = list(document[i + 1])
                    i += 1
                elif len(chunk) == 1 or random_next:
                    label = IS_RANDOM
                    tokens_b = self._random_continuation(documents, index, target - len(tokens_a), rng)
                    i -= len(chunk) - a_end  # the unused sentences start the next chunk
                else:
                    label = IS_NEXT
                    tokens_b = [t for sentence in chunk[a_end:] for t in sentence]
                self._truncate_pair(tokens_a, tokens_b, max_tokens, rng)
                yield self._frame([tokens_a, tokens_b] if tokens_b else [tokens_a], label, rng)
                chunk, length = [], 0
            i += 1

    @staticmethod
    def _random_continuation(documents, index, target, rng) -> list[int]:
        """Sentences from a random position of a random *other* document, up to `target` tokens."""
        other = int(rng.integers(0, len(documents) - 1))
        other += other >= index  # never the same document
        document = documents[other]
        tokens: list[int] = []
        for sentence in document[int(rng.integers(0, len(document))) :]:
            tokens.extend(sentence)
            if len(tokens) >= target:
                break
        return tokens

    @staticmethod
    def _truncate_pair(tokens_a, tokens_b, max_tokens, rng) -> None:
        """Trim the longer segment, from its front or back at random, until the pair fits
        (Google's `truncate_seq_pair`: the random side avoids a bias towards sentence starts)."""
        while len(tokens_a) + len(tokens_b) > max_tokens:
            longer = tokens_a if len(tokens_a) > len(tokens_b) else tokens_b
            if rng.random() < 0.5:
                del longer[0]
            else:
                longer.pop()

    def _frame(self, segments: list[list[int]], label: int, rng) -> Instance:
        """`start A end (between B end)`, with the layout's type ids (as `Packer` frames a pair)."""
        layout = self.layout
        input_ids, type_ids = list(layout.start), [0] * len(layout.start)
        for i, segment in enumerate(segments):
            piece = [*(layout.between if i else ()), *segment, *layout.end]
            input_ids += piece
            type_ids += [i if layout.typed_segments else 0] * len(piece)
        instance = Instance(input_ids, type_ids, label)
        if self.masker is not None:
            masked = self.masker(input_ids, rng)
            instance.input_ids = masked.input_ids
            instance.masked_positions, instance.masked_labels = masked.positions, masked.labels
        return instance

    def _full_sentences(self, documents, rng, dupe_factor) -> Iterator[Instance]:
        """RoBERTa's FULL-SENTENCES packing: contiguous sentences up to the length, crossing
        document boundaries, a document's end marked by the layout's end token (RoBERTa paper, 4.2)."""
        max_tokens = self.settings.max_seq_length - self.layout.num_special_tokens(1)
        buffer: list[Instance] = []
        current: list[int] = []

        def emit():
            nonlocal current
            if current:
                buffer.extend(self._frame([list(current)], NO_NSP_LABEL, rng) for _ in range(dupe_factor))
            current = []

        for document in documents:
            boundary = bool(current)  # a new document inside the sequence: separate it
            for sentence in document:
                sentence = sentence[:max_tokens]
                needed = len(sentence) + boundary * len(self.layout.end)
                if len(current) + needed > max_tokens:
                    emit()
                    boundary = False
                if boundary:
                    current.extend(self.layout.end)
                    boundary = False
                current.extend(sentence)
            if len(buffer) >= self.settings.buffer_documents:
                yield from _shuffled(buffer, rng)
                buffer = []
        emit()
        yield from _shuffled(buffer, rng)


def _shuffled(items: list, rng: np.random.Generator) -> Iterator:
    return (items[i] for i in rng.permutation(len(items)).tolist())
