"""The `tfhub` flavour of WordPiece: TF Hub's preprocessing (TF Text's `BertTokenizer`), id for id.

Every expected id list below is what TF Text 2.20 gave (tf-models' `BertTokenizer` layer, as TF
Hub's exporter builds it, over the bundled vocabulary), hard-coded so that these tests run
without TensorFlow; one case per rule of `bertkit/text/tfhub_normalization.py`. The same strings
keep transformers' ids in the `huggingface` flavour.
"""

import doctest
import json
import sys

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import bertkit.text.tfhub_normalization as tfhub_normalization
from bertkit.bundled import default_model_dir
from bertkit.errors import BertkitError, InputError, VocabError
from bertkit.preprocessing import Preprocessor
from bertkit.text.bert_tokenizer import BertTokenizer, TfHubBertTokenizer
from bertkit.text.loading import load_text_stages, load_tokenizer
from bertkit.text.normalization import CJK_RANGES
from bertkit.text.tfhub_normalization import PREFIX_CUT, TfHubNormalizer
from bertkit.text.vocab import read_vocab

# (text, TF Text's ids), uncased: what differs from HuggingFace's BERT tokenizer
UNCASED = {
    "NFKC: full-width comma": ("你好，世界", [100, 100, 1010, 1745, 100]),
    "NFKC: ligature": ("ﬁne", [2986]),
    "NFKC: superscript": ("x²", [1060, 2475]),
    "NFKC: ellipsis": ("wait…", [3524, 1012, 1012, 1012]),
    "NFKC: compatibility space + diaeresis, the mark stripped": ("x¨y", [1060, 1061]),
    "NFKC: no-break space is a space": ("a\xa0b", [1037, 1038]),
    "case folding: sharp s": ("Straße", [2358, 8180, 3366]),
    "case folding: final sigma": ("ς", [1173]),
    "case folding: title-case digraph": ("ǅ", [1040, 2480]),
    "case folding: dotted capital I": ("İ", [1045]),
    "default ignorable deleted": ("ab\u200bcd", [5925, 2094]),
    "format character is a space": ("foo\u0600bar", [29379, 3347]),
    "control character is a space": ("hello\x00world", [7592, 2088]),
    "line separator is a word character": ("hello\u2028world", [100]),
    "replacement character kept": ("a\ufffd", [100]),
    "private use kept": ("x\ue000", [100]),
    "100 bytes is a word": ("ж" * 50, [1186] + [29743] * 49),
    "101 bytes is [UNK]": ("ж" * 51, [100]),
    "special tokens are text": ("[SEP] [MASK]", [1031, 19802, 1033, 1031, 7308, 1033]),
    "CJK and accents as in BERT": ("中文 naïve", [1746, 1861, 15743]),
}
# where HuggingFace's tokenizer gets there too: NFKC and NFC agree, both delete the ignorable,
# the word has 50 characters, CJK ideographs and accents are treated alike; neither NFKC-normalises cased text
SAME_IN_BOTH = {
    "NFKC: no-break space is a space", "case folding: dotted capital I", "default ignorable deleted",
    "100 bytes is a word", "CJK and accents as in BERT", "no NFKC",
}  # fmt: skip
CASED = {  # the same vocabulary with lower_case=False
    "no NFKC": ("ﬁne wait…", [1984, 2638, 3524, 1529]),
    "format character is a space": ("ab\u200bcd", [11113, 3729]),
    "no-break space is a word character": ("a\xa0b", [100]),
    "101 bytes is [UNK]": ("ж" * 51, [100]),
    "special tokens are text": ("[SEP] [MASK]", [1031, 100, 1033, 1031, 100, 1033]),
}


@pytest.fixture(scope="module")
def vocab():
    return read_vocab(default_model_dir() / "vocab.txt")


def test_docstring_examples():
    assert doctest.testmod(tfhub_normalization).failed == 0


@pytest.mark.parametrize("rule", UNCASED)
def test_uncased_ids_are_tf_texts(vocab, rule):
    text, ids = UNCASED[rule]
    assert BertTokenizer.from_vocab(vocab, lowercase=True, flavor="tfhub").encode(text) == ids


@pytest.mark.parametrize("rule", CASED)
def test_cased_ids_are_tf_texts(vocab, rule):
    text, ids = CASED[rule]
    assert BertTokenizer.from_vocab(vocab, lowercase=False, flavor="tfhub").encode(text) == ids


