"""TensorFlow as a test oracle, driven from bertkit's venv without importing TensorFlow.

`build_oracle(texts, pairs, encoder_texts)` makes (once) a virtual environment of its own with
TensorFlow, tensorflow-text, tensorflow-hub and tf-models-official at pinned versions, runs
`export_oracle.py` in it, and returns the folder of what TensorFlow wrote: TF Hub preprocessing
and encoder SavedModels made by tf-models' own exporter, a Google-format BERT checkpoint, and
their outputs on the inputs as .npz files (export_oracle.py's docstring lists them). Results are
cached by a hash of the inputs, the export script, the model files and the pinned versions.

    cache = $BERTKIT_CACHE/tf-oracle (default ~/.cache/bertkit/tf-oracle)
    cache/venv/            the TF environment (~3.4 GB), `cache/venv/.complete` once it imports
    cache/work/<key>/out/  one oracle run: preprocess/, encoder/, google/, *.npz, oracle.json

One file lock (fcntl) serialises all of it, so pytest-xdist workers build everything once.
"""

from __future__ import annotations

import dataclasses
import fcntl
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from bertkit.bundled import default_model_dir

# The versions that reproduce TF Hub's exporter; one line of pip arguments.
PINS = (
    "tensorflow==2.20.0",
    "tensorflow-text==2.20.0",
    "tensorflow-hub==0.16.1",
    "tf-models-official==2.20.0",
    "tf-keras==2.20.1",
    "safetensors==0.8.0",
)
PIP_TIMEOUT_S = 1800  # ~2 min on a fast link; a slow mirror may take many times that
EXPORT_TIMEOUT_S = 1800  # ~1 min for 20k texts on 2 cores
EXPORT_SCRIPT = Path(__file__).with_name("export_oracle.py")
MODEL_FILES = ("config.json", "vocab.txt", "model.safetensors")


class OracleUnavailable(RuntimeError):
    """The TF environment cannot be made or cannot import TensorFlow here (the message says why)."""


class OracleFailed(RuntimeError):
    """TensorFlow ran but the export script failed: a bug in the oracle, never a reason to skip."""


@dataclasses.dataclass(frozen=True)
class TfOracle:
    """What `tf_oracle` gives a test: the output folder and the inputs it was computed on."""

    path: Path
    texts: list[str]
    pairs: list[tuple[str, str]]
    encoder_texts: list[str]

    @property
    def preprocess_dir(self) -> Path:  # TF Hub preprocessing SavedModel
        return self.path / "preprocess"

    @property
    def encoder_dir(self) -> Path:  # TF Hub encoder SavedModel (MiniLM's weights, tanh GELU)
        return self.path / "encoder"

    @property
    def google_dir(self) -> Path:  # bert_model.ckpt.* + bert_config.json + vocab.txt
        return self.path / "google"

    @functools.cached_property
    def preprocess(self) -> dict[str, np.ndarray]:
        return dict(np.load(self.path / "preprocess.npz"))

    @functools.cached_property
    def encoder(self) -> dict[str, np.ndarray]:
        return dict(np.load(self.path / "encoder.npz"))

    @functools.cached_property
    def google(self) -> dict[str, np.ndarray]:
        return dict(np.load(self.path / "google.npz"))

    def tokens(self, i: int) -> list[int]:
        """TF Hub's wordpiece ids of texts[i] (`preprocessor.tokenize`, no special tokens)."""
        lengths = self.preprocess["tokens_per_text"]
        start = int(lengths[:i].sum())
        return self.preprocess["token_ids"][start : start + int(lengths[i])].tolist()


def cache_dir() -> Path:
    return Path(os.environ.get("BERTKIT_CACHE") or Path.home() / ".cache" / "bertkit") / "tf-oracle"


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive fcntl lock on `path` for the block; other processes wait for it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def system_python() -> str:
    """The interpreter this venv was made from (TF 2.20 has wheels for 3.9-3.13)."""
    name = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (Path(sys.base_prefix) / "bin" / name, Path(sys.base_prefix) / "bin" / "python3"):
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name) or shutil.which("python3")
    if not found:
        raise OracleUnavailable(
            f"no {name} or python3 to make the TF venv from (looked in {sys.base_prefix}/bin, PATH)"
        )
    return found


