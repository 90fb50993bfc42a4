"""bertkit/tf_files/saved_model.py: a tf_keras SavedModel's variables, assets and Keras metadata."""

from __future__ import annotations

import doctest
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from tf_encode import field

from bertkit.errors import CheckpointError
from bertkit.tf_files import saved_model as saved_model_module
from bertkit.tf_files.saved_model import SavedModel

DATA = Path(__file__).parent / "data" / "saved_model"
EXPECTED = json.loads((DATA.parent / "expected.json").read_text())["saved_model"]
ARRAYS = np.load(DATA.parent / "expected.npz")


@pytest.mark.parametrize("layout", ["keras", "legacy"])  # keras_metadata.pb, or inside saved_model.pb
def test_keras_metadata_equals_what_tf_keras_wrote(layout):
    layers = SavedModel(DATA / layout).keras_metadata()
    assert layers == {node["path"]: json.loads(node["metadata"]) for node in EXPECTED["keras_metadata"]}
    assert layers["root.layer-1"]["config"]["lower_case"] is True
    assert layers["root.layer_with_weights-1"]["config"]["activation"] == "gelu"


def test_object_graph_variables_and_assets():
    model = SavedModel(DATA / "keras")
    kinds = [node.kind for node in model.objects]
    assert kinds[0] == "user_object" and model.objects[0].identifier == "_tf_keras_network"
    assert {"asset", "variable", "function"} <= set(kinds)
    assert {node.variable_name for node in model.objects if node.kind == "variable"} == {
        "embed/embeddings",
        "dense/kernel",
        "dense/bias",
    }
    assert (model.assets / "vocab.txt").read_text().split() == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello", "world"]
    for name, want in EXPECTED["variables"]["tensors"].items():
        if want["dtype"] == "float32":
            tf_value = ARRAYS[f"saved_model/keras/variables/variables:{name}"]
            np.testing.assert_array_equal(model.variables.tensor(name).numpy(), tf_value)
    by_name = model.variables_by_name()
    assert by_name == {
        "embed/embeddings": "layer_with_weights-0/embeddings/.ATTRIBUTES/VARIABLE_VALUE",
        "dense/kernel": "layer_with_weights-1/kernel/.ATTRIBUTES/VARIABLE_VALUE",
        "dense/bias": "layer_with_weights-1/bias/.ATTRIBUTES/VARIABLE_VALUE",
    }


def test_not_a_saved_model(tmp_path):
    with pytest.raises(CheckpointError, match="not a SavedModel: no saved_model.pb$"):
        SavedModel(tmp_path)
    (tmp_path / "saved_model.pbtxt").write_text("saved_model_schema_version: 1")
    with pytest.raises(CheckpointError, match="pbtxt is not read"):
        SavedModel(tmp_path)


def copy(tmp_path, layout="keras") -> Path:
    shutil.copytree(DATA / layout, tmp_path / layout)
    return tmp_path / layout


def one_line_error(read, name) -> str:
    with pytest.raises(CheckpointError) as error:
        read()
    message = str(error.value)
    assert "\n" not in message and str(name) in message, message
    return message


def test_a_truncated_saved_model_pb(tmp_path):
    directory = copy(tmp_path, "legacy")
    graph = directory / "saved_model.pb"
    graph.write_bytes(graph.read_bytes()[:5000])
    assert "not a valid saved_model message" in one_line_error(lambda: SavedModel(directory).keras_metadata(), graph)
    graph.write_bytes(field(1, 1))  # only a schema version, no MetaGraphDef
    assert "holds no MetaGraphDef" in one_line_error(lambda: SavedModel(directory).objects, graph)


def test_metadata_that_is_not_json(tmp_path):
    directory = copy(tmp_path)
    source = directory / "keras_metadata.pb"
    source.write_bytes(field(1, field(2, 0) + field(3, "root") + field(5, "{not json")))
    assert "Keras metadata is not JSON" in one_line_error(lambda: SavedModel(directory).keras_metadata(), source)


def test_missing_variables(tmp_path):
    directory = copy(tmp_path)
    shutil.rmtree(directory / "variables")
    assert "no such file" in one_line_error(lambda: SavedModel(directory).variables, "variables.index")


def test_docstring_example(monkeypatch):
    monkeypatch.chdir(Path(__file__).parents[2])
    result = doctest.testmod(saved_model_module)
    assert result.attempted and not result.failed
