"""Readers of labelled data: formats, columns, and every bad input a user brings."""

from __future__ import annotations

import json

import pytest

from bertkit.data.labeled import read_conll, read_table, read_texts, split
from bertkit.errors import InputError


def test_csv_tsv_and_jsonl_give_the_same_rows(tmp_path):
    (tmp_path / "a.csv").write_text('text,label\n"Hello, world",greeting\nbye,farewell\n', encoding="utf-8")
    (tmp_path / "a.tsv").write_text('label\ttext\ngreeting\t"Hello, world"\nfarewell\tbye\n', encoding="utf-8")
    (tmp_path / "a.jsonl").write_text(
        "\n".join(
            json.dumps(r) for r in [{"text": "Hello, world", "label": "greeting"}, {"text": "bye", "label": "farewell"}]
        ),
        encoding="utf-8",
    )
    for name in ("a.csv", "a.tsv", "a.jsonl"):
        data = read_table(tmp_path / name)
        assert (data.texts, data.labels, data.dropped) == (["Hello, world", "bye"], ["greeting", "farewell"], {})


def test_headerless_file_pairs_multi_label_and_a_byte_order_mark(tmp_path):
    (tmp_path / "spam.tsv").write_text("ham\tsee you\nspam\tfree prize\n", encoding="utf-8")
    data = read_table(tmp_path / "spam.tsv", columns=["label", "text"])
    assert data.labels == ["ham", "spam"]
    (tmp_path / "pairs.csv").write_text("\ufeffq,a,label\nis it?,yes,1\n", encoding="utf-8")
    pairs = read_table(tmp_path / "pairs.csv", text_column="q", text_pair_column="a")
    assert (pairs.texts, pairs.texts_b, pairs.labels) == (["is it?"], ["yes"], ["1"])
    (tmp_path / "multi.jsonl").write_text('{"text": "x", "label": ["a", "b"]}\n{"text": "y", "label": 3}\n')
    assert read_table(tmp_path / "multi.jsonl").labels == [["a", "b"], "3"]
    (tmp_path / "multi.csv").write_text("text,label\nx,a|b\ny,b\n")
    assert read_table(tmp_path / "multi.csv", label_separator="|").labels == [["a", "b"], ["b"]]


def test_missing_columns_name_the_columns_found(tmp_path):
    (tmp_path / "t.csv").write_text("sentence,category\nhi,x\n")
    with pytest.raises(
        InputError, match=r"no column 'text'; the file has columns: sentence, category; choose one with --text-column"
    ):
        read_table(tmp_path / "t.csv")
    with pytest.raises(InputError, match=r"no column 'label'.*--label-column"):
        read_table(tmp_path / "t.csv", text_column="sentence")
    (tmp_path / "t.jsonl").write_text('{"body": "hi", "label": "x"}\n')
    with pytest.raises(InputError, match=r"no column 'text'; the file has columns: body, label"):
        read_table(tmp_path / "t.jsonl")


def test_empty_files_and_files_with_only_a_header(tmp_path):
    for name, content in [("e.csv", ""), ("blank.csv", "\n\n"), ("e.conll", ""), ("e.jsonl", "  \n")]:
        (tmp_path / name).write_text(content)
        reader = read_conll if name.endswith(".conll") else read_table
        with pytest.raises(InputError, match="the file is empty"):
            reader(tmp_path / name)
    (tmp_path / "h.csv").write_text("text,label\n")
    with pytest.raises(InputError, match=r"has a header line \(text, label\) but no data rows"):
        read_table(tmp_path / "h.csv")


def test_rows_with_empty_text_or_no_label_are_dropped_and_counted(tmp_path):
    (tmp_path / "t.csv").write_text("text,label\ngood,a\n,a\n   ,b\nno label,\nshort row\nfine,b\n")
    data = read_table(tmp_path / "t.csv")
    assert data.texts == ["good", "fine"]
    assert data.dropped == {"empty text": 2, "no label": 2}
    (tmp_path / "none.csv").write_text("text,label\n,a\n")
    with pytest.raises(InputError, match="no usable rows \\(1 row with empty text\\)"):
        read_table(tmp_path / "none.csv")


def test_non_utf8_bytes_name_the_line_and_the_way_out(tmp_path):
    (tmp_path / "t.csv").write_bytes(b"text,label\nfine,a\ncaf\xe9 au lait,b\n")
    with pytest.raises(InputError, match=r"line 3 is not valid utf-8 \(byte 0xe9 at offset 21\).*--encoding"):
        read_table(tmp_path / "t.csv")
    assert read_table(tmp_path / "t.csv", encoding="latin-1").texts[1] == "café au lait"
    (tmp_path / "t.conll").write_bytes(b"Jos\xe9 B-PER\n")
    with pytest.raises(InputError, match="line 1 is not valid utf-8"):
        read_conll(tmp_path / "t.conll")


def test_other_bad_files(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_table(tmp_path / "missing.csv")
    (tmp_path / "t.xlsx").write_text("x")
    with pytest.raises(InputError, match=r"unknown file type \.xlsx"):
        read_table(tmp_path / "t.xlsx")
    (tmp_path / "t.jsonl").write_text('{"text": "a", "label": "b"}\n{"text": "a",\n')
    with pytest.raises(InputError, match="line 2 is not JSON"):
        read_table(tmp_path / "t.jsonl")
    (tmp_path / "t.conll").write_text("EU B-ORG\nrejects\n")
    with pytest.raises(InputError, match="line 2 has one column"):
        read_conll(tmp_path / "t.conll")


def test_conll_sentences_docstart_and_middle_columns(tmp_path):
    (tmp_path / "t.conll").write_text(
        "-DOCSTART- -X- O O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\n\nPeter NNP B-NP B-PER\n"
    )
    data = read_conll(tmp_path / "t.conll")
    assert data.words == [["EU", "rejects"], ["Peter"]]
    assert data.tags == [["B-ORG", "O"], ["B-PER"]]
    (tmp_path / "tabs.conll").write_text("東京\t名詞\tB-LOC\n\u3000\t記号\tO\nNew York\tNNP\tB-LOC\n")
    assert read_conll(tmp_path / "tabs.conll").words == [["東京", "\u3000", "New York"]]


def test_texts_to_predict_from_lines_or_a_table(tmp_path):
    (tmp_path / "t.txt").write_text("one\n\nthree\n")
    assert read_texts(tmp_path / "t.txt") == (["one", "", "three"], None)
    (tmp_path / "t.csv").write_text("q,a\nx,y\n")
    assert read_texts(tmp_path / "t.csv", "q", "a") == (["x"], ["y"])


def test_split_is_seeded_and_disjoint(tmp_path):
    (tmp_path / "t.csv").write_text("text,label\n" + "".join(f"t{i},l{i % 2}\n" for i in range(20)))
    data = read_table(tmp_path / "t.csv")
    train, held = split(data, 0.25, seed=1)
    assert (len(train), len(held)) == (15, 5)
    assert set(train.texts).isdisjoint(held.texts)
    assert split(data, 0.25, seed=1)[1].texts == held.texts
