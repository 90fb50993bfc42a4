"""Our byte-level BPE against transformers' RoBERTa tokenizer, id for id.

The vocabulary is trained here, with the `tokenizers` library, on real text we did not write
(Django's translations, the Debian licenses; tests/corpora.py); then the same vocab.json + merges.txt go to
`transformers.RobertaTokenizer` (whose `<mask>` takes the space before it, as roberta-base's
does) and to ours.

Run as a script, this file prints bertkit/text/unicode_classes.py's tables afresh, measured
on the reference pre-tokenizer.
"""

from __future__ import annotations

import itertools
import sys

import pytest
from corpora import changelog_entries, license_paragraphs, po_strings, realistic_mix, stdlib_strings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import ByteLevelBPETokenizer, pre_tokenizers
from transformers import AddedToken, RobertaTokenizer

from bertkit.preprocessing import Preprocessor
from bertkit.text.bpe import BpeTokenizer
from bertkit.text.byte_level import ByteLevelPreTokenizer, to_symbols

SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
EDGE_CASES = [
    "",
    " ",
    "   leading spaces",
    "trailing spaces   ",
    "a\n\nb  \n c\r\n\td",
    "\n\n\nnewlines first",
    "Hello world! It's 3.14, isn't it? We'll see; they'd've done it.",
    "DON'T SHOUT, Y'ALL 'S 'T 'RE 'VE 'M 'LL 'D",
    "emoji 😀😀 🎉x 👩‍👩‍👧 🇫🇷 ❤️",
    "日本語のテキスト、中文文本。한국어 텍스트",
    "Ελληνικά, русский, עברית, العربية, हिन्दी",
    "café naïve Ångström ﬁ ½ ² ⅷ ٣",
    "control \x00\x01\x1b[31mred\x1b[0m \x7f \x1c\x1d\x1e\x1f \x85 \xa0 \u2028 \u3000 end",
    "The capital of France is <mask>.",
    "<mask> at the start, and <mask><mask> twice,   <mask>after spaces\n<mask>",
    "hello<mask>world",
    "<s>specials</s> <pad> in <unk> text <s>",
    "almost special: <mask <s </s <ma sk>",
    "x" * 300 + " " + "y" * 1000,
]


@pytest.fixture(scope="module")
def vocab_dir(tmp_path_factory):
    corpus = tmp_path_factory.mktemp("corpus") / "train.txt"
    corpus.write_text("\n".join(po_strings()[::3] + license_paragraphs()), encoding="utf-8")
    trainer = ByteLevelBPETokenizer()
    trainer.train([str(corpus)], vocab_size=6000, min_frequency=2, special_tokens=SPECIALS, show_progress=False)
    directory = tmp_path_factory.mktemp("roberta_vocab")
    trainer.save_model(str(directory))
    return directory


def reference(directory, **kwargs) -> RobertaTokenizer:
    mask = AddedToken("<mask>", lstrip=True, rstrip=False, normalized=False, special=True)
    return RobertaTokenizer.from_pretrained(str(directory), mask_token=mask, **kwargs)


@pytest.fixture(scope="module")
def tokenizers(vocab_dir):
    return BpeTokenizer.from_directory(vocab_dir), reference(vocab_dir)


def assert_same_ids(ours: BpeTokenizer, ref: RobertaTokenizer, texts: list[str]) -> None:
    expected = ref(texts, add_special_tokens=False)["input_ids"]
    mismatches = [(t, e) for t, e in zip(texts, expected) if ours.encode(t) != e]
    assert not mismatches, (
        f"{len(mismatches)} of {len(texts)} texts differ, first: {mismatches[0][0][:200]!r}\n"
        f"ours {ours.encode(mismatches[0][0])[:40]}\nref  {mismatches[0][1][:40]}"
    )


def utf8(texts: list[str]) -> list[str]:
    """The texts the reference can take: Python's own sources hold lone surrogates."""
    return [t for t in texts if not any(0xD800 <= ord(c) < 0xE000 for c in t)]


def test_real_text_in_many_languages(tokenizers):
    ours, ref = tokenizers
    texts = po_strings() + license_paragraphs() + changelog_entries()
    assert len(texts) > 100_000
    assert_same_ids(ours, ref, texts)


def test_python_sources_strings(tokenizers):
    """Comments, docstrings and literals of the stdlib: every script, escapes, control codes."""
    ours, ref = tokenizers
    texts = utf8(stdlib_strings())
    assert len(texts) > 50_000
    assert_same_ids(ours, ref, texts)


def test_edge_cases(tokenizers):
    ours, ref = tokenizers
    assert_same_ids(ours, ref, EDGE_CASES)


