"""Texts longer than the model, read whole: overlapping windows of tokens, one vector each.

A text of n tokens becomes windows of at most `window` tokens, each starting `window - stride`
tokens after the one before (so neighbours share `stride` tokens) and the last one ending at
the text's end; a text that fits is one window, the whole text. Windows are cut at token
boundaries, so every token is read with the tokens around it as in the whole text's
tokenization (a window may begin inside a word, at a "##" piece: the model sees it as the text
had it). Each window is packed with the special tokens (and the prompt) of its own and
embedded in the same length-sorted batches as everything else.

A document's vector (`Pipeline.embed(long="chunk")`) is the mean of its windows' vectors
weighted by their numbers of tokens, re-normalised when the model normalises; a text that fits
gets exactly the vector `long="truncate"` gives it. `Pipeline.embed_chunks` keeps the windows,
each with the character span it covers in the original text (`(start, end, vector)` per text;
`Pipeline.embed_windows`: the same as arrays, `Chunks`), what a retrieval index stores.

    >>> token_windows(10, window=4, stride=1)
    [(0, 4), (3, 7), (6, 10)]
    >>> token_windows(3, window=4, stride=1)
    [(0, 3)]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np

from bertkit.errors import InputError, InputTypeError
from bertkit.preprocessing.encoding import EncodedTexts

STRIDE = 32  # tokens shared by neighbouring windows, unless the caller says


def check_window(window: int, stride: int) -> None:
    """A clear line for windows that could not move forward."""
    for name, value in (("window", window), ("stride", stride)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise InputTypeError(f"{name} must be an int, not {type(value).__name__}")
    if window < 1:
        raise InputError(f"window must be at least 1 token, got {window}")
    if stride < 0:
        raise InputError(f"stride must be 0 or more tokens, got {stride}")
    if window <= stride:
        raise InputError(
            f"window ({window} tokens) must be longer than stride ({stride} tokens of overlap), "
            "or the windows would not move forward"
        )


def token_windows(n: int, window: int, stride: int) -> list[tuple[int, int]]:
    """[start, end) token ranges covering n tokens: each at most `window` long, neighbours
    overlapping by `stride`, the last ending at n. n = 0 gives no window."""
    if n <= window:
        return [(0, n)] if n else []
    step = window - stride
    starts = [*range(0, n - window, step), n - window]
    return [(start, start + window) for start in starts]


def weighted_mean(vectors: np.ndarray, owners: np.ndarray, weights: np.ndarray, count: int) -> np.ndarray:
    """(count, H): for each document, the mean of its windows' rows weighted by `weights`."""
    sums = np.zeros((count, vectors.shape[1]), dtype=np.float64)
    np.add.at(sums, owners, vectors.astype(np.float64) * weights[:, None])
    totals = np.bincount(owners, weights=weights, minlength=count)
    return (sums / totals[:, None]).astype(np.float32)


@dataclasses.dataclass
class Chunks:
    """The windows of some texts, as `Pipeline.embed_windows` returns them (N windows in all).

    `text_index[i]`: which input text window i comes from (windows of a text are consecutive,
    in text order); `spans[i]`: its (start, end) characters in that text, `text[start:end]`;
    `token_spans[i]`: its [start, end) tokens of the text's tokenization; `vectors[i]`: its
    embedding.
    """

    text_index: np.ndarray  # (N,) int64
    spans: np.ndarray  # (N, 2) int64, characters of the original text, end exclusive
    token_spans: np.ndarray  # (N, 2) int64
    vectors: np.ndarray  # (N, H) or as `dimensions` / `precision` say

    def __len__(self) -> int:
        return len(self.text_index)

    def __iter__(self) -> Iterator[tuple[int, tuple[int, int], np.ndarray]]:
        """(text index, (start, end), vector) of each window."""
        for i in range(len(self)):
            yield int(self.text_index[i]), (int(self.spans[i, 0]), int(self.spans[i, 1])), self.vectors[i]

    def per_text(self, count: int) -> list[list[tuple[int, int, np.ndarray]]]:
        """`Pipeline.embed_chunks`' form: for each of `count` texts, its windows' (start, end, vector)."""
        found: list[list[tuple[int, int, np.ndarray]]] = [[] for _ in range(count)]
        for owner, (start, end), vector in self:
            found[owner].append((start, end, vector))
        return found

    def text(self, i: int, texts) -> str:
        """The characters window i covers, from the texts it was made of."""
        start, end = self.spans[i]
        return texts[self.text_index[i]][start:end]


