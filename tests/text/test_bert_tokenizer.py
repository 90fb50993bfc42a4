import doctest
import json
import sys
import unicodedata

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import bertkit.text.bert_tokenizer as bert_tokenizer
from bertkit.bundled import default_model_dir
from bertkit.preprocessing import Preprocessor
from bertkit.text.bert_tokenizer import BertTokenizer


@pytest.fixture(scope="module")
def tok():
    return BertTokenizer.from_directory(default_model_dir())


def test_docstring_examples():
    assert doctest.testmod(bert_tokenizer).failed == 0


def test_example_sentences(tok):
    assert tok.encode("This is a spam mail") == [2023, 2003, 1037, 12403, 2213, 5653]
    assert tok.encode("Computers are not unique to computers") == [7588, 2024, 2025, 4310, 2000, 7588]


def test_special_tokens_in_text(tok):
    assert tok.encode("Paris is the [MASK] of France.")[3] == tok.token_id("mask_token")
    assert tok.token_id("cls_token") == 101 and tok.id_to_token(102) == "[SEP]"
    assert tok.vocab_size == 30522


def test_chunk_split_ignores_controls_that_python_calls_whitespace(tok):
    # \x1c-\x1f and \x85 are deleted by BERT, so they join words instead of separating them
    assert tok.encode("comp\x1cuters") == tok.encode("computers") == tok.encode("comp\x85uters")
    assert tok.encode("comp uters") != tok.encode("computers")


def test_empty_whitespace_and_control_only_texts(tok):
    assert tok.encode("") == tok.encode("   \t\n") == tok.encode("\x00\x07\u200b") == []


def test_lone_surrogates_are_dropped_like_other_category_c_characters(tok):
    assert tok.encode("spam\ud800 mail\udfff") == tok.encode("spam mail")


def test_words_returns_what_wordpiece_sees(tok):
    assert tok.words("Héllo, [MASK] 世界!") == ["hello", ",", "世", "界", "!"]


LONG_TEXTS = {
    "english": "The quick brown fox, jumping over the lazy dog. " * 20_000,
    "chinese without spaces": "我们的模型把每个汉字当作一个词。" * 20_000,
    "one huge word": "a" * 1_000_000,
    "huge word then text": "b" * 5000 + " hello world" * 10,
    "punctuation run": "a." * 500_000,
    "mixed cut points": ("Grüße, 世界! \u2028" + "x\x1c" * 30 + " [MASK] ") * 5_000,
    "base64-like blob": "QmVydGtpdCB0b2tlbml6ZXM+/=" * 40_000,
    "special tokens without spaces": "[MASK].[SEP]x" * 80_000,
    "greek final sigma across apostrophes": "ΑΣ'Α.ΟΔΟΣ'." * 5_000,
    "ascii then combining overlay": "a=b<c" * 100 + "=\u0338" + "x.y" * 100_000,
}


@pytest.mark.parametrize("name", LONG_TEXTS)
def test_max_tokens_is_exactly_a_prefix_of_the_full_encoding(tok, name):
    text = LONG_TEXTS[name]
    full = tok.encode(text)
    for max_tokens in (1, 7, 126, 510):
        assert tok.encode(text, max_tokens=max_tokens) == full[:max_tokens]


@pytest.mark.parametrize("text", ["a." * 500_000, "QmVydGtpdCB0b2tlbml6ZXM+/=" * 40_000, "[MASK].[SEP]x" * 80_000])
def test_a_1mb_run_without_whitespace_is_cut_at_ascii_symbols(tok, text):
    fresh = BertTokenizer.from_directory(default_model_dir())
    looked_at = []
    encode_chunk = fresh._encode_chunk
    fresh._cache._encode_chunk = lambda chunk: looked_at.append(len(chunk)) or encode_chunk(chunk)
    assert fresh.encode(text, max_tokens=126) == tok.encode(text[:20_000])[:126]
    assert sum(looked_at) < 20_000  # not the whole megabyte


def test_a_1mb_text_is_cut_before_tokenizing(tok):
    fresh = BertTokenizer.from_directory(default_model_dir())
    text = " ".join(f"word{i}" for i in range(150_000))  # ~1 MB, every word different
    ids = fresh.encode(text, max_tokens=126)
    assert len(ids) == 126
    assert len(fresh._cache) < 1000  # only the first few hundred words were looked at


def test_the_cache_is_bounded(tok):
    small = BertTokenizer.from_directory(default_model_dir())
    small._cache._max_size = 100
    ids = small.encode(" ".join(f"w{i}" for i in range(1000)))
    assert len(small._cache) <= 100
    assert ids == tok.encode(" ".join(f"w{i}" for i in range(1000)))


def test_a_text_that_is_only_a_special_token(tok):
    assert tok.encode("[MASK]") == [103]
    assert tok.encode("[CLS][SEP]") == [101, 102]