def test_pairs_packed_like_roberta(vocab_dir, tokenizers):
    """<s> A </s></s> B </s> with padding and truncation, for 1,000 real pairs of mixed length.

    At an even token budget (here 128 - 4 special tokens) round-robin truncation and the
    reference's longest-first agree; at an odd one TF Hub's rule (which bertkit follows) gives
    the odd token to the first segment, the reference to the second.
    """
    _, ref = tokenizers
    texts = realistic_mix(2000, seed=7) + EDGE_CASES
    a, b = texts[: len(texts) // 2], texts[len(texts) // 2 :][: len(texts) // 2]
    ours = Preprocessor.from_pretrained(vocab_dir, seq_length=128)(a, b)
    expected = ref(a, b, padding="max_length", truncation=True, max_length=128)
    assert ours["input_word_ids"].tolist() == expected["input_ids"]
    assert ours["input_mask"].tolist() == expected["attention_mask"]
    assert not ours["input_type_ids"].any()


def test_mask_takes_the_space_before_it(tokenizers):
    ours, _ = tokenizers
    mask = ours.vocab["<mask>"]
    assert ours.encode("Paris is the <mask>.") == ours.encode("Paris is the") + [mask] + ours.encode(".")
    assert ours.encode("a \t <mask>") == ours.encode("a") + [mask]


def test_add_prefix_space(vocab_dir, tmp_path):
    config = '{"add_prefix_space": true}'
    for name in ("vocab.json", "merges.txt"):
        (tmp_path / name).write_bytes((vocab_dir / name).read_bytes())
    (tmp_path / "tokenizer_config.json").write_text(config)
    ours = BpeTokenizer.from_directory(tmp_path)
    assert ours.pre_tokenizer.add_prefix_space
    assert_same_ids(ours, reference(vocab_dir, add_prefix_space=True), EDGE_CASES + po_strings()[:5000])


def test_directory_written_by_transformers(vocab_dir, tmp_path, tokenizers):
    """transformers 5 saves tokenizer.json only (no vocab.json / merges.txt)."""
    reference(vocab_dir).save_pretrained(str(tmp_path))
    assert not (tmp_path / "merges.txt").exists()
    from_json = BpeTokenizer.from_directory(tmp_path)
    ours, ref = tokenizers
    assert from_json.model.ranks == ours.model.ranks
    assert_same_ids(from_json, ref, EDGE_CASES)


def code_point_probe() -> str:
    """Code points next to a letter, a digit and a symbol.

    Which neighbour a character joins tells its class (letter, number, other, whitespace), so
    the pre-tokenization of this one string checks the classes of all the code points in it:
    every one of planes 0-3 and 14 (all assigned characters, but surrogates), and every 97th
    of the rest (unassigned or private use).
    """
    assigned = itertools.chain(range(0xD800), range(0xE000, 0x40000), range(0xE0000, 0xF0000))
    unassigned = itertools.chain(range(0x40000, 0xE0000, 97), range(0xF0000, 0x110000, 97))
    return "".join(f"a{c}1{c}!{c}\n" for c in map(chr, itertools.chain(assigned, unassigned)))


def test_pre_tokenizer_classes_of_all_assigned_code_points():
    text = code_point_probe()
    expected = [piece for piece, _ in pre_tokenizers.ByteLevel(add_prefix_space=False).pre_tokenize_str(text)]
    ours = [to_symbols(piece) for piece in ByteLevelPreTokenizer().split(text)]
    assert len(ours) == len(expected)
    first = next((i for i, (a, b) in enumerate(zip(ours, expected)) if a != b), None)
    assert first is None, f"piece {first}: ours {ours[first]!r}, reference {expected[first]!r}"


# Random strings: any code point but lone surrogates (which no UTF-8 tokenizer can take), and
# strings built from the pieces that matter most here, so the specials meet whitespace often.
any_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)
tricky_text = st.lists(
    st.sampled_from([*SPECIALS, " ", "  ", "\n", "\t", "\u3000", "'s", "'ll", "a", "É", "1", "²", "!", "😀", "中"]),
    max_size=25,
).map("".join)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(any_text, tricky_text), min_size=1, max_size=8))
def test_random_strings(tokenizers, texts):
    ours, ref = tokenizers
    assert_same_ids(ours, ref, texts)


def _print_unicode_tables() -> None:  # pragma: no cover - a maintenance tool
    """Classify every code point with the reference pre-tokenizer; print the range tables."""
    split = pre_tokenizers.ByteLevel(add_prefix_space=False).pre_tokenize_str
    classes: dict[str, list[int]] = {"LETTER": [], "NUMBER": [], "WHITESPACE": []}
    for c in itertools.chain(range(0xD800), range(0xE000, 0x110000)):
        ch = chr(c)
        if c != 0x20 and len(split("a" + ch)) == 1:
            classes["LETTER"].append(c)
        elif c != 0x20 and len(split("1" + ch)) == 1:
            classes["NUMBER"].append(c)
        elif len(split("!" + ch)) != 1:
            classes["WHITESPACE"].append(c)
    for name, members in classes.items():
        ranges: list[list[int]] = []
        for c in members:
            if ranges and ranges[-1][1] == c - 1:
                ranges[-1][1] = c
            else:
                ranges.append([c, c])
        items = [f"(0x{a:04X}, 0x{b:04X})" for a, b in ranges]
        print(f"{name}_RANGES = (")
        for i in range(0, len(items), 5):
            print("    " + ", ".join(items[i : i + 5]) + ",")
        print(")\n")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(_print_unicode_tables())
