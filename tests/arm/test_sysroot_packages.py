"""tests/arm/run.sh builds its aarch64 Python from a fixed list of PyPI wheels, and runs outside
`make test` (~5 min of emulation). This keeps that list honest from any machine: tests/arm/check.py
runs natively here with every import outside the standard library, bertkit and those wheels
refused, as the sysroot would refuse it, and must still pass. (When loading a checkpoint came to
need google-crc32c, the emulated ARM run broke on that import, and nothing else saw it.)
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys
from pathlib import Path

ARM = Path(__file__).parent
ROOT = ARM.parents[1]

# check.py, its exit status the process's, behind a finder that refuses top-level modules not in `allowed`.
PROBE = """
import importlib.abc, json, runpy, sys
from bertkit.bundled import resolve_model_dir

allowed, check = set(json.loads(sys.argv[1])), sys.argv[2]
model = str(resolve_model_dir(None))  # as run.sh does, outside the sysroot

class OnlyTheSysroot(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in allowed or top in sys.stdlib_module_names or top == "bertkit":
            return None
        raise ModuleNotFoundError(f"No module named {top!r} (not in the ARM sysroot)", name=top)

sys.meta_path.insert(0, OnlyTheSysroot())
sys.argv = [check, model]
runpy.run_path(check, run_name="__main__")
"""


def wheels_of_the_sysroot() -> list[str]:
    """The distributions run.sh downloads (`torch==2.9.1` -> torch)."""
    script = (ARM / "run.sh").read_text()
    names = []
    for variable in ("AARCH64_WHEELS", "PURE_WHEELS"):
        listed = re.search(rf'^{variable}="([^"]*)"', script, re.MULTILINE)
        assert listed, f"run.sh sets no {variable}"
        names += [re.split(r"[=<>]", wheel)[0] for wheel in listed.group(1).split()]
    return names


def top_level_modules(distribution: str) -> set[str]:
    """The importable top-level names of an installed distribution (packages and single modules)."""
    names = set()
    for file in importlib.metadata.distribution(distribution).files or []:
        top = file.parts[0]
        if top == ".." or top.endswith((".dist-info", ".data", ".pth")):
            continue
        names.add(top if len(file.parts) > 1 else top.split(".")[0])  # module.py, module.cpython-311-...so
    return names


def test_the_arm_check_passes_with_only_the_packages_of_its_sysroot():
    allowed = set().union(*map(top_level_modules, wheels_of_the_sysroot()))
    assert {"torch", "numpy"} <= allowed  # the list was read
    command = [sys.executable, "-c", PROBE, json.dumps(sorted(allowed)), str(ARM / "check.py")]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    # 0: every precision within its guard, the encoder's outputs; 1: one outside it; else an error
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
