"""Attention pictures: how much each token attends to every other, as token-by-token heatmaps.

    >>> from bertkit import Encoder, Preprocessor
    >>> from bertkit.tasks.attention import attention_maps, draw_attention
    >>> pre, enc = Preprocessor.from_pretrained(), Encoder.from_pretrained()   # the bundled all-MiniLM-L6-v2
    >>> maps = attention_maps(pre, enc, "This is a spam mail")
    >>> maps.tokens
    ['[CLS]', 'this', 'is', 'a', 'spa', '##m', 'mail', '[SEP]']
    >>> len(maps.layers), maps.layers[0].shape        # L x (heads, T, T), real tokens only
    (6, (12, 8, 8))
    >>> figure = draw_attention(maps.tokens, maps.layers[-1], head=0)   # one head; head=None: every head
    >>> figure.savefig("attention.png")                                 # doctest: +SKIP

Row i of a map is what token i (the query) attends to; column j is token j (the key); each row
sums to 1. Layers and heads are counted from 0, as `enc(batch, output_attentions=True)["attentions"]`
indexes them. The probabilities come from `Encoder(..., output_attentions=True)`, so they are
the reference modules' (`modeling/attention.py`), which equal transformers' within 1e-5.

Chinese, Japanese and Korean tokens need a font with their glyphs, which matplotlib's own
DejaVu Sans lacks: the labels use the Noto Sans CJK SC that the `mplfonts` package ships, or
else a CJK font matplotlib finds on the system. Without one the picture is still drawn (with
empty boxes for those characters) and one `MissingFontWarning` says so. The figures are
`matplotlib.figure.Figure` objects, made without pyplot: no backend or global state is touched.
"""

from __future__ import annotations

import functools
import importlib.util
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.ft2font import FT2Font

from bertkit.errors import InputError

CJK_SAMPLE = "中文汉字"  # characters a font must have to count as a (simplified) Chinese font
# mplfonts' Noto Sans CJK SC (SIL Open Font License), inside the installed package
PACKAGED_FONTS = (("mplfonts", "fonts/NotoSansCJKsc-Regular.otf"),)


class MissingFontWarning(UserWarning):
    """Some token characters have no glyph in any font found; they are drawn as empty boxes."""


class AttentionMaps(NamedTuple):
    tokens: list[str]  # T tokens of one example, special tokens included, padding left out
    layers: list[np.ndarray]  # L x (heads, T, T) float32: attention probabilities, rows sum to 1
    type_ids: list[int]  # T segment ids: 0 for the text, 1 for its pair


def attention_maps(preprocessor, encoder, text: str, pair: str | None = None) -> AttentionMaps:
    """Every layer's attention probabilities for one text (or a text and its pair), real tokens only."""
    if not isinstance(text, str) or not text.strip() or (pair is not None and not pair.strip()):
        raise InputError("attention needs a non-empty text (and, with a pair, a non-empty pair)")
    batch = preprocessor([text], None if pair is None else [pair], padding="longest")
    with torch.inference_mode():
        attentions = encoder(batch, output_attentions=True)["attentions"]  # L x (1, heads, S, S)
    real = int(batch["input_mask"][0].sum())
    ids = batch["input_word_ids"][0, :real].tolist()
    tokens = token_labels(preprocessor.tokenizer, ids, [text] if pair is None else [text, pair])
    layers = [layer[0, :, :real, :real].float().cpu().numpy() for layer in attentions]
    return AttentionMaps(tokens, layers, batch["input_type_ids"][0, :real].tolist())


def token_labels(tokenizer, ids: list[int], texts: list[str]) -> list[str]:
    """Each packed id as the text it stands for; an unknown token shows the characters it
    replaced ("输 [UNK]"), which an English vocabulary meets often in Chinese text."""
    labels = [tokenizer.decode_token(i) for i in ids]
    unknown = tokenizer.token_id("unk_token")
    if unknown not in ids:
        return labels
    segments = [tokenizer.encode_offsets(text) for text in texts]  # (ids, spans) of each segment
    segment, k = 0, 0  # walk the packed ids: each segment's (possibly truncated) ids, between special tokens
    for position, token_id in enumerate(ids):
        if segment < len(segments) and k < len(segments[segment][0]) and token_id == segments[segment][0][k]:
            if token_id == unknown:
                start, end = segments[segment][1][k]
                labels[position] = f"{texts[segment][start:end]} {labels[position]}"
            k += 1
        elif k > 0:  # a special token after a segment's tokens: the next segment follows
            segment, k = segment + 1, 0
    return labels


