"""A run's report, written into `--out`: `inference.md` (the table, printed too, with the
verdicts below it), `inference.json` (every measurement) and `inference.png` (the charts)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from bertkit.bench.systems import DESCRIPTIONS
from bertkit.inference import cpu, fused_layer


def machine_description(device: str = "cpu") -> str:
    if device == "cuda":
        return f"{torch.cuda.get_device_name()}, CUDA {torch.version.cuda}, torch {torch.__version__}"
    if fused_layer.library() is None:
        small = f"fused C layer off ({fused_layer.unavailable_reason()})"
    else:
        int8 = fused_layer.library_for("int8")
        small = (
            f"fused C layer: {fused_layer.library().variant} build (bf16 on {'AMX tiles' if fused_layer.amx_supported() else 'FMAs'}, "
            f"int8 {'on the ' + int8.variant + ' build' if int8 else 'off'}); auto = {cpu.detect().auto_precision()}"
        )
    return f"{cpu.detect().isa_line()}, {os.cpu_count()} cores, torch {torch.__version__}; {small}"


COLUMNS = [
    ("system", "system", "{}"),
    ("texts/s", "texts_per_s", "{:.1f}"),
    ("tokens/s", "tokens_per_s", "{:.0f}"),
    ("x transformers", "x_transformers", "{:.2f}"),
    ("x transformers bf16", "x_transformers_bf16", "{:.2f}"),
    ("x ORT optimized", "x_onnxruntime", "{:.2f}"),
    ("x best fp32 anchor", "x_best_fp32_anchor", "{:.2f}"),
    ("b=1 p50 ms", "latency_p50_ms", "{:.1f}"),
    ("b=1 p99 ms", "latency_p99_ms", "{:.1f}"),
    ("short p50 ms", "short_latency_p50_ms", "{:.2f}"),
    ("peak MB", "peak_mb", "{:.0f}"),
    ("load s", "load_s", "{:.2f}"),
    ("% fp32 peak (end to end)", "fraction_of_fp32_peak", "{:.0%}"),
    ("% bf16 peak (end to end)", "fraction_of_bf16_peak", "{:.1%}"),
    ("% fp32 peak (dense kernels)", "dense_kernel_fraction_of_fp32_peak", "{:.0%}"),
    ("dense kernels GFLOP/s", "dense_kernel_gflops", "{:.0f}"),
    ("min cos vs ref", "min_cosine_vs_reference", "{:.5f}"),
    ("mean cos vs ref", "mean_cosine_vs_reference", "{:.5f}"),
    ("max abs diff vs ref", "max_abs_diff_vs_reference", "{:.1e}"),
]


def markdown(report: dict) -> str:
    peaks = ", ".join(f"{name} {rate:.0f}" for name, rate in report["matmul_peak_gflops"].items())
    lines = [
        f"Command: `{report['command']}`  ",
        f"Machine: {report['machine']}, {report['threads']} threads; load average "
        f"{report['load_average_at_start']:.1f} at start, {report['load_average_at_end']:.1f} at end  ",
        f"Measured matmul peak (GFLOP/s, int8 GOP/s): {peaks}  ",
        f"Batches of {report['batch_size']} texts; accuracy: cosine of each system's mean-pooled vector to the "
        "reference's (transformers fp32 where it ran), min and mean over the texts.  ",
    ]
    measured = {name for entry in report["sizes"].values() for name in entry["results"]}
    lines += [*(f"- {name}: {text}" for name, text in DESCRIPTIONS.items() if name in measured), ""]
    for size, entry in report["sizes"].items():
        # only the columns some system of this run has (no "x ORT" in a GPU run, say)
        columns = [c for c in COLUMNS if any(c[1] in r for r in entry["results"].values())]
        lines += [
            f"### {size}: {entry['texts']} texts, mean {entry['mean_tokens']:.1f} tokens",
            "",
            "| " + " | ".join(c[0] for c in columns) + " |",
            "|" + "---|" * len(columns),
        ]
        for r in entry["results"].values():
            cells = [fmt.format(r[key]) if key in r else "" for _, key, fmt in columns]
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", *verdict_lines(entry), ""]
    return "\n".join(lines)


def verdict_lines(entry: dict) -> list[str]:
    """`verdicts` in words, below a size's table."""
    lines = []
    if entry.get("accuracy_reference") not in (None, "transformers"):
        lines.append(f"Accuracy reference: {entry['accuracy_reference']} (transformers did not run).  ")
    if "best_fp32_anchor" in entry:
        best = entry["best_fp32_anchor"]
        lines.append(
            f"bertkit fp32 against the fastest fp32 anchor ({best}, "
            f"{entry['results'][best]['texts_per_s']:.1f} texts/s): {entry['bertkit_fp32_x_best_fp32_anchor']:.2f}x  "
        )
    if "bertkit_auto_x_bertkit_fp32" in entry:
        lines.append(f"bertkit auto against bertkit fp32 (texts/s): {entry['bertkit_auto_x_bertkit_fp32']:.2f}x  ")
    if "short_p50_beats_every_anchor" in entry:
        fastest = entry["fastest_anchor_short_p50"]
        for name, beats in entry["short_p50_beats_every_anchor"].items():
            mine = entry["results"][name]["short_latency_p50_ms"]
            lines.append(
                f"Short sentence, batch 1, p50: {name} {mine:.2f} ms {'beats' if beats else 'does not beat'} every anchor "
                f"(fastest: {fastest['system']} {fastest['ms']:.2f} ms)  "
            )
    return lines


