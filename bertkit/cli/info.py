"""`bertkit info`: what this machine gets - its instruction sets, and for each precision the
kernels that run it and why a faster path is off.

    $ bertkit info
    $ BERTKIT_CPU=avx2 bertkit info      # the choices an AVX2-only CPU gets, from any x86 machine
    $ bertkit info --json
"""

from __future__ import annotations

import argparse
import json
import os

from bertkit import __version__

HELP = "this machine's instruction sets, and the kernels each precision runs on it"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON object instead of the table")


def report() -> dict:
    """Everything `bertkit info` prints, as one dict."""
    import torch  # here, not at the top: `bertkit --help` loads every command's module

    from bertkit.inference import cpu, fused_layer
    from bertkit.inference.kernels import PRECISIONS, int8_engine

    features = cpu.detect()
    library = fused_layer.library()
    c_layer = {
        "variant": library.variant if library is not None else None,
        "off_because": fused_layer.unavailable_reason(),
        "rows_limits": fused_layer.rows_limits() if library is not None else {},
        "amx_tiles": fused_layer.amx_supported(),
        "int8": fused_layer.int8_supported(),
    }
    precisions = {}
    for precision in PRECISIONS:
        runs, how = features.precision_support(precision)
        precisions[precision] = {"runs": runs, "kernels": how}
    return {
        "bertkit": __version__,
        "torch": torch.__version__,
        "cpu": features.name,
        "architecture": features.architecture,
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "instruction_sets": [f for f in cpu.SHOWN if f in features.features],
        "acting_as": features.forced,
        "aten_kernels": torch.backends.cpu.get_cpu_capability(),
        "onednn": torch.backends.mkldnn.is_available(),
        "int8_engine": int8_engine(),
        "cuda": torch.cuda.is_available(),
        "c_layer": c_layer,
        "precisions": precisions,
        "auto": features.auto_precision(),
        "auto_on_cuda": "bf16" if torch.cuda.is_available() else None,
    }


def run(args: argparse.Namespace) -> int:
    info = report()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    acting = f"  [acting as BERTKIT_CPU={info['acting_as']}]" if info["acting_as"] else ""
    print(f"bertkit {info['bertkit']}, torch {info['torch']}")
    print(
        f"CPU: {info['cpu']} ({info['architecture']}), {info['cores']} cores, {info['threads']} torch threads{acting}"
    )
    print(f"instruction sets: {' '.join(info['instruction_sets']) or 'none that bertkit uses'}")
    print(f"PyTorch kernels: ATen {info['aten_kernels']}, oneDNN {'on' if info['onednn'] else 'off'}, "
          f"int8 engine {info['int8_engine'] or 'none (no VNNI: int8 weights are widened to fp32)'}")  # fmt: skip
    layer = info["c_layer"]
    if layer["variant"]:
        limits = ", ".join(f"{p} {n}" for p, n in layer["rows_limits"].items())
        tiles = "; bf16 on AMX tiles" if layer["amx_tiles"] else ""
        print(f"fused C layer: {layer['variant']} build, passes of up to {limits} token rows{tiles}")
    else:
        print(f"fused C layer: off ({layer['off_because']}); passes of few tokens take PyTorch")
    print("precisions:")
    for precision, row in info["precisions"].items():
        print(f"  {precision:5s} {'runs' if row['runs'] else 'off '}  {row['kernels']}")
    print(f"  auto  = {info['auto']} here" + (f"; {info['auto_on_cuda']} on the GPU" if info["auto_on_cuda"] else ""))
    return 0
