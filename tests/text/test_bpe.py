"""bertkit/text/bpe.py: the BPE model, the tokenizer's stages, its files and their errors.

Parity with transformers on real text is in tests/parity/test_bpe_parity.py; here: behaviour
on a hand-made vocabulary, long inputs, and every bad file a user may hand us, through the
Python API and through `bertkit preprocess --model DIR` (one error line, exit 1).
"""

from __future__ import annotations

import doctest
import json

import pytest

from bertkit.cli import main
from bertkit.errors import VocabError
from bertkit.preprocessing import Preprocessor
from bertkit.text import bpe
from bertkit.text.bpe import BpeTokenizer, BytePairEncoding
from bertkit.text.byte_level import BYTE_TO_SYMBOL
from bertkit.text.loading import load_text_stages
from bertkit.text.packing import PackingLayout

SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
MERGES = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("l", "o"), ("lo", "w"), ("e", "r"), ("Ġ", "low")]


def write_vocab(directory, merges=MERGES, extra=()):
    """A complete byte-level vocabulary: the specials, the 256 byte symbols, the merges."""
    tokens = SPECIALS + list(BYTE_TO_SYMBOL.values()) + ["".join(pair) for pair in merges] + list(extra)
    vocab = {token: i for i, token in enumerate(dict.fromkeys(tokens))}
    (directory / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    lines = ["#version: 0.2"] + [" ".join(pair) for pair in merges]
    (directory / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return vocab


@pytest.fixture
def tokenizer(tmp_path):
    write_vocab(tmp_path)
    return BpeTokenizer.from_directory(tmp_path)


def tokens(tokenizer, text):
    return [tokenizer.id_to_token(i) for i in tokenizer.encode(text)]


def test_docstring_examples():
    assert doctest.testmod(bpe).failed == 0


def test_merges_by_rank(tokenizer):
    assert tokens(tokenizer, "the lower tower") == ["t", "he", "Ġlow", "er", "Ġt", "o", "w", "er"]
    assert tokens(tokenizer, " the") == ["Ġthe"]  # a leading space is part of the word


def test_equal_pairs_merge_leftmost_first():
    vocab = {"a": 0, "aa": 1}
    assert BytePairEncoding(vocab, [("a", "a")]).merge("aaaaa") == ["aa", "aa", "a"]


def test_long_words_are_not_quadratic(tokenizer):
    ids = tokenizer.encode("lo" * 200_000)  # one 400k-symbol word
    assert len(ids) == 200_000 and set(ids) == {tokenizer.vocab["lo"]}


def test_mask_takes_the_space_before_it_other_specials_do_not(tokenizer):
    assert tokens(tokenizer, "the \t <mask>") == ["t", "he", "<mask>"]
    assert tokens(tokenizer, "the <s>") == ["t", "he", "Ġ", "<s>"]


def test_max_tokens_is_a_prefix(tokenizer):
    text = "the lower tower,  \n".join(str(i) for i in range(5000))
    full = tokenizer.encode(text)
    for n in (0, 1, 7, 126, 1000):
        assert tokenizer.encode(text, max_tokens=n) == full[:n]
    assert tokenizer.encode_batch(["the", text], max_tokens=3) == [tokenizer.encode("the"), full[:3]]


def test_protocol(tokenizer):
    assert tokenizer.vocab_size == len(tokenizer.vocab)
    assert [tokenizer.token_id(r) for r in ("cls_token", "sep_token", "pad_token", "mask_token")] == [0, 2, 1, 4]
    assert tokenizer.token_to_id("Ġthe") == tokenizer.vocab["Ġthe"]


def test_loader_picks_bpe_and_roberta_packing(tmp_path):
    write_vocab(tmp_path)
    tokenizer, layout = load_text_stages(tmp_path)
    assert isinstance(tokenizer, BpeTokenizer)
    assert layout == PackingLayout.roberta(cls_id=0, sep_id=2, pad_id=1)
    batch = Preprocessor.from_pretrained(tmp_path, seq_length=10)(["the"], ["low"])
    the, low = tokenizer.encode("the"), tokenizer.encode("low")
    assert batch["input_word_ids"].tolist() == [[0, *the, 2, 2, *low, 2] + [1] * (10 - 4 - len(the + low))]
    assert batch["input_type_ids"].tolist() == [[0] * 10]


def test_tokenizer_config_names_the_special_tokens(tmp_path):
    write_vocab(tmp_path, extra=["<cls>", "<sep>"])
    (tmp_path / "tokenizer_config.json").write_text(
        json.dumps({"cls_token": {"content": "<cls>"}, "sep_token": "<sep>", "add_prefix_space": True})
    )
    tokenizer = BpeTokenizer.from_directory(tmp_path)
    assert tokenizer.id_to_token(tokenizer.token_id("cls_token")) == "<cls>"
    assert tokens(tokenizer, "the") == ["Ġthe"]


# -- bad files: one clear line through the command line ------------------------------------


def one_error_line(capsys, directory) -> str:
    assert main(["preprocess", "hello", "--model", str(directory)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("bertkit preprocess: error: ") and err.count("\n") == 1
    return err


def write_config(directory):
    (directory / "config.json").write_text('{"model_type": "roberta"}')


BAD_FILES = {
    "missing merges.txt": (lambda d: (d / "merges.txt").unlink(), r"merges\.txt: file not found"),
    "missing vocab.json": (lambda d: (d / "vocab.json").unlink(), r"vocab\.json: file not found"),
    "vocab.json not JSON": (lambda d: (d / "vocab.json").write_text('{"a": 1,'), r"vocab\.json: not valid JSON"),
    "vocab.json a list": (lambda d: (d / "vocab.json").write_text("[1, 2]"), r"vocab\.json: expected a non-empty"),
    "vocab.json bad id": (lambda d: (d / "vocab.json").write_text('{"<s>": "zero"}'), r"token '<s>' has id 'zero'"),
    "vocab.json binary": (lambda d: (d / "vocab.json").write_bytes(b"\xff\xfe\x00"), r"vocab\.json: not UTF-8"),
    "merge of 3 tokens": (
        lambda d: (d / "merges.txt").write_text("#version: 0.2\nĠ t x\n"),
        r"merges\.txt line 2: expected a merge",
    ),
    "merge out of vocab": (
        lambda d: (d / "merges.txt").write_text("#version: 0.2\nq z\n"),
        r"merges\.txt line 2: merge 'q' \+ 'z' uses 'qz', which is not in the vocabulary",
    ),
    "no <pad>": (
        lambda d: [
            (d / "vocab.json").write_text(json.dumps({"<s>": 0, "</s>": 2, "a": 3})),
            (d / "merges.txt").write_text(""),
        ],
        r"no pad_token '<pad>'",
    ),
    "merges.txt a directory": (
        lambda d: [(d / "merges.txt").unlink(), (d / "merges.txt").mkdir()],
        r"merges\.txt: cannot read it \(Is a directory\)",
    ),
    "tokenizer.json not BPE": (
        lambda d: (d / "tokenizer.json").write_text('{"model": {"type": "WordLevel"}}'),
        r"tokenizer\.json: expected a byte-level BPE tokenizer",
    ),
    "tokenizer_config.json not JSON": (
        lambda d: (d / "tokenizer_config.json").write_text("{"),
        r"tokenizer_config\.json: not valid JSON",
    ),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_files_give_one_error_line(tmp_path, capsys, case):
    write_vocab(tmp_path)
    write_config(tmp_path)
    spoil, message = BAD_FILES[case]
    spoil(tmp_path)
    with pytest.raises(VocabError, match=message):
        BpeTokenizer.from_directory(tmp_path)
    assert str(tmp_path) in one_error_line(capsys, tmp_path)
