"""A pretraining corpus of real text nobody on this project wrote, in BERT's format.

One sentence per line, a blank line between documents, from what every machine built from our
image has (see tests/corpora.py): Debian changelog entries (a document each), the licenses in
/usr/share/common-licenses (a document per file), and the docstrings of Python's standard
library (a document each, when it has at least three sentences).

`--doc-packages` adds the English prose of Debian documentation packages, fetched with
`apt-get download` (no root needed) and unpacked with `dpkg-deb -x` into `--cache`: the text of
every HTML paragraph (`<p>`), a document per page section (a new one at each `<h1>`, `<h2>` or `<h3>`).
`python3.11-doc` is Python's documentation (tutorial, library and language reference, HOWTOs,
FAQs, what's new: ~7.1 MB of paragraphs), `debian-reference-en` the Debian Reference (~0.34 MB).

    python benchmarks/pretraining_corpus.py --output corpus.txt --megabytes 4
    python benchmarks/pretraining_corpus.py --output prose.txt --megabytes 2 --changelog-megabytes 0.9
    python benchmarks/pretraining_corpus.py --output docs.txt --megabytes 6 --changelog-megabytes 0 \
        --doc-packages python3.11-doc debian-reference-en
"""

from __future__ import annotations

import argparse
import html.parser
import random
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(1, str(Path(__file__).resolve().parents[1] / "tests"))  # corpora.py, the shared real-text loader
import corpora  # noqa: E402

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'])")


def sentences(text: str) -> list[str]:
    """Text -> sentences: paragraphs and lines joined, then cut after . ! ? before a capital."""
    flat = " ".join(text.split())
    return [s for s in _SENTENCE_END.split(flat) if len(s.split()) >= 2]


def changelog_document(entry: str) -> list[str]:
    """A changelog entry: its bullet points as sentences (header and signature dropped)."""
    lines = []
    for line in entry.splitlines()[1:]:
        line = line.strip()
        if not line or line.startswith("--"):
            continue
        line = line.lstrip("*-+ ").strip()
        if lines and not re.match(r"^[A-Z\[]", line):  # a wrapped bullet continues the last one
            lines[-1] += " " + line
        else:
            lines.append(line)
    return [s for line in lines for s in sentences(line)]


class _Paragraphs(html.parser.HTMLParser):
    """The text of an HTML page's paragraphs, grouped into sections at each <h1>/<h2>/<h3>.

    Code blocks (<pre>) are not paragraphs in Sphinx's or DocBook's HTML, so they stay out;
    inline code inside a sentence (<code>os.path</code>) stays in, as the sentence reads.
    """

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.sections: list[list[str]] = [[]]
        self._paragraph: list[str] | None = None
        self._verbatim = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("h1", "h2", "h3") and self.sections[-1]:
            self.sections.append([])
        elif tag == "p" and self._paragraph is None and "admonition-title" not in (dict(attrs).get("class") or ""):
            self._paragraph = []  # "Note", "See also": labels, not sentences
        elif tag in ("pre", "script", "style"):
            self._verbatim += 1

    def handle_endtag(self, tag):
        if tag in ("pre", "script", "style"):
            self._verbatim -= 1
        elif tag == "p" and self._paragraph is not None:
            text = " ".join("".join(self._paragraph).split())
            if text:
                self.sections[-1].append(text)
            self._paragraph = None

    def handle_data(self, data):
        if self._paragraph is not None and not self._verbatim:
            self._paragraph.append(data)


def unpack_package(package: str, cache: Path) -> Path:
    """`apt-get download` a Debian package into `cache` and unpack it there (once)."""
    root = cache / package
    if not root.is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(["apt-get", "download", package], cwd=cache, check=True, capture_output=True)
        deb = max(cache.glob(f"{package}_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    return root


def html_documents(root: Path) -> list[list[str]]:
    """The sections of every HTML page under `root` with at least three sentences (index,
    search and table-of-contents pages left out), in sorted file order."""
    docs = []
    for page in sorted(root.rglob("*.html")):
        if page.name.startswith(("genindex", "py-modindex", "search", "contents")):
            continue
        parser = _Paragraphs()
        parser.feed(page.read_text(encoding="utf-8", errors="replace"))
        docs += [[s for paragraph in section for s in sentences(paragraph)] for section in parser.sections]
    return [d for d in docs if len(d) >= 3]


def documents(
    seed: int = 0,
    changelog_megabytes: float | None = None,
    doc_packages: tuple[str, ...] = (),
    cache: Path = Path("/tmp/bertkit-corpus-packages"),
) -> list[list[str]]:
    """Changelog entries, licenses, docstrings and documentation sections of at least three
    sentences, shuffled.

    changelog_megabytes: keep only this much changelog text (the first entries, in the order
    read), so that the prose (licenses, docstrings: ~0.85 MB) is a larger share of the corpus.
    doc_packages: Debian packages whose HTML paragraphs join the corpus (see the module's
    docstring), unpacked under `cache`.
    """
    changelogs = [changelog_document(e) for e in corpora.changelog_entries(max_files=1200, per_file=40)]
    changelogs = [d for d in changelogs if len(d) >= 3]
    if changelog_megabytes is not None:
        budget, kept = int(changelog_megabytes * 1_000_000), []
        for doc in changelogs:
            budget -= len(("\n".join(doc) + "\n\n").encode("utf-8"))
            if budget < 0:
                break
            kept.append(doc)
        changelogs = kept
    prose = [sentences(text) for text in corpora.license_texts()]
    prose += [sentences(s) for s in corpora.stdlib_strings() if len(s) > 200]
    docs = changelogs + [d for d in prose if len(d) >= 3]
    for package in doc_packages:
        sections = html_documents(unpack_package(package, cache))
        version = max(cache.glob(f"{package}_*.deb")).name
        print(
            f"{version}: {len(sections):,} sections, {sum(len(s) for d in sections for s in d) / 1e6:.2f} MB of sentences"
        )
        docs += sections
    random.Random(seed).shuffle(docs)
    return docs


def write_corpus(
    path: str | Path,
    megabytes: float,
    seed: int = 0,
    changelog_megabytes: float | None = None,
    doc_packages: tuple[str, ...] = (),
    cache: Path = Path("/tmp/bertkit-corpus-packages"),
) -> dict:
    budget = int(megabytes * 1_000_000)
    written = n_docs = n_sentences = 0
    with open(path, "w", encoding="utf-8") as f:
        for doc in documents(seed, changelog_megabytes, tuple(doc_packages), Path(cache)):
            if written >= budget:
                break
            block = "\n".join(doc) + "\n\n"
            f.write(block)
            written += len(block.encode("utf-8"))
            n_docs += 1
            n_sentences += len(doc)
    return {"bytes": written, "documents": n_docs, "sentences": n_sentences}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True)
    parser.add_argument("--megabytes", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--changelog-megabytes", type=float, default=None, help="at most this much changelog text (default: no limit)"
    )
    parser.add_argument(
        "--doc-packages", nargs="*", default=(), metavar="PKG", help="Debian packages whose HTML prose to add"
    )
    parser.add_argument(
        "--cache", type=Path, default=Path("/tmp/bertkit-corpus-packages"), help="where packages are unpacked"
    )
    args = parser.parse_args()
    made = write_corpus(args.output, args.megabytes, args.seed, args.changelog_megabytes, args.doc_packages, args.cache)
    print(
        f"wrote {args.output}: {made['bytes']:,} bytes, {made['documents']:,} documents, {made['sentences']:,} sentences"
    )
