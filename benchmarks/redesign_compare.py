"""Before / after a refactoring: `bertkit bench` runs of two checkouts, side by side.

    python benchmarks/redesign_compare.py DIR... > table.md   # each DIR holds a bench run's inference.json

Each argument is a `bertkit bench --out` directory or its inference.json; runs alternate between
the two checkouts on the same machine, so the spread between runs of one checkout is the noise
a difference must exceed. Prints, per model size and system, texts/s, batch-1 p50, the short
sentence's p50, peak memory and the worst cosine to the reference, one column per run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

FIELDS = (("texts/s", "texts_per_s", "{:.1f}"), ("b=1 p50 ms", "latency_p50_ms", "{:.1f}"),
          ("short p50 ms", "short_latency_p50_ms", "{:.2f}"), ("peak MB", "peak_mb", "{:.0f}"),
          ("min cos", "min_cosine_vs_reference", "{:.5f}"))  # fmt: skip


def main(runs: list[str]) -> None:
    paths = [Path(run) / "inference.json" if Path(run).is_dir() else Path(run) for run in runs]
    reports = {
        path.parent.name if path.name == "inference.json" else path.stem: json.loads(path.read_text()) for path in paths
    }
    first = next(iter(reports.values()))
    print(f"Machine: {first['machine']}  \nCommand (each run): `{first['command'].rsplit(' --out=', 1)[0]}`\n")
    for size in first["sizes"]:
        print(f"### {size}\n")
        print("| system | measure | " + " | ".join(reports) + " |")
        print("|---|---|" + "---|" * len(reports))
        for system in first["sizes"][size]["results"]:
            for label, key, fmt in FIELDS:
                values = [report["sizes"][size]["results"][system].get(key) for report in reports.values()]
                shown = [fmt.format(v) if isinstance(v, (int, float)) else "" for v in values]
                print(f"| {system} | {label} | " + " | ".join(shown) + " |")
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