def test_cased_text_is_not_even_nfc_normalised():
    tokens = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]", "e", "é", "##\u0301", "caf", "##e", "##é"]
    vocab = {t: i for i, t in enumerate(tokens)}
    cased = BertTokenizer.from_vocab(vocab, lowercase=False, flavor="tfhub")
    uncased = BertTokenizer.from_vocab(vocab, lowercase=True, flavor="tfhub")
    assert [cased.encode("café"), cased.encode("cafe\u0301")] == [[8, 10], [8, 9, 7]]  # TF Text's ids
    assert [uncased.encode("café"), uncased.encode("cafe\u0301")] == [[8, 9], [8, 9]]


@pytest.mark.parametrize("lowercase", [True, False], ids=["uncased", "cased"])
def test_the_same_strings_keep_transformers_ids_in_the_huggingface_flavour(tmp_path, lowercase):
    transformers = pytest.importorskip("transformers")
    directory = tmp_path / "model"
    directory.mkdir()
    (directory / "vocab.txt").write_bytes((default_model_dir() / "vocab.txt").read_bytes())
    (directory / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": lowercase}))
    reference = transformers.BertTokenizerLegacy.from_pretrained(directory)
    ours = load_tokenizer(directory)
    assert ours.flavor == "huggingface"
    for rule, (text, tfhub_ids) in (UNCASED if lowercase else CASED).items():
        expected = reference.encode(text, add_special_tokens=False)
        assert ours.encode(text) == expected, rule
        assert (expected == tfhub_ids) == (rule in SAME_IN_BOTH), rule


def write_model_dir(directory, tokens, **config):
    directory.mkdir()
    (directory / "vocab.txt").write_text("\n".join(tokens) + "\n", encoding="utf-8")
    (directory / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return directory


def test_flavor_from_tokenizer_config_and_explicit_flavor_wins(tmp_path, vocab):
    tfhub_dir = write_model_dir(tmp_path / "tfhub", list(vocab), do_lower_case=True, bertkit_flavor="tfhub")
    assert load_tokenizer(tfhub_dir).flavor == "tfhub"
    assert isinstance(load_tokenizer(tfhub_dir), TfHubBertTokenizer)
    assert load_tokenizer(tfhub_dir, flavor="huggingface").flavor == "huggingface"
    assert load_tokenizer(default_model_dir()).flavor == "huggingface"  # no key: HuggingFace's
    pre = Preprocessor.from_pretrained(tfhub_dir, seq_length=8)
    assert pre.tokenizer.flavor == "tfhub"
    assert pre(["[MASK]"])["input_word_ids"][0].tolist() == [101, 1031, 7308, 1033, 102, 0, 0, 0]
    hf = Preprocessor.from_pretrained(seq_length=8)
    assert hf(["[MASK]"])["input_word_ids"][0].tolist() == [101, 103, 102, 0, 0, 0, 0, 0]
    tok = Preprocessor.from_pretrained(flavor="tfhub").tokenizer
    assert tok.flavor == "tfhub" and tok.encode("Straße") == [2358, 8180, 3366]


def test_unknown_flavor_is_one_clear_error(tmp_path):
    with pytest.raises(InputError, match="unknown tokenizer flavor 'tf-hub'; expected one of 'huggingface', 'tfhub'"):
        Preprocessor.from_pretrained(flavor="tf-hub")
    with pytest.raises(InputError):
        BertTokenizer.from_vocab({"[UNK]": 0}, flavor="HuggingFace")
    bad = write_model_dir(tmp_path / "bad", ["[UNK]", "[CLS]", "[SEP]", "[PAD]"], bertkit_flavor="tf")
    with pytest.raises(VocabError, match=r"tokenizer_config\.json: 'bertkit_flavor' must be one of") as error:
        load_tokenizer(bad)
    assert "\n" not in str(error.value)


def test_a_bpe_model_has_no_tfhub_flavor(tmp_path):
    (tmp_path / "vocab.json").write_text("{}")
    (tmp_path / "merges.txt").write_text("#version: 0.2\n")
    with pytest.raises(VocabError, match="byte-level BPE") as error:
        load_text_stages(tmp_path, flavor="tfhub")
    assert isinstance(error.value, BertkitError) and "\n" not in str(error.value)


def test_from_vocab_checks_the_special_tokens():
    with pytest.raises(VocabError, match="the vocabulary has no cls_token '\\[CLS\\]'"):
        BertTokenizer.from_vocab({"[UNK]": 0, "[SEP]": 1, "[PAD]": 2}, flavor="tfhub")


# -- chunks and cuts: where the tokenizer may split a text without changing its ids ---------

# The characters that make a word boundary depend on context: spaces of every kind, controls,
# default ignorables and format characters, punctuation, ideographs, combining marks (NFKC
# composes "=" + U+0338 into "≠"), compatibility characters, case folding, a special token.
TRICKY = [
    "x", "y", "X", "Σ", "ß", "ﬁ", "é", "e", "\u0301", "\u0338", "=", "<", ".", "'", "…", "，", "²", "¨", " ", "  ",
    "\t", "\n", "\x0b", "\x1c", "\x85", "\x00", "\x7f", "\xa0", "\u1680", "\u2009", "\u2028", "\u3000", "\u200b",
    "\u00ad", "\u0600", "\ufeff", "\ufffd", "\ue000", "博", "\uf900", "\u1100", "\u1161", "가", "\u0345", "İ",
    "[MASK]", "\ud800",
]  # fmt: skip
texts = st.lists(st.sampled_from(TRICKY) | st.characters(), max_size=40).map("".join)


@pytest.mark.parametrize("lowercase", [True, False], ids=["uncased", "cased"])
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=texts)
@example(text="a=\u0338b x\u2028y\xa0z")
def test_words_are_context_free_across_chunks_and_cuts(lowercase, text):
    normalizer = TfHubNormalizer(lowercase)
    words = normalizer.words(text)
    assert [w for chunk in normalizer.split_chunks(text) for w in normalizer.words(chunk)] == words
    for cut in PREFIX_CUT.finditer(text):
        assert normalizer.words(text[: cut.start()]) + normalizer.words(text[cut.start() :]) == words


@pytest.mark.parametrize("lowercase", [True, False], ids=["uncased", "cased"])
def test_every_cut_character_starts_a_word_whatever_precedes_it(lowercase):
    normalizer = TfHubNormalizer(lowercase)
    cuts = [chr(c) for lo, hi in CJK_RANGES for c in range(lo, hi + 1)] + [chr(c) for c in range(128)]
    cuts = [c for c in cuts if PREFIX_CUT.fullmatch(c)]
    assert len(cuts) > 80_000
    for before in ("x", "\u1100", "e\u0301", "=", "\u200b"):  # a letter, a jamo, a mark, a symbol, an ignorable
        for c in cuts:
            assert normalizer.words(before + c + "y") == normalizer.words(before) + normalizer.words(c + "y")


@pytest.mark.parametrize("lowercase", [True, False], ids=["uncased", "cased"])
def test_chunks_split_only_where_tf_text_splits_words(lowercase):
    normalizer = TfHubNormalizer(lowercase)
    for c in map(chr, range(sys.maxunicode + 1)):
        if len(normalizer.split_chunks(f"a{c}b")) == 2:
            assert normalizer.words(f"a{c}b") == ["a", "b"], f"U+{ord(c):04X}"


SMALL_VOCAB = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]", "x", "##x", "y", "##y", "xy", "博", "##博", "σ", "##σ"]
SMALL_VOCAB += [".", "'", "=", "ss", "##ss", "fi", "##fi", "[", "]", "mask", "e", "##e", "##\u0301", "…", ","]


