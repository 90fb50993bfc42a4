"""The `tf_oracle` fixture: TensorFlow's answers on ~21k real and hostile texts, built once.

Every test under tests/tfhub gets the `tfhub` marker (`pytest -m tfhub` selects them,
`-m "not tfhub"` leaves out the 3.4 GB TF environment). When the TF environment cannot be made
here, the fixture skips with the reason, except under CI=true, where it fails.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tfhub.inputs import oracle_inputs
from tfhub.oracle import OracleUnavailable, TfOracle, build_oracle

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.tfhub)


@pytest.fixture(scope="session")
def tf_oracle() -> TfOracle:
    """TensorFlow's preprocessing, encoder and Google-checkpoint outputs (see tests/tfhub/README.md)."""
    texts, pairs, encoder_texts = oracle_inputs()
    try:
        path = build_oracle(texts, pairs, encoder_texts)
    except OracleUnavailable as e:
        if os.environ.get("CI") == "true":
            pytest.fail(f"TensorFlow oracle unavailable under CI: {e}")
        pytest.skip(f"TensorFlow oracle unavailable: {e}")
    return TfOracle(path, texts, pairs, encoder_texts)
