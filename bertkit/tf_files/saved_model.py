"""A SavedModel directory (TF2's `tf.saved_model.save`, tf_keras' `model.save`), read without TF.

    saved_model.pb        a serialised SavedModel: meta_graphs[0] (a MetaGraphDef) holds the graph,
                          signatures, and `object_graph_def` (a SavedObjectGraph): every saved
                          object -- layers, variables, functions, assets -- as a node with named
                          children, node 0 the root
    keras_metadata.pb     (tf_keras 2.5+) a SavedMetadata: per Keras layer its node, path
                          ("root.layer-1") and metadata, the JSON of its class and `get_config()`
    variables/variables.index, .data-00000-of-00001
                          the variables: a TF2 checkpoint (bundle.py)
    assets/               files the model needs, such as a vocabulary

Older writers (TF <= 2.4) put that Keras JSON in saved_model.pb instead, in each layer's
SavedUserObject.metadata; `keras_metadata()` reads whichever the directory has.

>>> model = SavedModel("tests/tf_files/data/saved_model/keras")
>>> layers = model.keras_metadata()
>>> layers["root.layer-1"]["config"]["lower_case"], layers["root.layer_with_weights-1"]["config"]["activation"]
(True, 'gelu')
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path

from bertkit.errors import CheckpointError
from bertkit.tf_files.bundle import TensorBundle, object_paths
from bertkit.tf_files.protobuf import KerasObject, SavedObject, parse, read_keras_metadata, read_saved_model


class SavedModel:
    """A SavedModel directory: `variables` (a TensorBundle), `assets`, the object graph and the
    Keras metadata. Problems raise `CheckpointError` naming the file."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.graph_file = self.directory / "saved_model.pb"
        if not self.graph_file.is_file():
            text = " (a text saved_model.pbtxt is not read)" if (self.directory / "saved_model.pbtxt").is_file() else ""
            raise CheckpointError(f"{self.directory}: not a SavedModel: no saved_model.pb{text}")
        self.assets = self.directory / "assets"

    @cached_property
    def variables(self) -> TensorBundle:
        """The variables, a TF2 checkpoint whose object graph matches `objects`."""
        return TensorBundle(self.directory / "variables" / "variables")

    def variables_by_name(self) -> dict[str, str]:
        """Each variable's TF name ("transformer/layer_0/self_attention/query/kernel") -> its key
        in `variables`; the other saved values (a lookup table's contents) have no TF name."""
        return {v.full_name: v.checkpoint_key for v in self.variables.variables() if v.full_name}

    @cached_property
    def objects(self) -> list[SavedObject]:
        """saved_model.pb's object graph: node 0 the root, each node's children and kind."""
        return parse(read_saved_model, self.graph_file.read_bytes(), str(self.graph_file))

    def keras_metadata(self) -> dict[str, dict]:
        """Each Keras layer's path ("root", "root.layer-1") -> its metadata, decoded JSON with
        "class_name", "name", "config" (its `get_config()`), ...: from keras_metadata.pb if the
        directory has one, else from saved_model.pb's user objects."""
        source = self.directory / "keras_metadata.pb"
        if source.is_file():
            layers = parse(read_keras_metadata, source.read_bytes(), str(source))
        else:
            source = self.graph_file
            paths = object_paths([node.children for node in self.objects])
            layers = [
                KerasObject(i, ".".join(["root", *paths[i][0]]), node.identifier, node.metadata)
                for i, node in enumerate(self.objects)
                if node.metadata and i in paths
            ]
        try:
            return {layer.path: json.loads(layer.metadata) for layer in layers}
        except json.JSONDecodeError as error:
            raise CheckpointError(f"{source}: a layer's Keras metadata is not JSON ({error})") from None
