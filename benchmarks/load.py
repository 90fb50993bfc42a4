"""Load time and peak memory of a bert-base-sized checkpoint: bertkit against transformers.

    python benchmarks/load.py            # writes a random L12 H768 A12 model to a temp dir, then
                                         # loads it in fresh processes, 3 runs each, medians

Each measurement is a fresh Python process that imports its library first (not timed), then
loads the directory (timed) and reports its peak resident memory above what it held after
the imports. bertkit builds the model on the `meta` device and hands it the safetensors
file's memory-mapped tensors, so loading allocates (almost) nothing and initialises nothing;
the pages are read from the page cache when first used, and shared with other processes
that map the same file. "after forward" runs one (8, 128) batch, which touches every weight.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

RUNS = 3

LOADERS = {
    "bertkit": ("from bertkit import Encoder", "Encoder.from_pretrained(DIR)",
                "model({'input_word_ids': ids, 'input_mask': mask, 'input_type_ids': 0 * ids})"),
    "transformers": ("from transformers import BertModel", "BertModel.from_pretrained(DIR).eval()",
                     "model(input_ids=ids, attention_mask=mask)"),
}  # fmt: skip

CHILD = """
import json, time, torch
{imports}
DIR = {directory!r}
def peak_mib():  # VmHWM: this process's peak resident memory (ru_maxrss would include its parent's)
    status = open("/proc/self/status").read()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024
base = peak_mib()
start = time.perf_counter()
model = {load}
seconds = time.perf_counter() - start
after_load = peak_mib() - base
ids = torch.randint(1000, 2000, (8, 128)); mask = torch.ones_like(ids)
with torch.no_grad():
    {forward}
print(json.dumps({{"seconds": seconds, "load_mib": after_load, "forward_mib": peak_mib() - base}}))
"""


def measure(name: str, directory: Path) -> dict[str, float]:
    imports, load, forward = LOADERS[name]
    code = CHILD.format(imports=imports, directory=str(directory), load=load, forward=forward)
    runs = []
    for _ in range(RUNS):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def main() -> None:
    import torch
    import transformers

    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "bert-base-random"
        torch.manual_seed(0)
        config = transformers.BertConfig(
            hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072
        )
        transformers.BertModel(config).save_pretrained(directory)
        size_mib = (directory / "model.safetensors").stat().st_size / 2**20
        print(f"bert-base-sized checkpoint (L12 H768 A12, vocab 30522): model.safetensors {size_mib:.0f} MiB")
        results = {name: measure(name, directory) for name in LOADERS}
    print(
        f"{'loader':<14}{'load s':>9}{'peak MiB after load':>22}{'peak MiB after forward':>25}   (medians of {RUNS} fresh processes)"
    )
    for name, r in results.items():
        print(f"{name:<14}{r['seconds']:>9.3f}{r['load_mib']:>22.0f}{r['forward_mib']:>25.0f}")
    ours, theirs = results["bertkit"], results["transformers"]
    print(
        f"bertkit / transformers: load time x{ours['seconds'] / theirs['seconds']:.2f}, "
        f"peak memory after load x{ours['load_mib'] / max(theirs['load_mib'], 1):.2f}"
    )


if __name__ == "__main__":
    main()
