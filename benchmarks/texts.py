"""Real text of mixed length for the inference benchmarks, from files on every Debian machine.

Sentences of the licenses in /usr/share/common-licenses (long, legal), entries of Debian
changelogs (short to medium, technical) and Django's English interface strings (very short),
shuffled together with a fixed seed: a mix of lengths like a real embedding workload
(mean about 40 wordpieces with the uncased BERT vocabulary; the benchmark prints it).
"""

from __future__ import annotations

import gzip
import random
import re
from pathlib import Path

LICENSES = Path("/usr/share/common-licenses")
CHANGELOGS = Path("/usr/share/doc")


def license_sentences() -> list[str]:
    sentences = []
    for path in sorted(LICENSES.glob("*")):
        if path.is_file():
            text = re.sub(r"\s+", " ", path.read_text(encoding="utf-8", errors="replace"))
            sentences += [s.strip() for s in re.split(r"(?<=[.;:])\s+(?=[A-Z(])", text)]
    return [s for s in sentences if 3 <= len(s.split()) <= 120]


def changelog_entries(limit_files: int = 200) -> list[str]:
    entries = []
    for path in sorted(CHANGELOGS.glob("*/changelog*.gz"))[:limit_files]:
        try:
            lines = gzip.open(path, "rt", encoding="utf-8", errors="replace").read().splitlines()
        except (OSError, EOFError):
            continue
        entry: list[str] = []
        for line in lines + [""]:
            line = line.strip()
            if entry and (not line or line.startswith(("* ", "- ", "--", "[")) or "urgency=" in line):
                if len(entry) >= 3:
                    entries.append(" ".join(entry))
                entry = []
            if line.startswith(("* ", "- ")):
                entry = line[2:].split()
            elif entry and line:
                entry += line.split()
    return entries


def django_strings() -> list[str]:
    try:
        import django
    except ImportError:
        return []
    locale = Path(django.__file__).parent / "conf" / "locale" / "fr" / "LC_MESSAGES" / "django.po"
    if not locale.is_file():
        return []
    found = re.findall(r'^msgid "(.+)"$', locale.read_text(encoding="utf-8"), flags=re.M)
    return [s for s in found if len(s.split()) >= 2]


# source -> share of the texts
MIX = {"licenses": 0.85, "changelogs": 0.1, "django": 0.05}


def mixed_texts(n: int, seed: int = 0) -> list[str]:
    """`n` real texts of mixed length, the same ones for the same (n, seed)."""
    sources = {"licenses": license_sentences(), "changelogs": changelog_entries(), "django": django_strings()}
    rng = random.Random(seed)
    texts = []
    for name, share in MIX.items():
        pool = sorted(set(sources[name]))
        if pool:
            texts += rng.choices(pool, k=round(n * share))
    if not texts:
        raise RuntimeError("no text found under /usr/share/common-licenses or /usr/share/doc")
    rng.shuffle(texts)
    return (texts * (n // len(texts) + 1))[:n]
