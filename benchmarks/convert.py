"""`bertkit convert` on a bert-base-sized Google checkpoint: time, peak memory, and the result checked.

    python benchmarks/convert.py           # a table; the checkpoint is made once (TF venv, ~20 s)
    python benchmarks/convert.py --json    # the same figures as JSON

The checkpoint is Google's release layout (`bert_model.ckpt.*` in TF1 names, `bert_config.json`,
`vocab.txt`): 12 layers, hidden 768, vocabulary 30522, masked-LM and NSP heads, float32, random
weights, written by TensorFlow's own `Saver` in the oracle's venv (tests/tfhub/README.md) into
$BERTKIT_CACHE/bench-convert (default ~/.cache/bertkit).

Each run is a fresh Python process that imports bertkit and torch (not timed, but in the wall
time), then runs `bertkit convert` through `bertkit.cli.main`. It reports its peak resident
memory (VmHWM) above what it held after the imports, and how that memory splits into anonymous
pages (copies this process made) and file-backed ones (the checkpoint's memory-mapped data
file: page cache, shared, reclaimable), sampled from /proc/self/status every few milliseconds.
The first run starts with the checkpoint evicted from the page cache (posix_fadvise
DONTNEED: "cold"), the others find it there ("warm").

Then `transformers` loads the converted directory (`BertForPreTraining.from_pretrained`, fresh
processes, import not timed), and its masked-LM and NSP logits are compared with those of
bertkit reading the TensorFlow checkpoint itself.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

CACHE = Path(os.environ.get("BERTKIT_CACHE", Path.home() / ".cache" / "bertkit"))
TF_PYTHON = CACHE / "tf-oracle" / "venv" / "bin" / "python"
SHAPE = {"num_hidden_layers": 12, "hidden_size": 768, "num_attention_heads": 12, "intermediate_size": 3072}
SHAPE |= {"vocab_size": 30522, "max_position_embeddings": 512, "type_vocab_size": 2}

# Run in the TF venv: Google's variable names and layout, saved by tf.compat.v1's Saver as
# Google's run_pretraining.py did (values fed through placeholders, so the .meta stays small).
GENERATOR = """
import json, shutil, sys
import numpy as np
import tensorflow as tf

out, vocab, shape = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
H, I, V = shape["hidden_size"], shape["intermediate_size"], shape["vocab_size"]
rng = np.random.default_rng(0)
normal = lambda *s: (rng.standard_normal(s, dtype=np.float32) * 0.02)
norm = lambda prefix: {prefix + "/gamma": 1 + normal(H), prefix + "/beta": normal(H)}
dense = lambda prefix, n_in, n_out: {prefix + "/kernel": normal(n_in, n_out), prefix + "/bias": normal(n_out)}
g = {"bert/embeddings/word_embeddings": normal(V, H),
     "bert/embeddings/position_embeddings": normal(shape["max_position_embeddings"], H),
     "bert/embeddings/token_type_embeddings": normal(shape["type_vocab_size"], H),
     **norm("bert/embeddings/LayerNorm"), **dense("bert/pooler/dense", H, H)}
for i in range(shape["num_hidden_layers"]):
    layer = f"bert/encoder/layer_{i}/"
    for part in ("query", "key", "value"):
        g |= dense(layer + "attention/self/" + part, H, H)
    g |= dense(layer + "attention/output/dense", H, H) | norm(layer + "attention/output/LayerNorm")
    g |= dense(layer + "intermediate/dense", H, I) | dense(layer + "output/dense", I, H)
    g |= norm(layer + "output/LayerNorm")
g |= dense("cls/predictions/transform/dense", H, H) | norm("cls/predictions/transform/LayerNorm")
g |= {"cls/predictions/output_bias": normal(V), "cls/seq_relationship/output_weights": normal(2, H),
      "cls/seq_relationship/output_bias": normal(2), "global_step": np.int64(0)}
