"""Long texts read whole: token windows, `embed(long="chunk")` and `embed_chunks`.

The windows cover every token, neighbours share exactly `stride` tokens (the last one may share
more, to end at the text's end), a text that fits is one window whose vector is `embed`'s, a
document's vector is the token-weighted mean of its windows, and each window's character span
cuts the original text at its first and last token.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import bertkit
from bertkit.errors import InputError, TruncationWarning
from bertkit.tasks.chunking import check_window, token_windows
from tests.corpora import license_texts, po_strings


@pytest.fixture(scope="module")
def model():
    return bertkit.load()  # all-MiniLM-L6-v2: mean pooling, normalised, 256 tokens


@pytest.fixture(scope="module")
def documents():
    """Licences, each cut to 3,000 characters (two or three windows), and short texts."""
    long = [text[:3000] for text in license_texts()[:6]]
    short = [s for s in po_strings() if 20 < len(s) < 200][:12]
    return long + short


@given(n=st.integers(0, 3000), window=st.integers(1, 300), stride=st.integers(0, 299))
def test_windows_cover_every_token_overlapping_by_stride(n, window, stride):
    if window <= stride:
        with pytest.raises(InputError, match="must be longer than stride"):
            check_window(window, stride)
        return
    found = token_windows(n, window, stride)
    if n == 0:
        assert found == []
        return
    assert found[0][0] == 0 and found[-1][1] == n
    assert all(0 < end - start <= window for start, end in found)
    assert all(end - start == window for start, end in found) or len(found) == 1
    for (start, end), (next_start, next_end) in zip(found, found[1:]):
        assert next_start > start and next_end > end  # moving forward
        overlap = end - next_start
        assert overlap == stride or (next_end == n and overlap >= stride)
    assert len(found) == 1 or found[-2][1] < n  # no window past the one that reaches the end


def test_bad_windows_get_one_clear_line(model):
    with pytest.raises(InputError, match=r"window \(8 tokens\) must be longer than stride \(8"):
        model.embed_windows(["some text"], window=8, stride=8)
    with pytest.raises(InputError, match="window must be at most 254 tokens"):
        model.embed_windows(["some text"], window=300)
    with pytest.raises(InputError, match="text 1 is empty"):
        model.embed_windows(["some text", " \t"])
    with pytest.raises(InputError, match="text 0 is empty"):
        model.embed([""], long="chunk")
    with pytest.raises(InputError, match="stride must be 0 or more"):
        model.embed(["text"], long="chunk", stride=-1)
    with pytest.raises(InputError, match="unknown long='split'"):
        model.embed(["text"], long="split")


def test_a_text_that_fits_gets_the_same_vector_whatever_long_says(model, documents):
    short = documents[6:]
    truncated = model.embed(short)
    np.testing.assert_allclose(model.embed(short, long="chunk"), truncated, atol=1e-6)
    chunks = model.embed_windows(short)
    assert chunks.text_index.tolist() == list(range(len(short)))
    np.testing.assert_allclose(chunks.vectors, truncated, atol=1e-6)


def test_embed_chunks_gives_each_text_its_windows_start_end_and_vector(model, documents):
    texts = documents[:2] + documents[6:8]
    windows = model.embed_windows(texts, window=120, stride=24)
    per_text = model.embed_chunks(texts, window=120, stride=24)
    assert [len(entries) for entries in per_text] == np.bincount(windows.text_index).tolist()
    flat = [entry for entries in per_text for entry in entries]
    assert [[start, end] for start, end, _ in flat] == windows.spans.tolist()
    np.testing.assert_array_equal(np.stack([vector for _, _, vector in flat]), windows.vectors)
    short = texts[2]
    assert len(per_text[2]) == 1  # a short text: one window, from its first character to its last
    assert per_text[2][0][:2] == (len(short) - len(short.lstrip()), len(short.rstrip()))


def test_the_document_vector_is_the_token_weighted_mean_of_its_windows(model, documents):
    chunks = model.embed_windows(documents)
    assert np.bincount(chunks.text_index)[:6].min() >= 2  # the licences take several windows
    weights = chunks.token_spans[:, 1] - chunks.token_spans[:, 0]
    expected = np.stack(
        [
            np.average(chunks.vectors[chunks.text_index == i], axis=0, weights=weights[chunks.text_index == i])
            for i in range(len(documents))
        ]
    )
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)  # the model normalises
    np.testing.assert_allclose(model.embed(documents, long="chunk"), expected, atol=1e-5)


def test_window_vectors_are_the_vectors_of_their_tokens(model, documents):
    """Each window embedded alone (as ids packed with [CLS] / [SEP]) gives its vector in the batch."""
    chunks = model.embed_windows(documents[:2], window=100, stride=20)
    ids = model.preprocessor.tokenize(documents[:2])
    rows = [ids[i][start:end] for i, (start, end) in zip(chunks.text_index, chunks.token_spans)]
    assert all(len(row) <= 100 for row in rows)
    inputs = model.preprocessor.pack_inputs([rows], seq_length=102, padding="longest")
    states = model.encoder(inputs)["sequence_output"]
    mask = inputs["input_mask"].unsqueeze(-1).float()
    mean = (states * mask).sum(1) / mask.sum(1)
    mean = (mean / mean.norm(dim=-1, keepdim=True)).detach().numpy()
    np.testing.assert_allclose(chunks.vectors, mean, atol=1e-5)


def test_character_spans_cut_the_original_text_at_the_window_tokens(model, documents):
    texts = [*documents, "Ünïcödé TEXT with ACCENTS\u00a0and\tcontrol\x00chars " * 40, "中文文本，没有空格。" * 60]
    chunks = model.embed_windows(texts, window=50, stride=10)
    tokenized = model.preprocessor.tokenize(texts, offsets=True)
    for i, (start, end) in enumerate(chunks.spans):
        ids, offsets = tokenized[chunks.text_index[i]]
        first, last = chunks.token_spans[i]
        assert (start, end) == (offsets[first][0], offsets[last - 1][1])
        piece = chunks.text(i, texts)
        assert piece and piece == piece.strip()  # a window starts and ends on a token, never on a space
    for t in range(len(texts)):  # the first window starts at the first token, the last ends at the last
        mine = chunks.spans[chunks.text_index == t]
        ids, offsets = tokenized[t]
        assert mine[0, 0] == offsets[0][0] and mine[-1, 1] == offsets[-1][1]
        assert (np.diff(mine[:, 0]) > 0).all()


def test_truncation_warns_exactly_when_texts_are_cut(model, documents):
    lengths = [len(ids) + 2 for ids in model.preprocessor.tokenize(documents)]
    over = sum(length > 256 for length in lengths)
    assert over == 6
    with pytest.warns(TruncationWarning, match=f"{over} of {len(documents)} texts are longer"):
        model.embed(documents)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.embed(documents[6:])  # all fit
        model.embed(documents, long="chunk")  # nothing cut
        model.embed_windows(documents)


def test_a_chunk_finds_its_own_document(model):
    """A window of one of eight different licences (their first 3,000 characters; windows of 64
    tokens), as a query, ranks its own licence first among the chunked document vectors, far
    more often than among vectors of their first 256 tokens.
    benchmarks/chunk_retrieval.py measures whole documents, near-duplicates (GPL-2 / GPL-3) included."""
    wanted = ("Apache License", "Artistic License", "Regents of the University", "CC0 1.0", "Version 1.3, 3 November 2008",
              "GNU GENERAL PUBLIC LICENSE\n                       Version 3", "Version 2.1, February 1999", "Mozilla Public License Version 2.0")  # fmt: skip
    texts = [next(t for t in license_texts() if marker in t)[:3000] for marker in wanted]
    chunks = model.embed_windows(texts, window=64, stride=8)
    recall = {}
    for long in ("chunk", "truncate"):
        documents = model.embed(texts, long=long, stride=8)
        recall[long] = float(((chunks.vectors @ documents.T).argmax(axis=1) == chunks.text_index).mean())
    assert len(chunks) > 60
    assert recall["chunk"] >= 0.85 and recall["chunk"] > recall["truncate"] + 0.1  # measured: 0.878 and 0.683


def test_the_embed_command_chunks_long_lines(model, documents, tmp_path, capsys):
    from bertkit.cli import main

    source = tmp_path / "lines.txt"
    lines = [" ".join(text.split()) for text in documents[:3]]  # one line each
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    args = ["embed", "--input", str(source), "--no-progress", "--precision", "fp32", "--long", "chunk"]
    assert main([*args, "--stride", "16", "--output", str(tmp_path / "v.npy")]) == 0
    assert "warning" not in capsys.readouterr().err  # nothing cut
    np.testing.assert_allclose(np.load(tmp_path / "v.npy"), model.embed(lines, long="chunk", stride=16), atol=1e-5)
    assert main([*args, "--stride", "300", "--output", str(tmp_path / "w.npy")]) == 1
    assert "must be longer than stride (300" in capsys.readouterr().err