@pytest.fixture(scope="module", params=[True, False], ids=["uncased", "cased"])
def small_tok(request):
    return BertTokenizer.from_vocab({t: i for i, t in enumerate(SMALL_VOCAB)}, request.param, flavor="tfhub")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    head=st.lists(st.sampled_from(TRICKY), max_size=120).map("".join),
    unit=st.lists(st.sampled_from(TRICKY), min_size=1, max_size=12).map("".join),
)
@example(head="x" * 80 + "=\u0338", unit="x ")
@example(head="", unit="x" * 60 + "博 ")
def test_max_tokens_is_a_prefix_of_the_full_encoding(small_tok, head, unit):
    text = head + unit * (2000 // len(unit) + 1)  # longer than 16 * 64 + 256: the shortcut runs
    full = small_tok.encode(text)
    for max_tokens in (1, 3, 16, 64):
        assert small_tok.encode(text, max_tokens=max_tokens) == full[:max_tokens], max_tokens


def test_a_long_text_without_spaces_is_cut_early(vocab):
    tok = BertTokenizer.from_vocab(vocab, flavor="tfhub")
    looked_at = []
    encode_chunk = tok._encode_chunk
    tok._cache._encode_chunk = lambda chunk: looked_at.append(len(chunk)) or encode_chunk(chunk)
    text = "我们的模型把每个汉字当作一个词。" * 50_000
    assert tok.encode(text, max_tokens=126) == tok.encode(text[:1000])[:126]
    assert sum(looked_at) < 20_000  # not the whole 800,000 characters