def test_every_control_character_python_calls_whitespace_joins_words(tok):
    for control in "\x0b\x0c\x1c\x1d\x1e\x1f\x85":
        assert tok.encode(f"comp{control}uters") == tok.encode("computers"), repr(control)


def write_vocab_dir(directory, tokens, **config):
    directory.mkdir()
    (directory / "vocab.txt").write_text("\n".join(tokens) + "\n", encoding="utf-8")
    (directory / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return directory


def test_without_cjk_spacing_a_long_text_is_not_cut_inside_a_word(tmp_path):
    # Issue #19: with CJK spacing off, "xxx…博" is one word (61 characters, no "##博" in the
    # vocabulary, so [UNK]); cutting the long text before 博 made it "xxx…", which WordPiece splits.
    tokens = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "x", "##x", "博"]
    directory = write_vocab_dir(tmp_path / "vocab", tokens, do_lower_case=True, tokenize_chinese_chars=False)
    text = ("x" * 60 + "博 ") * 50
    pre = Preprocessor.from_pretrained(directory, seq_length=8)
    words = pre.tokenize([text])[0][:6]
    assert words == [pre.tokenizer.token_id("unk_token")] * 6
    packed = pre([text])["input_word_ids"][0].tolist()
    assert packed == [pre.tokenizer.token_id("cls_token"), *words, pre.tokenizer.token_id("sep_token")]
    # transformers 5 reads tokenize_chinese_chars into both its Python tokenizer
    # (BertTokenizerLegacy) and its Rust one (BertTokenizerFast, an alias of BertTokenizer).
    transformers = pytest.importorskip("transformers")
    for reference in (transformers.BertTokenizerLegacy, transformers.BertTokenizerFast):
        assert reference.from_pretrained(directory).encode(text, add_special_tokens=False)[:6] == words, reference


# Letters, a CJK ideograph, whitespace (spaces often; no-break and ideographic ones too), ASCII
# symbols, a capital sigma (its lower case depends on what follows), a combining overlay (NFC
# turns "=" + U+0338 into the letter-like "≠"), a control that cleaning deletes, a special token.
PIECES = ["x", "y", "博", " ", " ", "\xa0", "\u3000", "\n", ".", "'", "=", "\u0338", "Σ", "\x00", "[MASK]"]
SMALL_VOCAB = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]", "x", "##x", "y", "##y", "xy", "博", "##博", "σ", "ς"]
SMALL_VOCAB += ["##σ", "##ς", ".", "'", "=", "≠"]


# Word boundaries depend on two settings: CJK spacing, and accent stripping (which takes the
# U+0338 back off "≠", leaving the punctuation "="). Lower-casing is on for the sigma.
@pytest.fixture(
    scope="module",
    params=[(c, a) for c in (True, False) for a in (True, False)],
    ids=lambda param: "cjk_chars={},strip_accents={}".format(*param),
)
def small_tok(request, tmp_path_factory):
    cjk_chars, strip_accents = request.param
    directory = tmp_path_factory.mktemp("small") / "vocab"
    config = {"do_lower_case": True, "strip_accents": strip_accents, "tokenize_chinese_chars": cjk_chars}
    tok = BertTokenizer.from_directory(write_vocab_dir(directory, SMALL_VOCAB, **config))
    assert (tok.normalizer.cjk_chars, tok.normalizer.strip_accents) == request.param
    return tok


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    head=st.lists(st.sampled_from(PIECES), max_size=120).map("".join),
    unit=st.lists(st.sampled_from(PIECES), min_size=1, max_size=12).map("".join),
)
@example(head="", unit="x" * 60 + "博 ")  # issue #19
@example(head="x" * 80 + "=\u0338", unit="x ")  # "x…x≠x" is one word ([UNK]): no cut before "="
@example(head=" " * 143 + "xΣ'x", unit=" y")  # "xσ'x" but "xς": no cut before "'" (the second prefix tried)
def test_max_tokens_is_a_prefix_of_the_full_encoding_in_every_configuration(small_tok, head, unit):
    text = head + unit * (2000 // len(unit) + 1)  # longer than 16 * 64 + 256: the shortcut runs
    full = small_tok.encode(text)
    for max_tokens in (1, 3, 16, 64):
        assert small_tok.encode(text, max_tokens=max_tokens) == full[:max_tokens], max_tokens


def test_long_texts_are_cut_at_exactly_the_whitespace_the_normaliser_splits_words_at(tok):
    # Python's whitespace and separators, and the invisible characters cleaning deletes instead.
    candidates = [
        chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace() or unicodedata.category(chr(c))[0] == "Z"
    ]
    for c in candidates + ["\u180e", "\u200b", "\u2060", "\ufeff"]:
        splits = tok.words(f"a{c}b") == ["a", "b"]
        assert bool(tok.PREFIX_CUT.fullmatch(c)) == splits, f"U+{ord(c):04X}"
