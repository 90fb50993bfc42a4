"""bertkit/retrieval and `bertkit index` / `bertkit search`: a folder of real documents made
searchable, every window's span pointing at the characters it was made of."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import bertkit
from bertkit.cli import main
from bertkit.errors import CheckpointError, InputError
from bertkit.retrieval import Index, build_index, read_documents
from bertkit.tasks.chunking import Chunks
from tests.corpora import license_texts

NAMES = ("first.txt", "second.md", "third", "more/fourth.rst")


@pytest.fixture(scope="module")
def model():
    return bertkit.load()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Four real licences (their first 3,000 characters) and the files a walk must pass over."""
    root = tmp_path_factory.mktemp("docs")
    markers = ("Apache License", "Artistic License", "CC0 1.0", "Mozilla Public License Version 2.0")
    for name, marker in zip(NAMES, markers):
        (root / name).parent.mkdir(exist_ok=True)
        (root / name).write_text(next(t for t in license_texts() if marker in t)[:3000], encoding="utf-8")
    (root / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe" * 10)  # not UTF-8
    (root / "blank.txt").write_text(" \n\t\n", encoding="utf-8")
    (root / "notes.py").write_text("# read by default, left out by --suffix .md\n", encoding="utf-8")
    (root / "zz-link.txt").symlink_to(root / NAMES[0])
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def index(model, folder, tmp_path_factory):
    return build_index(model, [folder], tmp_path_factory.mktemp("index") / "licences.index")


def test_a_walk_reads_text_files_and_lists_what_it_skips(folder):
    found = read_documents([folder])
    assert [p.relative_to(folder).as_posix() for p in found.paths] == sorted([*NAMES, "notes.py"])
    assert {(p.name, why) for p, why in found.skipped} == {
        ("image.txt", "not UTF-8 text"),
        ("blank.txt", "empty"),
        ("zz-link.txt", f"the same file as {folder / NAMES[0]}"),
    }
    only = read_documents([folder], suffixes=(".md", ".rst"))
    assert [p.name for p in only.paths] == ["fourth.rst", "second.md"]  # more/fourth.rst sorts first
    with pytest.raises(InputError, match="no such file or folder"):
        read_documents([folder / "missing"])


def test_the_index_holds_every_window_with_its_span(model, folder, index):
    texts = read_documents([folder]).texts
    chunks: Chunks = model.embed_windows(texts)
    np.testing.assert_allclose(index.vectors, chunks.vectors, atol=1e-6)
    assert index.windows[:, 0].tolist() == chunks.text_index.tolist()
    assert index.windows[:, 1:].tolist() == chunks.spans.tolist()
    assert len(index.vectors) > 4 * 2  # 3,000 characters are a few windows of 254 tokens
    loaded = Index.load(index.directory)
    assert loaded.manifest == index.manifest and (np.asarray(loaded.vectors) == index.vectors).all()
    assert loaded.manifest["embedding"].startswith("pooling mean, normalised, max 256 tokens")


def test_a_sentence_finds_its_document_and_the_span_holds_it(model, folder, index):
    for d, entry in enumerate(index.documents):
        text = open(entry["path"], encoding="utf-8").read()
        lines = [line.strip() for line in text.splitlines() if len(re.findall(r"[A-Za-z]{2,}", line)) >= 8]
        if not lines:  # notes.py: one short comment
            continue
        sentence = lines[len(lines) * 2 // 3]  # from deep inside: past the first window
        best = index.search(model, sentence, top_k=3)
        assert best[0]["document"] == d, (sentence, best[0]["path"])
        assert best[0]["text"] == text[best[0]["start"] : best[0]["end"]]
        assert len({r["document"] for r in best}) == 3  # one line per document
        assert [r["score"] for r in best] == sorted((r["score"] for r in best), reverse=True)
    windows = index.search(model, "warranty", top_k=6, per_document=False)
    assert len(windows) == 6 and len({(r["document"], r["start"]) for r in windows}) == 6


def test_changed_files_and_damaged_indexes_are_said(model, index, tmp_path):
    copy = tmp_path / "copy.index"
    copy.mkdir()
    for name in ("index.json", "vectors.npy", "windows.npy"):
        (copy / name).write_bytes((index.directory / name).read_bytes())
    manifest = json.loads((copy / "index.json").read_text())
    manifest["documents"][0]["sha256"] = "0" * 64  # as if the file had changed since
    (copy / "index.json").write_text(json.dumps(manifest))
    found = Index.load(copy).search(model, "copyright", top_k=4)
    assert any(r["text"] is None for r in found) and any(r["text"] is not None for r in found)
    with pytest.raises(InputError, match="the query is empty"):
        Index.load(copy).search(model, "  ")
    (copy / "vectors.npy").write_bytes((copy / "vectors.npy").read_bytes()[:200])
    with pytest.raises(CheckpointError, match="damaged index"):
        Index.load(copy)
    with pytest.raises(InputError, match="not an index"):
        Index.load(tmp_path)


def test_the_commands_index_and_search(folder, tmp_path, capsys):
    target = tmp_path / "cli.index"
    args = ["index", str(folder), "--output", str(target), "--no-progress", "--precision", "fp32", "--suffix", ".md"]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert re.search(rf"indexed 1 documents, \d+ windows \(254 tokens, stride 32\) into {target}", out)
    assert main([*args[:-2], "--verbose"]) == 0
    out, err = capsys.readouterr()
    assert re.search(rf"indexed 5 documents, \d+ windows \(254 tokens, stride 32\) into {target}", out)
    assert "image.txt: not UTF-8 text" in err and "blank.txt: empty" in err and "zz-link.txt: the same file" in err
    assert main(["search", str(target), "Apache License", "--top-k", "2"]) == 0
    rows = capsys.readouterr().out.strip().split("\n")
    apache = next(p for p in read_documents([folder]).paths if "Apache License" in p.read_text())
    assert len(rows) == 2 and rows[0].startswith("1\t") and f"{apache.resolve()}:" in rows[0]
    assert main(["index", str(folder), "--output", str(target), "--no-progress", "--precision", "fp32"]) == 0
    assert (
        "skipped 3 files (1 empty, 1 not UTF-8 text, 1 the same file; --verbose lists them)" in capsys.readouterr().err
    )
    assert main(["search", str(tmp_path), "x"]) == 1
    assert "not an index" in capsys.readouterr().err
    assert main(["index", str(tmp_path / "nothing"), "--output", str(target)]) == 1
    assert "no such file or folder" in capsys.readouterr().err
