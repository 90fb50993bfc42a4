"""Time and memory of reading every tensor of a checkpoint (each with its CRC32C check).

    /work/tfo/venv/bin/python tests/tf_files/make_fixtures.py --bert-base /tmp/bert_base
    .venv/bin/python tests/tf_files/measure_bundle.py /tmp/bert_base/bert_model.ckpt

Memory is read from /proc/self/status: RssAnon is memory the process allocated (copies),
RssFile the checkpoint's pages mapped in from the page cache (shared, not copied).
"""

from __future__ import annotations

import sys
import time

from bertkit.tf_files.bundle import TensorBundle


def memory() -> dict[str, int]:
    """VmHWM (peak), RssAnon and RssFile of this process, in MiB."""
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return {key: int(fields[key].split()[0]) // 1024 for key in ("VmHWM", "RssAnon", "RssFile")}


def main(prefix: str) -> None:
    before = memory()
    start = time.perf_counter()
    bundle = TensorBundle(prefix)
    opened = time.perf_counter()
    tensors = {name: bundle.tensor(name) for name in bundle.names()}
    done = time.perf_counter()
    size = sum(t.numel() * t.element_size() for t in tensors.values())
    print(f"{len(tensors)} tensors, {size / 1e6:.0f} MB: open {opened - start:.3f} s, read all {done - opened:.3f} s")
    print(f"memory MiB before {before}, holding every tensor {memory()}")


if __name__ == "__main__":
    main(sys.argv[1])