def write_outputs(report: dict, out_dir: Path) -> None:
    (out_dir / "inference.json").write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(report)
    (out_dir / "inference.md").write_text(table + "\n")
    print(table)
    chart(report, out_dir / "inference.png")
    print(f"wrote {out_dir / 'inference.md'}, inference.json, inference.png")


def chart(report: dict, path: Path) -> None:
    """Texts/s per system and model size; below, where measured, the short sentence's batch-1 p50."""
    from matplotlib.figure import Figure  # no pyplot: no backend switched, no global state
    from matplotlib.ticker import MaxNLocator, StrMethodFormatter

    sizes = list(report["sizes"])
    latency = any("short_latency_p50_ms" in r for size in sizes for r in report["sizes"][size]["results"].values())
    rows = 2 if latency else 1
    fig = Figure(figsize=(6 * len(sizes), 4 * rows))
    axes = fig.subplots(rows, len(sizes), squeeze=False)
    device = "GPU" if report.get("device") == "cuda" else "CPU"
    for column, size in enumerate(sizes):
        results = report["sizes"][size]["results"]
        throughput = f"mean {report['sizes'][size]['mean_tokens']:.0f} tokens, batches of {report['batch_size']}"
        panels = [
            ("texts_per_s", "texts / s (higher is better)", "{:,.0f}", throughput),
            ("short_latency_p50_ms", "ms (lower is better)", "{:,.2f}", "one short sentence, batch 1, p50"),
        ]
        for row, (key, label, number, title) in enumerate(panels[:rows]):
            ax = axes[row][column]
            names = [n for n in results if key in results[n]]
            values = [results[n][key] for n in names]
            colors = ["tab:blue" if n.startswith("bertkit") else "tab:gray" for n in names]
            ax.barh(names, values, color=colors)
            for y, value in enumerate(values):
                ax.text(value, y, " " + number.format(value), va="center")
            ax.xaxis.set_major_locator(MaxNLocator(5))  # GPU rates run to tens of thousands
            ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}" if key == "texts_per_s" else "{x:,.1f}"))
            ax.set_xlim(0, 1.18 * max(values, default=1))  # room for the labels
            ax.set_xlabel(label)
            ax.set_title(f"{size} on {device}: {title}")
            ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
