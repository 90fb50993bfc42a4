"""Build the TensorFlow oracle ahead of the tests: `python tests/tfhub/build.py` (from the main venv).

`make test` starts this in the background while the rest of the suite runs, so the tfhub tests
find the TF environment and TensorFlow's answers ready instead of waiting ~3 minutes for them.
Exit 0 when built (or cached), 3 when TensorFlow cannot be installed here (the reason on stderr).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).parents[1])]  # tests/: corpora.py and this package

from tfhub.inputs import oracle_inputs  # noqa: E402
from tfhub.oracle import OracleUnavailable, build_oracle  # noqa: E402

if __name__ == "__main__":
    start = time.perf_counter()
    try:
        path = build_oracle(*oracle_inputs())
    except OracleUnavailable as e:
        print(f"tf oracle: unavailable: {e}", file=sys.stderr)
        sys.exit(3)
    print(f"tf oracle: {path} ({time.perf_counter() - start:.0f} s)")
