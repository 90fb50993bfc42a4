"""bertkit/data/corpus.py: documents from text files, long lines cut, bad files refused."""

import doctest

import pytest

import bertkit.data.corpus as corpus_module
from bertkit.data.corpus import CorpusStats, corpus_lines, read_documents
from bertkit.errors import InputError


def test_read_documents_splits_on_blank_lines_and_cuts_long_lines(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("one two\nthree\n\n\nfour\n" + "x " * 50 + "\n")
    stats = CorpusStats()
    tokenize = lambda line: [len(w) for w in line.split()]
    docs = list(read_documents([corpus], tokenize, max_sentence_tokens=20, stats=stats))
    assert docs == [[[3, 3], [5]], [[4], [1] * 20, [1] * 20, [1] * 10]]
    assert (stats.documents, stats.split_lines, stats.tokens) == (2, 1, 54)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"text\x00\x01\x02binary", "binary"),
        (b"caf\xe9 latin-1\n", "not UTF-8"),
    ],
)
def test_binary_and_non_utf8_files_are_refused(tmp_path, content, message):
    path = tmp_path / "bad.bin"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        list(read_documents([path], str.split, 10))


def test_missing_files_and_directories_are_refused(tmp_path):
    with pytest.raises(InputError, match="not found"):
        list(read_documents([tmp_path / "missing.txt"], str.split, 10))
    with pytest.raises(InputError, match="is a directory"):
        list(corpus_lines([tmp_path]))


def test_corpus_lines_reads_every_file_in_order(tmp_path):
    (tmp_path / "a.txt").write_text("one\ntwo\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("three\n", encoding="utf-8")
    assert list(corpus_lines([tmp_path / "a.txt", tmp_path / "b.txt"])) == ["one\n", "two\n", "three\n"]


def test_docstring_examples_run():
    assert doctest.testmod(corpus_module).failed == 0
