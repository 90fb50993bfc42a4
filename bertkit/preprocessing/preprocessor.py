"""`Preprocessor`: raw text -> the input dict of a BERT-family encoder, as TF Hub's preprocessor.

    text(s) -> tokenizer (normaliser, pre-tokenizer, sub-word model) -> ids per segment
            -> Packer (truncate, add special tokens, pad) -> input_word_ids / input_mask / input_type_ids

The stages come from the checkpoint directory (`bertkit.text.loading`); this class only checks
the input and composes them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from bertkit.bundled import resolve_model_dir
from bertkit.errors import InputError, InputTypeError
from bertkit.preprocessing import encoding
from bertkit.preprocessing.encoding import EncodedTexts, EncodedWords
from bertkit.text.loading import load_text_stages
from bertkit.text.packing import Packer, PackingLayout
from bertkit.text.tokenizer import Tokenizer


class Preprocessor:
    """Text -> `input_word_ids`, `input_mask`, `input_type_ids` (torch.int32, (B, seq_length)).

    >>> pre = Preprocessor.from_pretrained(seq_length=16)
    >>> batch = pre(["This is a spam mail", "Computers are not unique to computers"])
    >>> batch["input_word_ids"][0].tolist()
    [101, 2023, 2003, 1037, 12403, 2213, 5653, 102, 0, 0, 0, 0, 0, 0, 0, 0]
    >>> pairs = pre(["Is this spam?"], ["No."], padding="longest")
    >>> pairs["input_type_ids"].tolist()
    [[0, 0, 0, 0, 0, 0, 0, 1, 1, 1]]
    >>> ids = pre.tokenize(["Is this spam?", "No."])
    >>> pre.pack_inputs([ids[:1], ids[1:]], seq_length=6)["input_word_ids"].tolist()
    [[101, 2003, 2023, 102, 2053, 102]]
    """

    def __init__(self, tokenizer: Tokenizer, layout: PackingLayout, seq_length: int = 128):
        self.tokenizer = tokenizer
        self.layout = layout
        self.seq_length = seq_length
        self._packer = Packer(layout, seq_length)  # checks seq_length

    @classmethod
    def from_pretrained(
        cls, model: str | Path | None = None, seq_length: int = 128, flavor: str | None = None
    ) -> Preprocessor:
        """The preprocessor of a checkpoint directory; `None` = the bundled all-MiniLM-L6-v2.

        `flavor` is whose tokenization to reproduce id for id: "huggingface" (transformers'
        `BertTokenizer`) or "tfhub" (TF Hub's preprocessing models, TF Text's `BertTokenizer`).
        None: the checkpoint's own, which its `tokenizer_config.json` may name
        (`"bertkit_flavor": "tfhub"`), else "huggingface". `pre.tokenizer.flavor` says which.
        """
        tokenizer, layout = load_text_stages(resolve_model_dir(model), flavor)
        return cls(tokenizer, layout, seq_length)

    def __call__(self, texts, texts_b=None, *, padding: str = "max_length") -> dict[str, torch.Tensor]:
        """One text or a list of texts (and optionally their second segments) -> input dict.

        Pairs are truncated round-robin, as TF Hub's `bert_pack_inputs`. `padding="longest"`
        pads to the longest row of this batch instead of `seq_length`.
        """
        encoded = self.encode(texts, texts_b)
        segments = [encoded.ids] + ([] if encoded.ids_b is None else [encoded.ids_b])
        return _to_torch(self._packer.pack(segments, padding))

    def budget(self, num_segments: int) -> int:
        """Tokens the segments of one example may hold together, once the special tokens have their places."""
        return self._packer.budget(num_segments)

    def encode(self, texts, texts_b=None) -> EncodedTexts:
        """Texts (or pairs) as token ids, each cut to what can be packed, for `batches`."""
        segments = [_as_texts(texts, "texts")] + ([] if texts_b is None else [_as_texts(texts_b, "texts_b")])
        if len(segments) == 2 and len(segments[1]) != len(segments[0]):
            raise InputError(f"got {len(segments[0])} texts but {len(segments[1])} texts_b; pairs need as many of each")
        return encoding.encode_texts(self, *segments)

    def encode_words(self, sentences: list[list[str]]) -> EncodedWords:
        """Sentences given as words (tagging): ids, and where each word's first piece is."""
        return encoding.encode_words(self, sentences)

    def batches(
        self, encoded: EncodedTexts, batch_size: int = 32
    ) -> Iterator[tuple[list[int], dict[str, torch.Tensor]]]:
        """(indices, input dict): `encoded` packed in length-sorted batches padded to their longest;
        results are put back in input order by `indices`."""
        return encoding.batches(self, encoded, batch_size)

    def tokenize(self, texts, offsets: bool = False) -> list:
        """Token ids of each text, whole, without special tokens.

        `offsets=True`: `(ids, spans)` for each text, `spans[i]` the `(start, end)` character span
        (end exclusive) of `ids[i]` in the original text, through lower-casing, accent stripping,
        CJK spacing, deleted control characters and byte-level BPE; equal to the `offset_mapping`
        of transformers' fast tokenizers (huggingface flavour; the tfhub one has no offsets).

        >>> Preprocessor.from_pretrained().tokenize(["Café 中文"], offsets=True)
        [([7668, 1746, 1861], [(0, 4), (5, 6), (6, 7)])]
        """
        texts = _as_texts(texts, "texts")
        if offsets:
            encode_offsets = self.tokenizer.encode_offsets
            return [encode_offsets(text) for text in texts]
        return self.tokenizer.encode_batch(texts)

    def pack_inputs(
        self,
        segments,
        seq_length: int | None = None,
        truncate: str = "round_robin",
        padding: str = "max_length",
    ) -> dict[str, torch.Tensor]:
        """TF Hub's `bert_pack_inputs`: `segments[i][b]` = ids of segment i of example b."""
        if isinstance(segments, (str, bytes)) or not isinstance(segments, Sequence):
            raise InputTypeError("pack_inputs takes a list of segments, each a list of id lists (one per example)")
        segments = [_as_id_rows(segment, i) for i, segment in enumerate(segments)]
        packer = Packer(self.layout, self.seq_length if seq_length is None else seq_length, truncate)
        return _to_torch(packer.pack(segments, padding))


def _as_texts(texts, name: str) -> list[str]:
    """A list of str, or a clear error naming the first bad position. One str = one text."""
    if isinstance(texts, str):
        return [texts]
    if isinstance(texts, (bytes, bytearray)):
        raise InputTypeError(f"{name} must be str or a list of str, not bytes; decode it first")
    try:
        texts = list(texts)
    except TypeError:
        raise InputTypeError(f"{name} must be str or a list of str, not {type(texts).__name__}") from None
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputTypeError(f"{name}[{i}] is {type(text).__name__}, expected str")
    return texts


def _as_id_rows(segment, index: int) -> list:
    if hasattr(segment, "tolist"):  # a numpy array or torch tensor (B, n)
        segment = segment.tolist()
    rows = []
    for b, row in enumerate(segment):
        if hasattr(row, "tolist"):
            row = row.tolist()
        if isinstance(row, (int, np.integer)) or isinstance(row, (str, bytes)):
            raise InputTypeError(
                f"segments[{index}][{b}] is {type(row).__name__}; pack_inputs takes a list of segments, "
                "each a list of id lists, e.g. pack_inputs([ids]) for one segment"
            )
        rows.append(row)
    return rows


def _to_torch(arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {name: torch.from_numpy(array) for name, array in arrays.items()}
