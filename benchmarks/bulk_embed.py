"""Bulk embedding's memory stays flat: peak RSS of `bertkit embed --input F --output DIR` at 20k and 200k lines.

The lines are real short strings nobody on this project wrote (Django's translation catalogs,
`tests/corpora.py`), one per line, cycled to the size asked. Each size runs in its own process;
its peak resident memory is the kernel's ru_maxrss for that child (os.wait4).

    python benchmarks/bulk_embed.py                       # 20k and 200k lines, the bundled all-MiniLM-L6-v2
    python benchmarks/bulk_embed.py --lines 2000 20000    # quicker
    python benchmarks/bulk_embed.py --model DIR           # another checkpoint
    python benchmarks/bulk_embed.py --model tiny          # tests/tiny_models.py's 2-layer BERT: the streaming alone

Prints one row per size (lines, seconds, texts/s, peak RSS) and the ratio of the largest to the
smallest peak; BENCHMARKS.md ("Bulk embedding") records a run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from corpora import po_strings  # noqa: E402  (tests/ is not a package)


def corpus_lines(n: int, max_words: int) -> list[str]:
    """n real one-line strings of at most `max_words` words, shuffled, cycled when n exceeds them."""
    pool = sorted({s.strip() for s in po_strings() if "\n" not in s and "\r" not in s and s.strip()})
    pool = [s for s in pool if len(s.split()) <= max_words]
    random.Random(0).shuffle(pool)
    return [pool[i % len(pool)] for i in range(n)]


def run(n: int, folder: Path, flags: list[str], max_words: int) -> dict:
    source = folder / f"corpus-{n}.txt"
    source.write_text("\n".join(corpus_lines(n, max_words)) + "\n", encoding="utf-8")
    output = folder / f"vectors-{n}"
    command = [sys.executable, "-m", "bertkit", "embed", "--input", str(source), "--output", str(output), *flags]
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed")
    manifest = json.loads((output / "manifest.json").read_text())
    return {"lines": n, "rows": manifest["rows"], "shards": len(manifest["shards"]), "seconds": round(seconds, 1),
            "texts_per_s": round(n / seconds, 1), "peak_rss_mib": round(usage.ru_maxrss / 1024, 1)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, nargs="+", default=[20_000, 200_000])
    parser.add_argument(
        "--model", default=None, help="checkpoint directory, or tiny (default: the bundled all-MiniLM-L6-v2)"
    )
    parser.add_argument("--max-words", type=int, default=6, help="only strings of at most this many words")
    parser.add_argument(
        "--flags", default="--precision fp32 --seq-length 32 --batch-size 256 --no-progress",
        help="more `bertkit embed` flags",
    )  # fmt: skip
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        model = args.model
        if model == "tiny":
            from tiny_models import tiny_bert_dir

            model = str(tiny_bert_dir(Path(folder) / "tiny"))
        flags = args.flags.split() + (["--model", model] if model else [])
        print(f"bertkit embed --input corpus-N.txt --output vectors-N {' '.join(flags)}", flush=True)
        for n in args.lines:
            rows.append(run(n, Path(folder), flags, args.max_words))
            print(json.dumps(rows[-1]), flush=True)
    peaks = [r["peak_rss_mib"] for r in rows]
    print(f"peak RSS: {' / '.join(f'{p:.0f} MiB' for p in peaks)} at {' / '.join(str(r['lines']) for r in rows)} "
          f"lines; largest / smallest = {max(peaks) / min(peaks):.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
