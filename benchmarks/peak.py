"""This machine's matrix-product peak through each kernel bertkit's engine can use.

    python benchmarks/peak.py                  # 4096x768 . 768x3072, the BERT-base FFN over 4096 tokens
    python benchmarks/peak.py --m 1248         # 32 texts of 39 tokens

The fastest fp32 kernel's rate is the "measured fp32 peak" that `bertkit bench` reports
fractions of.
"""

import argparse

from bertkit.inference.peak import fp32_peak, measure_matmul_peak

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--m", type=int, default=4096)
    parser.add_argument("--k", type=int, default=768)
    parser.add_argument("--n", type=int, default=3072)
    parser.add_argument("--seconds", type=float, default=1.0, help="time per kernel")
    args = parser.parse_args()
    rates = measure_matmul_peak(args.m, args.k, args.n, args.seconds)
    print(f"{args.m}x{args.k} . {args.k}x{args.n}")
    for name, rate in rates.items():
        print(f"  {name:28s} {rate:7.0f} {'GOP/s' if name.startswith('int8') else 'GFLOP/s'}")
    print(f"  measured fp32 peak           {fp32_peak(rates):7.0f} GFLOP/s")
