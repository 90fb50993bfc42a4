"""The inputs TensorFlow answers for: ~21k real texts, hostile strings, pairs, encoder texts.

Deterministic (seeded sampling of tests/corpora.py's sources), so the oracle's cache key holds.
"""

from __future__ import annotations

import random

from corpora import ansi_colored, changelog_entries, license_paragraphs, po_strings, stdlib_strings

from bertkit.bench.texts import po_strings_by_language

NOTEBOOK = ["This is a spam mail", "Computers are not unique to computers"]

# Strings where tokenizers disagree: special-token look-alikes, Unicode normalisation and case
# folding, separators, controls, zero-width characters, and words near WordPiece's 100-character cap.
HOSTILE = [
    "[SEP] inside text [CLS] and [MASK], [UNK] and [PAD]",
    "[CLS][SEP]",
    "line\u2028separator\u2029paragraph",
    "replacement \ufffd character",
    "private use \ue000 \uf8ff \U000f0000",
    "ＦＵＬＬ－ｗｉｄｔｈ！（ｐｕｎｃｔ）、。「」：；",
    "ligatures ﬁnal ﬂow ﬀ ﬃ ﬆ æ œ Ĳ",
    "Straße ß ẞ STRASSE",
    "x² H₂O ¹²³ ⁿ ½ ①②",
    "wait… what‽ —dash– “quotes” ‘single’ «guillemets» ‹›",
    "ä" * 99,
    "é" * 51,
    "щ" * 60,
    "aé" * 50,
    "a" * 100,
    "a" * 101,
    "word " + "b" * 200 + " end",
    "NUL\x00inside",
    "\x00",
    "tab\tnew\nline\rcr",
    "bell\x07 escape\x1b[0m delete\x7f",
    "zero\u200bwidth\u200cnon\u200djoiner\ufeffbom",
    "soft\u00adhyphen",
    "combining e\u0301 vs é, A\u030a vs Å",
    "emoji 👍🏽 👨‍👩‍👧 🇯🇵",
    "Ελληνικά ΣΊΣΥΦΟΣ ς",
    "İstanbul ı I",
    "mixed 中文English混合",
    "日本語のテキスト、カタカナ",
    "한국어 텍스트",
    "عربي مع تَشْكِيل",
    "हिन्दी पाठ",
    "ภาษาไทย",
    "  leading and trailing  ",
    "",
    " ",
    "\t\n",
    "a",
    "...",
    "$5.00 & 10% off @user #tag",
    "http://example.com/path?q=1&r=2",
    "e-mail: someone@example.org",
    "C++ / C# / F#",
    "don't won't y'all",
    "U.S.A. 1,234.56",
    "ŉ ǅ Ⅻ ™ ℃ №",
    "µ micro vs μ mu; K kelvin; Å angstrom; Ω ohm",
    "\u3000ideographic space\u3000",
    "\u00a0no-break\u00a0space \u2009thin \u0085next-line",
    "\u0130",
]


def oracle_inputs() -> tuple[list[str], list[tuple[str, str]], list[str]]:
    """Deterministic texts (>= 20,000), pairs (2,000) and encoder texts (32)."""
    rng = random.Random(19)
    by_language = po_strings_by_language()
    po = _unique(po_strings())  # msgids repeat across the ~100 catalogs
    chinese = _unique(by_language["zh_Hans"] + by_language["zh_Hant"])
    stdlib = [t for t in _unique(stdlib_strings()) if _utf8(t)]  # its Unicode tests hold lone surrogates
    changelog = _unique(changelog_entries())
    texts = (
        NOTEBOOK
        + HOSTILE
        + rng.sample(po, 9000)
        + chinese
        + _unique(license_paragraphs())
        + changelog
        + rng.sample(stdlib, 4000)
        + ansi_colored(rng.sample(po, 500) + rng.sample(changelog, 500), seed=19)
    )
    texts = _unique(texts)
    pairs = [(rng.choice(texts), rng.choice(texts)) for _ in range(1900)]
    pairs += [(rng.choice(HOSTILE), rng.choice(texts)) for _ in range(90)]
    pairs += [("", "second only"), ("first only", ""), ("", ""), (NOTEBOOK[0], NOTEBOOK[1])] + [
        (rng.choice(texts), rng.choice(HOSTILE)) for _ in range(6)
    ]
    short = [t for t in texts if 0 < len(t) < 300]
    encoder_texts = NOTEBOOK + rng.sample(short, 24) + rng.sample(chinese, 3) + HOSTILE[:3]
    return texts, pairs, encoder_texts


def _unique(texts: list[str]) -> list[str]:
    return list(dict.fromkeys(texts))  # first occurrence wins: the order stays deterministic


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