def character_spans(offsets: list[tuple[int, int]], windows: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Each token window's (start, end) in characters: its first token's start to its last's end."""
    return [(offsets[first][0], offsets[last - 1][1]) for first, last in windows]


def make_windows(pre, texts, prompt: str, lower_case: bool, window, stride, spans: bool) -> Windows:
    """The windows of `texts` packed as `pre` packs one segment, each as [prompt] + its tokens;
    `window` None = as many tokens as `pre` leaves after its special tokens and the prompt."""
    tokenizer = pre.tokenizer
    stride = STRIDE if stride is None else stride
    prompt = prompt.lower() if lower_case else prompt
    prompt_ids = tokenizer.encode(prompt) if prompt else []
    room = pre.budget(1) - len(prompt_ids)
    if room < 1:
        raise InputError(f"the prompt takes {len(prompt_ids)} tokens, all the model's {pre.budget(1)}")
    window = room if window is None else window
    check_window(window, stride)
    if window > room:
        raise InputError(
            f"window must be at most {room} tokens: the model reads {pre.seq_length}, "
            f"less {pre.layout.num_special_tokens(1)} special tokens and {len(prompt_ids)} of the prompt"
        )
    found = Windows()
    special = pre.layout.num_special_tokens(1)
    for i, text in enumerate(texts):
        ids, offsets = body_tokens(tokenizer, prompt, prompt_ids, text, lower_case, spans)
        if not ids:
            raise InputError(f"text {i} is empty (it makes no tokens): no window to embed; drop it")
        windows = token_windows(len(ids), window, stride)
        for start, end in windows:
            found.encoded.ids.append(prompt_ids + ids[start:end])
            found.encoded.lengths.append(len(prompt_ids) + end - start + special)
        found.owners.extend([i] * len(windows))
        found.token_spans.extend(windows)
        if spans:
            found.spans.extend(character_spans(offsets, windows))
    return found


@dataclasses.dataclass
class Windows:
    """Windows of some texts as `bertkit.pipeline.embedding.embed_rows` reads them, and where each came from."""

    encoded: EncodedTexts = dataclasses.field(default_factory=lambda: EncodedTexts([], None, []))
    owners: list[int] = dataclasses.field(default_factory=list)  # the text of each window
    token_spans: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    spans: list[tuple[int, int]] = dataclasses.field(default_factory=list)  # characters (with spans=True)


def body_tokens(tokenizer, prompt: str, prompt_ids: list[int], text: str, lower_case: bool, spans: bool):
    """The ids of `text` as they follow the prompt when the two are tokenized together (the
    tokens `embed` reads), and with `spans` each one's (start, end) in `text` itself."""
    lowered, where = lower_with_positions(text) if lower_case else (text, None)
    whole = prompt + lowered
    if spans:
        ids, offsets = tokenizer.encode_offsets(whole)
    else:
        ids, offsets = tokenizer.encode(whole), None
    p = len(prompt_ids)
    if ids[:p] == prompt_ids and (offsets is None or all(start >= len(prompt) for start, _ in offsets[p:])):
        ids, shift = ids[p:], len(prompt)
        offsets = None if offsets is None else offsets[p:]
    else:  # the prompt's last word runs into the text's first: tokenize the text alone
        ids, offsets = tokenizer.encode_offsets(lowered) if spans else (tokenizer.encode(lowered), None)
        shift = 0
    if offsets is not None:
        offsets = [(start - shift, end - shift) for start, end in offsets]
        if where is not None:  # back to the characters of the text before lower-casing
            offsets = [(where[start], where[end - 1] + 1 if end else 0) for start, end in offsets]
    return ids, offsets


def lower_with_positions(text: str) -> tuple[str, list[int] | None]:
    """text.lower(), and where it changes the length (İ -> i̇), each lowered position's original one."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered, None
    where = []
    for i, character in enumerate(text):
        where.extend([i] * len(character.lower()))
    return lowered, where
