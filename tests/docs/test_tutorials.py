"""docs/tutorial.ipynb (English) and docs/tutorial_zh.ipynb (Chinese) run top to bottom, offline,
and print exactly what the TF Hub notebook they follow printed.

Each notebook is executed by nbclient in a fresh kernel of this interpreter: the test writes its
own kernelspec (argv = sys.executable) to a temporary JUPYTER_PATH, so `pip install -e '.[dev]'`
(ipykernel, nbclient, nbformat) is all it needs, whatever kernels the machine has. Everything the
kernel writes (the notebook's temporary models, connection files, IPython's profile) goes under
pytest's tmp_path. Any cell error fails the test. Before the notebook's own cells, one cell makes
every non-loopback socket connection raise: a tutorial that reached the network would fail.

Checked on each run:
- the three arrays of the two sentences, as `.numpy()` prints them, equal the reference notebook's
  printed arrays character for character (`input_mask`, `input_type_ids`; the first row of
  `input_word_ids`, which is as far as the reference prints; the second row's ids as numbers);
- every figure cell (one ending in `show(fig)`) put a PNG inline;
- the committed notebook holds the outputs of a run, the same arrays included (they cannot go
  stale: the fresh run must print the same);
- the notebook cleans up after itself: its temporary directory is gone at the end.

The reference's arrays are copied below; when the reference file is present (shared/reference/
beside the repository, as on the developers' machines and in CI), a test checks the copy.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = [ROOT / "docs" / "tutorial.ipynb", ROOT / "docs" / "tutorial_zh.ipynb"]
REFERENCE_DIR = ROOT.parent / "shared" / "reference"
KERNEL = "bertkit-tutorial"

# The reference notebook's outputs of text_preprocessed['input_mask'] / ['input_type_ids'] (after
# "numpy="), verbatim, and of ['input_word_ids'] up to where the reference's text stops.
REFERENCE_MASK = """array([[1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
       [1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
      dtype=int32)"""
REFERENCE_TYPE_IDS = REFERENCE_MASK.replace("1", "0")  # all segment A
REFERENCE_WORD_IDS_START = """array([[  101,  2023,  2003,  1037, 12403,  2213,  5653,   102,     0,
            0,     0,     0,     0,     0,     0,     0,     0,     0,
            0,     0,     0,     0,     0,     0,     0,     0,     0,
            0,     0,     0,     0,     0,     0,     0,     0,     0,
            0,     0,     0,     0,     0,     0,     0,     0,     0,
            0,     0,     0,     0,     0,     0,     0,     0,     0,
            0,     0,     0,     0,     0,     0,     0,     0,     0,
            0,     0,     0,     0,     0,     0,     0,     0,     0,
            0,     0,     0,     0,     0,     0,     0,     0,     0,
            0,     0,     0,     0,     0,     0,     0,     0,     0,
            0,     0,     0,     0,     0,     0,     0,     0,     0,
            0,     0,     0,     0,     0,     0,     0,     0,     0,
            0,     0,     0,     0,     0,     0,     0,     0,     0,
            0,     0,     0, """
# "Computers are not unique to computers": past the reference's printed text; transformers'
# BertTokenizer gives the same ids (tests/parity).
SECOND_SENTENCE_IDS = [101, 7588, 2024, 2025, 4310, 2000, 7588, 102]

# Run first, not saved: the notebooks must not reach the network.
NO_NETWORK = """
import socket as _socket

_connect, _connect_ex = _socket.socket.connect, _socket.socket.connect_ex
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def _refuse_remote(connect):
    def guarded(self, address, *args):
        if self.family in (_socket.AF_INET, _socket.AF_INET6) and address[0] not in _LOOPBACK:
            raise OSError(f"the tutorial tried to reach the network: {address}")
        return connect(self, address, *args)

    return guarded


_socket.socket.connect, _socket.socket.connect_ex = _refuse_remote(_connect), _refuse_remote(_connect_ex)
"""


def test_reference_copy_is_verbatim():
    files = sorted(REFERENCE_DIR.glob("*.txt"))
    if not files:
        pytest.skip(f"no reference notebook in {REFERENCE_DIR}")
    text = "\n".join(path.read_text(encoding="utf-8") for path in files)
    assert REFERENCE_MASK in text
    assert REFERENCE_TYPE_IDS in text
    assert REFERENCE_WORD_IDS_START in text


def _output_text(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output["output_type"] == "stream":
            parts.append(output["text"])
        elif output["output_type"] in ("execute_result", "display_data"):
            parts.append(output["data"].get("text/plain", ""))
    return "".join(parts)


def _result_of(nb, source: str) -> str:
    """The printed output of the code cell whose source is exactly `source`."""
    cells = [cell for cell in nb.cells if cell.cell_type == "code" and cell.source.strip() == source]
    assert len(cells) == 1, f"expected one cell `{source}`, found {len(cells)}"
    return _output_text(cells[0])


def check_reference_arrays(nb) -> None:
    assert _result_of(nb, 'text_preprocessed["input_mask"].numpy()') == REFERENCE_MASK
    assert _result_of(nb, 'text_preprocessed["input_type_ids"].numpy()') == REFERENCE_TYPE_IDS
    word_ids = _result_of(nb, 'text_preprocessed["input_word_ids"].numpy()')
    assert word_ids.startswith(REFERENCE_WORD_IDS_START)
    numbers = [int(n) for n in re.findall(r"\d+", word_ids.removesuffix("dtype=int32)"))]
    assert len(numbers) == 2 * 128
    rows = np.array(numbers).reshape(2, 128)
    assert rows[1, :8].tolist() == SECOND_SENTENCE_IDS and not rows[1, 8:].any()
    assert rows[0, :8].tolist() == [101, 2023, 2003, 1037, 12403, 2213, 5653, 102] and not rows[0, 8:].any()


def check_figures(nb) -> None:
    figure_cells = [
        cell for cell in nb.cells if cell.cell_type == "code" and re.search(r"^show\(fig\)$", cell.source, re.M)
    ]
    assert figure_cells, "the tutorial draws no figure"
    for cell in figure_cells:
        images = [o for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
        assert len(images) == 1, f"no inline PNG from:\n{cell.source[:200]}"


@pytest.fixture
def kernel(tmp_path, monkeypatch):
    """A kernelspec for this interpreter, and every file the kernel writes under tmp_path."""
    spec = tmp_path / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": KERNEL, "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "matplotlib"))
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the notebook's tempfile.mkdtemp() work directory
    # One PyTorch thread: the suite runs 2 workers on 2 cores (tests/conftest.py), and the kernel is a
    # process of its own that would otherwise start one thread per core.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    yield KERNEL
    # the notebook's last cell removes its models (~360 MB); not when a cell before it failed
    for work in tmp_path.glob("bertkit-tutorial-*"):
        shutil.rmtree(work, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_tutorial_runs_offline_and_prints_the_reference_arrays(path, kernel, tmp_path):
    committed = nbformat.read(path, as_version=4)
    check_reference_arrays(committed)  # saved with the outputs of a run
    check_figures(committed)

    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(NO_NETWORK))
    client = NotebookClient(
        nb, kernel_name=kernel, timeout=600, allow_errors=False, resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    errors = [o for cell in nb.cells for o in cell.get("outputs", []) if o["output_type"] == "error"]
    assert not errors
    check_reference_arrays(nb)
    check_figures(nb)
    assert not list(tmp_path.glob("bertkit-tutorial-*")), "the notebook left its models behind"