with tf.Graph().as_default():
    feeds, variables = {}, {}
    for name, value in g.items():
        initial = tf.compat.v1.placeholder(tf.as_dtype(value.dtype), value.shape)
        variables[name] = tf.compat.v1.Variable(initial, name=name)
        feeds[initial] = value
    saver = tf.compat.v1.train.Saver(var_list=variables)
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer(), feed_dict=feeds)
        saver.save(sess, out + "/bert_model.ckpt", write_state=False)
shutil.copyfile(vocab, out + "/vocab.txt")
config = dict(shape, hidden_act="gelu", hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
              initializer_range=0.02)
open(out + "/bert_config.json", "w").write(json.dumps(config, indent=2) + "\\n")
print(sum(v.size for v in g.values()) - 1)
"""

CONVERT = """
import json, sys, threading, time
import bertkit.checkpoint.convert  # with torch: what `bertkit convert` imports before it works
from bertkit.cli import main

def status():
    lines = open("/proc/self/status").read().splitlines()
    return {k: int(v.split()[0]) / 1024 for k, v in (l.split(":", 1) for l in lines) if k.startswith(("Vm", "Rss"))}

base, peak, done = status(), {"RssAnon": 0.0, "RssFile": 0.0}, threading.Event()
def sample():  # the peak of each kind; VmHWM (the kernel's own) is exact for their sum
    while not done.wait(0.003):
        now = status()
        for key in peak:
            peak[key] = max(peak[key], now[key])
sampler = threading.Thread(target=sample)
sampler.start()
start = time.perf_counter()
code = main(["convert", sys.argv[1], sys.argv[2]])
seconds = time.perf_counter() - start
done.set()
sampler.join()
end = status()
print(json.dumps({"code": code, "seconds": seconds, "base_mib": base["VmRSS"], "peak_mib": end["VmHWM"],
                  "growth_mib": end["VmHWM"] - base["VmRSS"], "anon_mib": peak["RssAnon"] - base["RssAnon"],
                  "file_mib": peak["RssFile"] - base["RssFile"]}))
"""

LOAD = """
import json, sys, time
from transformers import BertForPreTraining
start = time.perf_counter()
BertForPreTraining.from_pretrained(sys.argv[1]).eval()
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def make_checkpoint(directory: Path) -> Path:
    """The bert-base-sized Google checkpoint, written once by TensorFlow (`.complete` when done)."""
    if (directory / ".complete").is_file():
        return directory
    if not TF_PYTHON.is_file():
        sys.exit(f"{TF_PYTHON}: no TensorFlow venv; `pytest tests/tfhub` builds it (tests/tfhub/README.md)")
    from bertkit.bundled import default_model_dir  # its 30522-token uncased vocabulary

    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    vocab = default_model_dir() / "vocab.txt"
    start = time.perf_counter()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    command = [str(TF_PYTHON), "-c", GENERATOR, str(directory), str(vocab), json.dumps(SHAPE)]
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode:
        sys.exit(f"the TensorFlow generator failed:\n{done.stderr[-3000:]}")
    parameters = int(done.stdout.split()[-1])
    print(
        f"wrote {directory}: {parameters / 1e6:.1f}M parameters in {time.perf_counter() - start:.0f} s", file=sys.stderr
    )
    (directory / ".complete").write_text(f"{parameters}\n")
    return directory


def evict(directory: Path) -> None:
    """Drop the directory's files from the page cache (clean pages only, hence the sync)."""
    os.sync()
    for path in directory.iterdir():
        with open(path, "rb") as f:
            os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def measure_convert(source: Path, destination: Path, runs: int) -> list[dict]:
    results = []
    for run in range(runs):
        shutil.rmtree(destination, ignore_errors=True)
        cold = run == 0
        if cold:
            evict(source)
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", CONVERT, str(source), str(destination)], capture_output=True, text=True
        )
        wall = time.perf_counter() - start
        if done.returncode:
            sys.exit(f"bertkit convert failed:\n{done.stderr[-3000:]}")
        results.append(
            {"cache": "cold" if cold else "warm", "wall_s": wall, **json.loads(done.stdout.splitlines()[-1])}
        )
    return results