def draw_attention(
    tokens: Sequence[str],
    probs,
    head: int | None = None,
    title: str | None = None,
    layer: int | None = None,
) -> Figure:
    """Heatmaps of one layer's attention: `probs` (heads, T, T) or (T, T), a numpy array or tensor.

    `head` picks one head (from 0); None draws every head of the layer in a grid. `layer` only
    names the layer in the titles. Tokens label both axes: rows attend (queries), columns are
    attended to (keys). Colours run from 0 to 1 for every head, so heads compare at a glance.
    """
    probs = np.asarray(probs, dtype=np.float32)
    if probs.ndim == 2:
        probs = probs[None]
    count = len(tokens)
    if probs.ndim != 3 or probs.shape[1:] != (count, count):
        raise InputError(f"attention probabilities of shape {probs.shape} do not fit {count} tokens: "
                         "want (heads, T, T) or (T, T)")  # fmt: skip
    heads = range(probs.shape[0]) if head is None else [head]
    if head is not None and not -probs.shape[0] <= head < probs.shape[0]:
        raise InputError(
            f"head {head} does not exist: this layer has {probs.shape[0]} heads (0 to {probs.shape[0] - 1})"
        )
    font = label_font(tokens)
    columns = 1 if head is not None else min(4, len(heads))
    rows = -(-len(heads) // columns)
    cell = 0.28 if head is not None else 0.2  # inches per token
    side = max(2.6, cell * count + 1.2)
    figure = Figure(figsize=(columns * side + 1.0, rows * side + 0.6), layout="constrained")
    axes_grid = figure.subplots(rows, columns, squeeze=False)
    named = "" if layer is None else f"layer {layer}, "
    for k, axes in enumerate(axes_grid.flat):
        if k >= len(heads):
            axes.set_axis_off()
            continue
        h = heads[k] % probs.shape[0]
        image = axes.imshow(probs[h], cmap="Blues", vmin=0.0, vmax=1.0)
        axes.set_title(f"{named}head {h}", fontsize=10 if head is not None else 8)
        size = 9 if head is not None else 7
        # in a grid, tokens label the outer axes only (every panel has the same tokens)
        bottom, left = k + columns >= len(heads), k % columns == 0
        axes.set_xticks(range(count), labels=tokens if bottom else [], rotation=90, fontsize=size, fontproperties=font)
        axes.set_yticks(range(count), labels=tokens if left else [], fontsize=size, fontproperties=font)
        axes.tick_params(length=0)
        if head is not None:
            axes.set_xlabel("attended to (key)")
            axes.set_ylabel("attending token (query)")
    figure.colorbar(image, ax=axes_grid, shrink=0.6 if head is None else 0.8, label="attention probability")
    if title:
        figure.suptitle(title, fontproperties=font)
    return figure


def save_figure(figure: Figure, path: str | Path, dpi: int = 120) -> Path:
    """Write a figure to a file, without matplotlib's one warning per missing glyph (draw_attention
    has said it once)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font")
        figure.savefig(path, dpi=dpi)
    return Path(path)


def label_font(tokens: Sequence[str]) -> font_manager.FontProperties | None:
    """None (matplotlib's default font) when it has every character of the tokens; else a CJK
    font that has them; else None, and one MissingFontWarning."""
    characters = {c for token in tokens for c in token if not c.isspace()}
    if covers(default_font_file(), characters):
        return None
    cjk = cjk_font_file()
    if cjk is not None and covers(cjk, characters):
        return font_manager.FontProperties(fname=str(cjk))
    missing = "".join(sorted(c for c in characters if not covers(cjk or default_font_file(), {c})))
    warnings.warn(
        MissingFontWarning(
            f"no installed font has glyphs for {missing[:20]!r}: they are drawn as boxes "
            "(pip install mplfonts, or install a CJK font such as Noto Sans CJK)"
        ),
        stacklevel=3,
    )
    return None


def default_font_file() -> str:
    return font_manager.findfont(font_manager.FontProperties())


@functools.cache
def cjk_font_file() -> str | None:
    """A font file with Chinese glyphs: mplfonts' Noto Sans CJK SC when installed, else the first
    regular font matplotlib knows of that has them. Registered with matplotlib's font manager."""
    candidates = []
    for package, relative in PACKAGED_FONTS:
        spec = importlib.util.find_spec(package)  # finds the package without running its code
        for location in (spec.submodule_search_locations or []) if spec else []:
            candidates.append(str(Path(location) / relative))
    known = sorted(font_manager.fontManager.ttflist, key=lambda f: (f.style != "normal", abs(f.weight - 400), f.fname))
    candidates += [f.fname for f in known]
    for path in candidates:
        if Path(path).is_file() and covers(path, set(CJK_SAMPLE)):
            font_manager.fontManager.addfont(path)
            return path
    return None


@functools.lru_cache(maxsize=64)
def _font(path: str) -> FT2Font:
    return FT2Font(path)


def covers(path: str, characters: set[str]) -> bool:
    """Whether the font file has a glyph for every character (its character map has them)."""
    try:
        font = _font(path)
    except (OSError, RuntimeError):  # a file matplotlib listed but FreeType cannot read
        return False
    return all(font.get_char_index(ord(c)) != 0 for c in characters)