def _run(cmd: Sequence[str], what: str, timeout: int, env: dict | None = None, error=OracleUnavailable) -> None:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise error(f"{what}: no result after {timeout} s") from None
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise error(f"{what} failed (exit {done.returncode}):\n{tail}")


def ensure_venv(cache: Path) -> Path:
    """The TF venv's python, made if absent or half made (no `.complete` marker). Call under the lock."""
    venv = cache / "venv"
    marker, python = venv / ".complete", venv / "bin" / "python"
    if marker.exists() and marker.read_text() == " ".join(PINS) and python.exists():
        return python
    shutil.rmtree(venv, ignore_errors=True)
    _run([system_python(), "-m", "venv", str(venv)], "python -m venv", 300)
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    _run([*pip, *PINS], f"pip install {' '.join(PINS)} (network or index unreachable?)", PIP_TIMEOUT_S)
    check = "import tensorflow, tensorflow_text, tensorflow_hub, official.nlp.tools.export_tfhub_lib, safetensors"
    _run([str(python), "-c", check], "importing TensorFlow in the new venv (CPU without AVX?)", 600, _tf_env())
    marker.write_text(" ".join(PINS))
    return python


def _tf_env() -> dict:
    # No GPU (CUDA probing is slow and noisy, and the oracle is CPU float32); C++ logs quiet.
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")


def _check_encodable(kind: str, texts: Sequence[str]) -> None:
    for i, text in enumerate(texts):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:
            raise ValueError(
                f"{kind}[{i}] = {text[:40]!r} has a lone surrogate ({e.reason}); TensorFlow strings are "
                "UTF-8 bytes, so it cannot be fed to TF: drop such texts before calling build_oracle"
            ) from None


def build_oracle(
    texts: list[str], pairs: list[tuple[str, str]], encoder_texts: list[str], model_dir: Path | None = None
) -> Path:
    """Run TensorFlow's side on these inputs (cached) and return its output folder.

    Texts may hold any Unicode, NUL and control characters included, but no lone surrogates
    (TF strings are UTF-8 bytes): those raise ValueError naming the text. `model_dir` defaults to
    the bundled all-MiniLM-L6-v2. Raises OracleUnavailable when the TF venv cannot be made here,
    OracleFailed when the export itself fails.
    """
    _check_encodable("texts", texts)
    _check_encodable("pairs", [t for pair in pairs for t in pair])
    _check_encodable("encoder_texts", encoder_texts)
    model_dir = Path(model_dir or default_model_dir())
    inputs = json.dumps({"texts": texts, "pairs": [list(p) for p in pairs], "encoder_texts": encoder_texts}).encode()
    key = hashlib.sha256(inputs + EXPORT_SCRIPT.read_bytes() + " ".join(PINS).encode())
    for name in MODEL_FILES:
        key.update((model_dir / name).read_bytes())
    cache = cache_dir()
    work = cache / "work" / key.hexdigest()[:16]
    with locked(cache / "lock"):
        if (work / "out" / "oracle.json").exists():
            return work / "out"
        python = ensure_venv(cache)
        work.mkdir(parents=True, exist_ok=True)
        (work / "inputs.json").write_bytes(inputs)
        start = time.perf_counter()
        cmd = [str(python), str(EXPORT_SCRIPT), str(work), str(model_dir)]
        _run(cmd, f"export_oracle.py in {work}", EXPORT_TIMEOUT_S, _tf_env(), OracleFailed)
        manifest = json.loads((work / "out" / "oracle.json").read_text())
        manifest["timings"]["total_s"] = round(time.perf_counter() - start, 2)
        (work / "out" / "oracle.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return work / "out"
