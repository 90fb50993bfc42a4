"""The examples in the training modules' docstrings run and print what they say."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "bertkit.train.loop",
    "bertkit.train.options",
    "bertkit.train.pretrain",
    "bertkit.train.metrics",
    "bertkit.data.batches",
    "bertkit.data.labeled",
    "bertkit.preprocessing.encoding",
    "bertkit.modeling.classification",
    "bertkit.checkpoint.task",
    "bertkit.checkpoint.pretraining",
    "bertkit.checkpoint.names",
    "bertkit.train.finetune",  # fine-tunes the bundled MiniLM on 16 rows and predicts
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
