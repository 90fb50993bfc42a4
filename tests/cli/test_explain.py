"""`bertkit explain`: the TF Hub notebook's 输出结果解读 as a command, in English and Chinese.

The ids are the notebook's (its input_word_ids cell for "This is a spam mail"; the second
sentence's as tests/cli/test_preprocess_command.py has them), each beside its token, type id
and mask; every output's shape is the bundled model's.
"""

from __future__ import annotations

import re

import pytest

from bertkit.cli import main
from bertkit.cli.explain import locale_language

SENTENCES = ["This is a spam mail", "Computers are not unique to computers"]
NOTEBOOK_IDS = [
    [101, 2023, 2003, 1037, 12403, 2213, 5653, 102],
    [101, 7588, 2024, 2025, 4310, 2000, 7588, 102],
]
TOKENS = [
    ["[CLS]", "this", "is", "a", "spa", "##m", "mail", "[SEP]"],
    ["[CLS]", "computers", "are", "not", "unique", "to", "computers", "[SEP]"],
]
ROW = re.compile(r"^\s+(\d+)\s+(\S+)\s+(\d+)\s+([01])\s+([01])$")  # position, token, id, type id, mask


def explain(capsys, *argv) -> str:
    assert main(["explain", *argv]) == 0
    return capsys.readouterr().out


def token_rows(out: str) -> list[list[tuple]]:
    """The per-token rows of each text's table, as (position, token, id, type id, mask)."""
    tables, rows = [], None
    for line in out.splitlines():
        match = ROW.match(line)
        if match:
            rows = rows if rows is not None else []
            rows.append((int(match[1]), match[2], int(match[3]), int(match[4]), int(match[5])))
        elif rows is not None:
            tables.append(rows)
            rows = None
    return tables


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_each_token_with_the_notebooks_ids_type_ids_and_mask(capsys, lang):
    out = explain(capsys, *SENTENCES, "--lang", lang)
    tables = token_rows(out)
    assert len(tables) == 2
    for rows, ids, tokens in zip(tables, NOTEBOOK_IDS, TOKENS):
        assert [r[0] for r in rows] == list(range(8))
        assert [r[1] for r in rows] == tokens
        assert [r[2] for r in rows] == ids
        assert {r[3] for r in rows} == {0} and {r[4] for r in rows} == {1}
    padding = [line.split() for line in out.splitlines() if line.strip().startswith("8-127")]
    assert [row[:5] for row in padding] == [["8-127", "[PAD]", "0", "0", "0"]] * 2


def test_english_shapes_and_what_each_output_means(capsys):
    out = explain(capsys, *SENTENCES, "--lang", "en")
    assert "== Preprocessing: three input arrays, each of shape (2, 128) ==" in out
    assert "the first 8 tokens are real (mask 1), the 120 after them are padding (mask 0)" in out
    assert re.search(r"sequence_output \(2, 128, 384\) +a context-aware vector for each input token", out)
    assert re.search(r"pooled_output +\(2, 384\) +one vector for the whole text", out)
    assert re.search(r"default +\(2, 384\) +the same as pooled_output", out)
    assert re.search(r"encoder_outputs 6 x \(2, 128, 384\) +the output of each of the 6 encoder layers", out)
    assert (
        "1. 2: the batch size" in out and "2. 128: the sequence length" in out and "3. 384: the model's hidden" in out
    )
    assert not re.search(r"[\u4e00-\u9fff]", out)


def test_chinese_reads_as_the_notebook(capsys):
    out = explain(capsys, *SENTENCES, "--lang", "zh")
    assert "前面 8 个词是有效词（掩码为 1），后面的 120 个都是填充（掩码为 0）" in out
    assert "对于单句输入，每个位置的值都为 0" in out  # the notebook's words on input_type_ids
    assert re.search(r"sequence_output \(2, 128, 384\) +每个输入词的上下文感知表示", out)
    assert re.search(r"pooled_output +\(2, 384\) +句子的全局表示", out)
    assert re.search(r"encoder_outputs 6 个 \(2, 128, 384\) +每一层编码器的输出", out)
    assert "1. 2：表示输入的批次大小" in out and "3. 384：表示模型的隐藏层大小" in out
    assert "可以这么理解" in out
    assert "the batch size" not in out


