"""Judge a pretrained model's fill-mask on the probes of benchmarks/pretraining_probes.txt.

Every probe, none left out: the top-k fillers with their probabilities, whether the top-1 is one
of the fillers written beside the probe (before any model was trained), and the count.

    python benchmarks/pretraining_probes.py --model bert-docs
    python benchmarks/pretraining_probes.py --model bert-docs --top-k 3 --probes my-probes.txt
"""

from __future__ import annotations

import argparse
from pathlib import Path

PROBES = Path(__file__).with_name("pretraining_probes.txt")


def read_probes(path: Path) -> list[tuple[str, set[str]]]:
    """`probe<TAB>filler, filler, ...` lines; '#' lines are comments."""
    probes = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        text, fillers = line.split("\t")
        probes.append((text, {f.strip() for f in fillers.split(",")}))
    return probes


def judge(model: str, probes: list[tuple[str, set[str]]], top_k: int = 3) -> list[dict]:
    from bertkit.tasks.fill_mask import FillMask

    fill = FillMask.from_pretrained(model)
    results = []
    for text, sensible in probes:
        fillers = fill(text, top_k=top_k)[0]  # each probe holds one mask
        results.append({"text": text, "fillers": fillers, "sensible": fillers[0]["token"] in sensible})
    return results


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a pretrained checkpoint with an MLM head")
    parser.add_argument("--probes", type=Path, default=PROBES)
    parser.add_argument("--top-k", type=int, default=3)
    args = parser.parse_args(argv)
    results = judge(args.model, read_probes(args.probes), args.top_k)
    width = max(len(r["text"]) for r in results)
    for r in results:
        shown = " | ".join(f"{f['token']} {f['score']:.3f}" for f in r["fillers"])
        print(f"{'yes' if r['sensible'] else 'no ':3}  {r['text']:{width}}  {shown}")
    print(f"sensible top-1: {sum(r['sensible'] for r in results)} of {len(results)}")
    return results


if __name__ == "__main__":
    main()
