"""Our WordPiece tokenizer against HuggingFace's, id for id, on real text and random Unicode.

The oracle is transformers' Python `BertTokenizerLegacy` (the original basic tokenizer +
WordPiece): it classifies characters with the same `unicodedata` as we do. The Rust
`BertTokenizer` (tokenizers) is checked as well; its normaliser differs from the Python one in
three places, and we follow the Python one there:
- it keeps unassigned code points (category Cn in Python's Unicode 14.0: noncharacters such as
  U+FFFE, and characters assigned since), where the Python one deletes them as "other";
- it lower-cases character by character, so a final capital sigma becomes σ, not ς ("ΟΔΟΣ");
- it does not apply NFC, so in a cased model a decomposed "e + U+0301" is not the vocabulary's "é".
Texts with lone surrogates cannot be passed to the Rust tokenizer at all.
"""

import unicodedata

import corpora
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from tiny_models import wordpiece_model_dir
from transformers import BertTokenizerFast, BertTokenizerLegacy

from bertkit.text.loading import load_tokenizer


@pytest.fixture(scope="module", params=["uncased", "cased"])
def tokenizers(request, tmp_path_factory):
    directory = wordpiece_model_dir(request.param, tmp_path_factory)
    slow = BertTokenizerLegacy.from_pretrained(directory)
    fast = BertTokenizerFast.from_pretrained(directory)
    assert slow.do_lower_case == (request.param == "uncased")
    return request.param, load_tokenizer(directory), slow, fast


def real_texts() -> dict[str, list[str]]:
    """~81,000 texts; every 4th Django string keeps all 99 languages in."""
    po = corpora.po_strings()[::4]
    stdlib = corpora.stdlib_strings()[::3]
    changelogs = corpora.changelog_entries()[::2]
    return {
        "django .po, 99 languages": po,
        "python stdlib strings": stdlib,
        "debian changelogs": changelogs,
        "licenses": corpora.license_paragraphs(),
        "ANSI-colored text": corpora.ansi_colored(po[::20] + changelogs[::10]),
    }


def encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def test_real_corpora_identical_to_the_python_reference(tokenizers):
    name, ours, slow, _ = tokenizers
    report = []
    for source, texts in real_texts().items():
        assert len(texts) > 500, f"{source}: only {len(texts)} texts; is the corpus installed?"
        expected = [slow.encode(t, add_special_tokens=False) for t in texts]
        got = ours.encode_batch(texts)
        mismatches = [t for t, e, g in zip(texts, expected, got) if e != g]
        report.append(
            f"{name} {source}: {len(texts)} texts, {sum(map(len, expected))} tokens, {len(mismatches)} mismatches"
        )
        assert not mismatches, (report[-1], mismatches[:5])
    print("\n".join(report))


def known_rust_difference(text: str, cased: bool) -> bool:
    """Does the text hold one of the three things the Rust normaliser treats differently?"""
    if any(unicodedata.category(c) == "Cn" for c in text):
        return True
    if cased:
        return not unicodedata.is_normalized("NFC", text)
    return "\u03a3" in text  # capital sigma


def test_rust_reference_differs_only_where_the_references_disagree(tokenizers):
    name, ours, slow, fast = tokenizers
    texts = [t for group in real_texts().values() for t in group if encodable(t)]
    got = ours.encode_batch(texts)
    rust = fast(texts, add_special_tokens=False)["input_ids"]
    differing = [i for i, (g, r) in enumerate(zip(got, rust)) if g != r]
    for i in differing:  # each one must be a place where the two references disagree, for a known reason
        assert slow.encode(texts[i], add_special_tokens=False) == got[i] != rust[i]
        assert known_rust_difference(texts[i], cased=name == "cased"), texts[i]
    print(f"{name}: {len(texts)} texts, identical to the Rust tokenizer on {len(texts) - len(differing)}")


INTERESTING = [
    "[MASK]",
    "[CLS]",
    "[mask]",
    "\x1b[31m",
    "\x1b[0m",
    " ",
    "\t",
    "\n",
    "\u3000",
    "\xa0",
    "\u2028",
    "\x85",
    "\x1c",
    "\x00",
    "\ufffd",
    "\u200b",
    "\ud800",
    "\udfff",
    "中",
    "文",
    "の",
    "한",
    "e\u0301",
    "\u0301",
    "Σ",
    "İ",
    "ß",
    "ǅ",
    "ﬁ",
    "!",
    "'",
    "-",
    "##",
    "a" * 101,
    "😀",
    "🫠",
    "=\u0338",
    "\u0b47\u0b3e",
]
UNICODE_TEXT = st.lists(
    st.one_of(
        st.characters(codec=None),  # every code point but surrogates
        st.characters(categories=["Cc", "Cf", "Cn", "Co", "Cs", "Mn", "Mc", "Zs", "Zl", "Zp", "Pd", "Po", "Lo", "Lu"]),
        st.sampled_from(INTERESTING),
        st.sampled_from("abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ .,"),
    ),
    max_size=60,
).map("".join)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=UNICODE_TEXT)
@example(text="ΟΔΟΣ e\u0301 \ud800 a[MASK]b \x1cx\x85y\u2028z")
def test_random_unicode_identical_to_the_python_reference(tokenizers, text):
    _, ours, slow, _ = tokenizers
    assert ours.encode(text) == slow.encode(text, add_special_tokens=False)


# Mostly ASCII without spaces, with what could make a cut inside a run unsafe
RUNS_WITHOUT_SPACES = st.lists(
    st.sampled_from(
        ["a", "B", ".", "'", "=", "<", "[", "]", "[MASK]", "[SEP]", "\u0338", "\u0301", "Σ", "Α", "中", " ", "\x1c"]
    ),
    max_size=60,
).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(UNICODE_TEXT, RUNS_WITHOUT_SPACES), max_tokens=st.integers(0, 20))
def test_max_tokens_is_the_references_prefix(tokenizers, text, max_tokens):
    _, ours, slow, _ = tokenizers
    long_text = text * 40
    assert (
        ours.encode(long_text, max_tokens=max_tokens) == slow.encode(long_text, add_special_tokens=False)[:max_tokens]
    )
