"""The fused C layer against the engine's PyTorch path, one text at a time, by length.

    python benchmarks/fused_layer.py                    # bundled MiniLM, every precision
    python benchmarks/fused_layer.py --model DIR --precisions int8 --rows 8,64

For each length: the first pass of each path at that length ("cold": oneDNN builds its kernels
for a new shape, the C layer packs its weights on its very first pass), then the p50 of
`--calls` warm passes, and their ratio. `fused_layer.rows_limits()` is set from these figures
(docs/inference.md). Prints a markdown table; run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import time

import torch

import bertkit  # noqa: F401  (sets the OpenMP spin count before torch starts its threads)
from bertkit.bench.measure import percentile  # the bench's own percentile
from bertkit.bundled import resolve_model_dir
from bertkit.checkpoint import load_backbone
from bertkit.inference import FastEncoder, cpu, fused_layer


def p50_ms(fn, calls: int) -> float:
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * percentile(times, 50)


def measure(model, precision: str, rows: list[int], calls: int) -> list[dict]:
    c_layer = FastEncoder(model, precision=precision, device="cpu")
    c_layer.c_layer_rows = fused_layer.MAX_ROWS
    pytorch = FastEncoder(model, precision=precision, device="cpu")
    pytorch.uses_c_layer = False
    generator = torch.Generator().manual_seed(0)
    found = []
    for n in rows:
        ids = torch.randint(1000, model.config.vocab_size, (1, n), generator=generator)
        mask = torch.ones_like(ids)
        row = {"precision": precision, "rows": n}
        for name, engine in (("pytorch", pytorch), ("c", c_layer)):
            start = time.perf_counter()
            engine.encode_tokens(ids, mask)
            row[f"{name}_cold_ms"] = 1e3 * (time.perf_counter() - start)
        for _ in range(3):
            pytorch.encode_tokens(ids, mask)
            c_layer.encode_tokens(ids, mask)
        row["pytorch_ms"] = p50_ms(lambda ids=ids, mask=mask: pytorch.encode_tokens(ids, mask), calls)
        row["c_ms"] = p50_ms(lambda ids=ids, mask=mask: c_layer.encode_tokens(ids, mask), calls)
        found.append(row)
        print(
            f"| {precision} | {n} | {row['pytorch_cold_ms']:.2f} | {row['c_cold_ms']:.2f} | {row['pytorch_ms']:.2f} "
            f"| {row['c_ms']:.2f} | {row['c_ms'] / row['pytorch_ms']:.2f} |",
            flush=True,
        )
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="checkpoint directory; default: the bundled all-MiniLM-L6-v2")
    parser.add_argument("--precisions", default="fp32,bf16,int8")
    parser.add_argument("--rows", default="8,16,24,32,48,64,96,128")
    parser.add_argument("--calls", type=int, default=30)
    args = parser.parse_args(argv)
    if fused_layer.library() is None:
        raise SystemExit(f"the fused C layer is not in use here: {fused_layer.unavailable_reason()}")
    model, _, _ = load_backbone(resolve_model_dir(args.model))
    model.eval()
    torch.set_grad_enabled(False)
    int8 = fused_layer.library_for("int8")
    print(
        f"{cpu.detect().isa_line()}; C layer build {fused_layer.library().variant}; AMX for bf16: {fused_layer.amx_supported()}; "
        f"int8 build {int8.variant if int8 else None}; threads {torch.get_num_threads()}"
    )
    print("| precision | rows | PyTorch cold ms | C cold ms | PyTorch ms | C ms | C / PyTorch |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for precision in args.precisions.split(","):
        measure(model, precision, [int(n) for n in args.rows.split(",")], args.calls)


if __name__ == "__main__":
    main()