def test_pairs_have_type_id_1_on_the_second_segment(capsys):
    out = explain(capsys, "Is this spam?", "--pair", "No, it is not.", "--seq-length", "16", "--lang", "en")
    (rows,) = token_rows(out)
    assert [r[1] for r in rows] == ["[CLS]", "is", "this", "spa", "##m", "?", "[SEP]", "no", ",", "it", "is",
                                    "not", ".", "[SEP]"]  # fmt: skip
    assert [r[3] for r in rows] == [0] * 7 + [1] * 7
    assert "14-15  [PAD]" in out and "(2 padding positions)" in out
    assert "1. 1: the batch size, the number of text pairs that went in" in out


def test_a_text_cut_to_fit_says_so(capsys):
    out = explain(capsys, "one two three four five six seven", "--seq-length", "6", "--lang", "en")
    assert "longer than 6 tokens: cut to fit" in out
    assert "cut to fit" not in explain(capsys, "one two three four", "--seq-length", "6", "--lang", "en")


@pytest.mark.parametrize(
    "environ, lang",
    [
        ({"LANG": "zh_CN.UTF-8"}, "zh"),
        ({"LANG": "zh_TW.UTF-8"}, "zh"),
        ({"LC_ALL": "en_US.UTF-8", "LANG": "zh_CN.UTF-8"}, "en"),
        ({"LC_ALL": "zh_CN.UTF-8", "LANG": "C"}, "zh"),
        ({"LC_MESSAGES": "zh_CN.UTF-8", "LANG": "en_GB.UTF-8"}, "zh"),
        ({"LC_ALL": "", "LANG": "zh_SG.UTF-8"}, "zh"),  # empty counts as unset, as in POSIX
        ({"LANG": "C.UTF-8"}, "en"),
        ({}, "en"),
    ],
)
def test_language_from_the_locale(environ, lang):
    assert locale_language(environ) == lang


def test_the_command_defaults_to_the_locale(capsys, monkeypatch):
    for name in ("LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    assert "批次大小" in explain(capsys, SENTENCES[0])
    assert "the batch size" in explain(capsys, SENTENCES[0], "--lang", "en")  # the flag wins
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    assert "the batch size" in explain(capsys, SENTENCES[0])


def test_errors_are_one_line_and_exit_1(capsys, tmp_path):
    for argv in (
        ["explain"],
        ["explain", "a", "b", "--pair", "c"],
        ["explain", "  "],
        ["explain", "x", "--model", str(tmp_path / "nope")],
        ["explain", "x", "--seq-length", "1"],
    ):
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert err.startswith("bertkit explain: error: ") and err.count("\n") == 1, err


def test_distilbert_has_no_token_types_and_no_pooler(capsys, tmp_path):
    """A DistilBERT model transformers wrote, with the bundled vocabulary: the lines say what differs."""
    import shutil

    import torch
    import transformers

    from bertkit.bundled import default_model_dir

    torch.manual_seed(0)
    config = transformers.DistilBertConfig(dim=32, n_layers=2, n_heads=4, hidden_dim=64, max_position_embeddings=128)
    transformers.DistilBertModel(config).save_pretrained(tmp_path)
    for name in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copyfile(default_model_dir() / name, tmp_path / name)
    out = explain(capsys, *SENTENCES, "--model", str(tmp_path), "--lang", "en")
    assert [[r[2] for r in rows] for rows in token_rows(out)] == NOTEBOOK_IDS
    assert "this model has no token types (DistilBERT)" in out
    assert re.search(r"pooled_output +\(2, 32\) +one vector for the whole text: the first token's \(\[CLS\]\) final "
                     r"vector as it is \(DistilBERT has no pooler\)", out)  # fmt: skip
    assert "encoder_outputs 2 x (2, 128, 32)" in out
    zh = explain(capsys, *SENTENCES, "--model", str(tmp_path), "--lang", "zh")
    assert "DistilBERT 没有池化层" in zh and "这个模型没有句子类型" in zh
