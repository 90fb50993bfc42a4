"""What tests/arm/run.sh runs on the emulated aarch64 CPU: the probe, then every precision
(and auto) at batch 1 and 32 against fp32, and the encoder's TF Hub outputs. Exits 1 on a
precision outside its guard (cosine 0.999 bf16, 0.99 int8) or any error."""

import platform
import sys
import time

import torch

import bertkit
from bertkit.inference import cpu, fused_layer

start = time.time()
model = sys.argv[1]
features = cpu.detect()
print(platform.machine(), "torch", torch.__version__, "|", features.isa_line(), flush=True)
print(
    "C layer:",
    fused_layer.unavailable_reason() or fused_layer.library().variant,
    "| auto:",
    features.auto_precision(),
    flush=True,
)
texts = ["This is a spam mail", "Computers are not unique to computers", "Das ist ein Satz über Äpfel.", "ok " * 60]
reference = bertkit.load(model, precision="fp32")
fp32 = reference.embed(texts, pooling="mean", normalize=True)
failed = False
for precision, floor in (("bf16", 0.999), ("int8", 0.99), ("auto", 0.99)):
    for batch_size in (1, 32):
        loaded = bertkit.load(model, precision=precision)
        cosine = float((loaded.embed(texts, pooling="mean", normalize=True, batch_size=batch_size) * fp32).sum(1).min())
        failed |= cosine < floor
        print(f"{precision} (runs {loaded.precision}), batch {batch_size}: min cosine to fp32 {cosine:.6f}", flush=True)
outputs = reference.encoder(reference.preprocessor(texts[:2]))
print("encoder outputs:", sorted(outputs), f"({time.time() - start:.0f} s)")
sys.exit(1 if failed else 0)