def transformers_load_seconds(directory: Path, runs: int) -> float:
    times = []
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-c", LOAD, str(directory)], capture_output=True, text=True, check=True)
        times.append(json.loads(done.stdout.splitlines()[-1])["seconds"])
    return statistics.median(times)


def max_abs_diff(google: Path, converted: Path) -> dict[str, float]:
    """MLM and NSP logits: bertkit on the TF checkpoint against transformers on the converted directory."""
    import torch
    from transformers import BertForPreTraining

    from bertkit.checkpoint import load_pretraining

    torch.manual_seed(0)
    ids = torch.randint(1000, SHAPE["vocab_size"], (4, 128))
    mask = torch.ones_like(ids)
    mask[2:, 100:] = 0
    types = torch.zeros_like(ids)
    types[:, 64:] = 1
    ours = load_pretraining(google)[0].eval()
    theirs = BertForPreTraining.from_pretrained(converted).eval()
    with torch.no_grad():
        a = ours(ids, mask, types)
        b = theirs(input_ids=ids, attention_mask=mask, token_type_ids=types)
    real = mask.bool()  # logits at padding positions are unspecified
    return {
        "mlm_logits": (a.mlm_logits[real] - b.prediction_logits[real]).abs().max().item(),
        "nsp_logits": (a.nsp_logits - b.seq_relationship_logits).abs().max().item(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="conversions (the first cold), transformers loads")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    work = CACHE / "bench-convert"
    google = make_checkpoint(work / "google")
    destination = work / "converted"
    weights_mib = sum(p.stat().st_size for p in google.glob("bert_model.ckpt.data-*")) / 2**20
    runs = measure_convert(google, destination, args.runs)
    result = {
        "cpu": subprocess.run(
            [sys.executable, "-m", "bertkit", "info"], capture_output=True, text=True
        ).stdout.splitlines()[:3],
        "checkpoint_data_mib": weights_mib,
        "safetensors_mib": (destination / "model.safetensors").stat().st_size / 2**20,
        "convert": runs,
        "transformers_load_s": transformers_load_seconds(destination, args.runs),
        "max_abs_diff": max_abs_diff(google, destination),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print("\n".join(result["cpu"]))
    print(
        f"bert-base-sized Google checkpoint (L12 H768 A12, vocab 30522, MLM + NSP heads): "
        f"data file {weights_mib:.0f} MiB -> model.safetensors {result['safetensors_mib']:.0f} MiB"
    )
    print(f"{'run':<10}{'wall s':>8}{'convert s':>11}{'peak RSS MiB':>14}{'above imports':>15}{'anon':>7}{'file':>7}")
    for i, r in enumerate(runs, 1):
        print(
            f"{i} {r['cache']:<8}{r['wall_s']:>8.2f}{r['seconds']:>11.2f}{r['peak_mib']:>14.0f}"
            f"{r['growth_mib']:>15.0f}{r['anon_mib']:>7.0f}{r['file_mib']:>7.0f}"
        )
    growth = statistics.median(r["growth_mib"] for r in runs)
    print(f"peak above imports / weights on disk: {growth / weights_mib:.2f} (median)")
    print(f"transformers BertForPreTraining.from_pretrained: {result['transformers_load_s']:.2f} s (median)")
    diff = result["max_abs_diff"]
    print(f"max abs diff, bertkit on the TF checkpoint vs transformers on the converted directory: "
          f"MLM logits {diff['mlm_logits']:.1e}, NSP logits {diff['nsp_logits']:.1e}")  # fmt: skip


if __name__ == "__main__":
    main()
