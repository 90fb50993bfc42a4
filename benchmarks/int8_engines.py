"""PyTorch's int8 engines side by side on BERT's products, from one row to a full batch.

    python benchmarks/int8_engines.py                       # MiniLM's four products, 2 threads
    python benchmarks/int8_engines.py --hidden 768 --threads 1

For each engine the machine supports (fbgemm, "x86" - fbgemm for dynamic products - and oneDNN),
the time of a model's dynamic int8 products (per layer: QKV, attention output, feed-forward in
and out; `--layers` of them, so the weights come from memory as in a forward pass, not from a
warm cache) with the same per-output-channel int8 weights, 8-bit activations and no per-row
scaling: the engines alone. bertkit's choice (`kernels.int8_engine`) is printed with them.
"""

import argparse
import warnings

import torch

from bertkit.inference.kernels import int8_engine
from bertkit.inference.peak import time_best


def packed_products(hidden: int, engine: str) -> list:
    generator = torch.Generator().manual_seed(0)
    products = []
    for rows, cols in ((3 * hidden, hidden), (hidden, hidden), (4 * hidden, hidden), (hidden, 4 * hidden)):
        weight = torch.randn(rows, cols, generator=generator) * cols**-0.5
        scales = (weight.abs().amax(dim=1) / 127).double()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            qweight = torch.quantize_per_channel(weight, scales, torch.zeros(rows, dtype=torch.long), 0, torch.qint8)
        torch.backends.quantized.engine = engine
        products.append((cols, torch.ops.quantized.linear_prepack(qweight, None)))
    return products


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=384)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rows", default="1,8,16,32,64,256,1536", help="token rows per product")
    parser.add_argument("--seconds", type=float, default=0.5, help="time per measurement")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    engines = [e for e in ("fbgemm", "x86", "onednn") if e in torch.backends.quantized.supported_engines]
    main_engine, small_engine = int8_engine(), int8_engine(small_products=True)
    if main_engine is None:
        print(
            "bertkit runs none of these on this CPU: without AVX512-VNNI they keep 7-bit activations or saturate "
            "(bertkit/inference/cpu.py); timing them anyway"
        )
    print(
        f"hidden {args.hidden}, {args.threads} threads; bertkit uses {main_engine!r}, and {small_engine or main_engine!r}"
        " for products of few rows (8-bit activations)"
    )
    print("rows  " + "  ".join(f"{e:>10s}" for e in engines) + f"   (ms for {args.layers} layers' products)")
    for rows in map(int, args.rows.split(",")):
        times = []
        for engine in engines:
            products = [p for _ in range(args.layers) for p in packed_products(args.hidden, engine)]
            inputs = {cols: torch.randn(rows, cols) for cols, _ in products}

            def layer(products=products, inputs=inputs):
                for cols, packed in products:
                    torch.ops.quantized.linear_dynamic(inputs[cols], packed, False)

            times.append(1e3 * time_best(layer, args.seconds))
        print(f"{rows:5d} " + "  ".join(f"{t:10.3f}" for t in times))


if __name__ == "__main__":
    main()
