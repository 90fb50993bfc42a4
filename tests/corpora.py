"""Real text that nobody on this project wrote, for parity tests and benchmarks.

Everything comes from files every machine built from our Debian image has once `make setup`
ran (Django is a dev dependency); nothing is downloaded. Every function is deterministic
(sorted files, seeded sampling) and cached, and returns a list of str. The readers live in
`bertkit/bench/texts.py`, whose `realistic_mix` `bertkit bench` reads; this file adds what only
the tests want.

- `po_strings()`: msgid/msgstr of Django's translation catalogs, ~100 languages (Chinese,
  Japanese, Korean, Arabic, Russian, Greek, Hindi, Thai, Vietnamese, ... and English);
- `license_paragraphs()`: the licenses in /usr/share/common-licenses (GPL, Apache, ...);
- `changelog_entries()`: Debian changelog entries from /usr/share/doc/*/changelog*.gz
  (names with accents, e-mail addresses, version strings, bug numbers);
- `stdlib_strings()`: comments, docstrings and string literals of Python's standard library,
  including the codec tables and Unicode tests: control characters, lone surrogates, every
  script Python knows about;
- `ansi_colored(texts)`: real text painted with terminal escape codes, as a log file holds it;
- `realistic_mix(n)`: a length mix like a classification or embedding workload.

    python tests/corpora.py      # prints what each source yields
"""

from __future__ import annotations

import random

from bertkit.bench.texts import (
    changelog_entries,
    license_paragraphs,
    license_texts,
    po_strings,
    po_strings_by_language,
    realistic_mix,
    stdlib_strings,
)

__all__ = [
    "ansi_colored", "changelog_entries", "license_paragraphs", "license_texts", "po_strings",
    "po_strings_by_language", "realistic_mix", "stdlib_strings",
]  # fmt: skip

_SGR = ("\x1b[0m", "\x1b[1m", "\x1b[31m", "\x1b[1;32m", "\x1b[38;5;208m", "\x1b[4m", "\x1b[K", "\x1b[2J\x1b[H")


def ansi_colored(texts: list[str], seed: int = 0) -> list[str]:
    """The texts with terminal escape codes around some of their words, as in a captured log."""
    rng = random.Random(seed)
    painted = []
    for text in texts:
        words = text.split(" ")
        for i in range(len(words)):
            if rng.random() < 0.3:
                words[i] = rng.choice(_SGR) + words[i] + "\x1b[0m"
        painted.append(" ".join(words))
    return painted


if __name__ == "__main__":
    for name, texts in [
        ("po_strings", po_strings()),
        ("license_paragraphs", license_paragraphs()),
        ("changelog_entries", changelog_entries()),
        ("stdlib_strings", stdlib_strings()),
        ("realistic_mix", realistic_mix()),
    ]:
        chars = sum(map(len, texts))
        print(f"{name:20s} {len(texts):8,d} texts {chars:12,d} chars  e.g. {texts[len(texts) // 2][:60]!r}")
    print(f"{'languages':20s} {len(po_strings_by_language()):8,d}")
