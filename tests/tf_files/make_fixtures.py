"""Write the TensorFlow files that tests/tf_files reads, and what TensorFlow reads back from them.

Run with a TensorFlow venv (tensorflow 2.20, tf_keras, tf-models-official):

    /work/tfo/venv/bin/python tests/tf_files/make_fixtures.py            # -> tests/tf_files/data/
    /work/tfo/venv/bin/python tests/tf_files/make_fixtures.py --bert-base /tmp/bert_base

The tests never import TensorFlow: `expected.npz` holds TensorFlow's values of every numeric
tensor and `expected.json` the rest (names, dtypes, shapes, strings as hex, the object graph and
the Keras metadata as TensorFlow's own protobuf classes decode them). `--bert-base` writes a
bert-base-sized checkpoint (~110M float32 parameters, 440 MB) for measure_bundle.py; it is not
committed.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from google.protobuf import json_format  # noqa: E402

DATA = Path(__file__).parent / "data"
RNG = np.random.default_rng(0)


def tf1_variables() -> dict[str, np.ndarray]:
    """One variable per dtype, a 0-d scalar, an empty tensor, strings, and one of 80 KB."""
    return {
        "dense/kernel": RNG.standard_normal((4, 3)).astype(np.float32),
        "dense/bias": np.array([0.5, -1.25, 3.0], np.float32),
        "half": RNG.standard_normal((2, 3)).astype(np.float16),
        "brain": np.array([1.0, -2.5, 3.140625, 1e30, -1e-30], np.float32),  # saved as bfloat16
        "double": np.array([[np.pi, -np.e], [1e300, 5e-324]], np.float64),
        "int32": np.array([-(2**31), 0, 2**31 - 1], np.int32),
        "int64": np.array([-(2**63), 2**40 + 7], np.int64),
        "int8": np.array([-128, 0, 127], np.int8),
        "uint8": np.array([0, 1, 255], np.uint8),
        "bool": np.array([True, False, False, True]),
        "global_step": np.array(1234567, np.int64),
        "scalar": np.array(2.5, np.float32),
        "empty": np.zeros((0, 3), np.float32),
        "words": np.array([b"hello", b"", "caf\u00e9".encode(), b"\x00\xff" * 100], object),
        "word": np.array(b"a lonely string", object),
        "large": (np.arange(160 * 128, dtype=np.float32).reshape(160, 128) - 9999.5) / 64,  # compresses in npz
    }


def write_tf1(directory: Path, sharded: bool) -> dict:
    """A name-based checkpoint by tf.compat.v1's Saver; `sharded` puts variables on two CPUs,
    so the Saver writes one data file per device."""
    values = tf1_variables()
    if sharded:  # the large one once is enough
        del values["large"]
    graph = tf.Graph()
    with graph.as_default():
        for i, (name, value) in enumerate(values.items()):
            with tf.device(f"/cpu:{i % 2 if sharded else 0}"):
                initial = tf.constant(value)
                tf.compat.v1.Variable(tf.cast(initial, tf.bfloat16) if name == "brain" else initial, name=name)
        saver = tf.compat.v1.train.Saver(sharded=sharded)
        config = tf.compat.v1.ConfigProto(device_count={"CPU": 2})
        with tf.compat.v1.Session(config=config) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            saver.save(session, str(directory / "model.ckpt"), write_meta_graph=False, write_state=False)
    return read_back(directory / "model.ckpt")


def write_many(directory: Path) -> dict:
    """7,000 one-byte tensors: an index over 262,144 bytes, so its table has two data blocks.

    Committed gzipped (the index repeats itself; 300 KB -> 30 KB); the tests unpack it."""
    names = [f"{i:05d}/kernel_weights_of_a_layer" for i in range(7000)]
    tensors = [tf.constant(np.int8(i % 100)) for i in range(7000)]
    prefix = directory / "model"
    tf.raw_ops.SaveV2(prefix=str(prefix), tensor_names=names, shape_and_slices=[""] * len(names), tensors=tensors)
    reader = tf.train.load_checkpoint(str(prefix))
    stored = sorted(reader.get_variable_to_dtype_map())
    ARRAYS["many:values"] = np.array([reader.get_tensor(name) for name in stored])
    for path in directory.iterdir():
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(path.read_bytes(), mtime=0))
        path.unlink()
    return dict(names=[stored[0], stored[-1]], count=len(stored))


def write_tf2(directory: Path) -> dict:
    """An object-based checkpoint of Model Garden's BertEncoder (tiny) and its Adam slots."""
    import tf_keras
    from official.nlp.modeling import networks

    tf_keras.utils.set_random_seed(0)
    encoder = networks.BertEncoder(
        vocab_size=30,
        hidden_size=8,
        num_layers=2,
        num_attention_heads=2,
        max_sequence_length=8,
        inner_dim=16,
        dict_outputs=True,
    )
    inputs = dict(
        input_word_ids=tf.constant([[2, 5, 3]]),
        input_mask=tf.ones((1, 3), tf.int32),
        input_type_ids=tf.zeros((1, 3), tf.int32),
    )
    optimizer = tf_keras.optimizers.legacy.Adam(0.01)  # its slots are slot_variables in the graph
    layer = encoder._transformer_layers[0]._attention_layer._query_dense  # Adam slots on two variables
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(encoder(inputs)["pooled_output"])
    optimizer.apply_gradients(zip(tape.gradient(loss, layer.trainable_variables), layer.trainable_variables))
    prefix = tf.train.Checkpoint(encoder=encoder, optimizer=optimizer).write(str(directory / "ckpt"))
    expected = read_back(prefix)
    graph = tf.train.load_checkpoint(prefix).get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH")
    from tensorflow.core.protobuf import trackable_object_graph_pb2

    proto = trackable_object_graph_pb2.TrackableObjectGraph.FromString(graph)
    expected["object_graph"] = json_format.MessageToDict(proto, preserving_proto_field_name=True)
    expected["full_names"] = {v.name.removesuffix(":0"): v.numpy().shape for v in encoder.variables}
    return expected


def write_saved_model(directory: Path) -> dict:
    """A tf_keras model (tokenizer layer with an asset and `lower_case`, a gelu Dense) saved by
    `model.save`; its Keras metadata goes to keras_metadata.pb. `legacy/` is the same model as TF
    <= 2.4 wrote it: that metadata inside saved_model.pb (SavedUserObject.metadata) instead."""
    import tf_keras
    from tensorflow.core.protobuf import saved_model_pb2
    from tf_keras.protobuf import saved_metadata_pb2

    vocab = directory.parent / "vocab.txt"
    vocab.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\nworld\n")

    class Lookup(tf_keras.layers.Layer):
        def __init__(self, vocab_file, lower_case=True, **kwargs):
            super().__init__(**kwargs)
            self.vocab_file, self.lower_case = vocab_file, lower_case
            self._asset = tf.saved_model.Asset(vocab_file)
            lines = tf.lookup.TextFileIndex
            init = tf.lookup.TextFileInitializer(self._asset, tf.string, lines.WHOLE_LINE, tf.int64, lines.LINE_NUMBER)
            self._table = tf.lookup.StaticHashTable(init, default_value=1)

        def call(self, texts):
            return self._table.lookup(tf.strings.split(tf.strings.lower(texts)).to_tensor())

        def get_config(self):
            return dict(super().get_config(), vocab_file=self.vocab_file, lower_case=self.lower_case)

    tf_keras.utils.set_random_seed(0)
    texts = tf_keras.layers.Input(shape=(), dtype=tf.string)
    hidden = tf_keras.layers.Embedding(6, 4, name="embed")(Lookup(str(vocab), name="tokenizer")(texts))
    model = tf_keras.Model(texts, tf_keras.layers.Dense(3, activation="gelu", name="dense")(hidden))
    model.save(str(directory / "keras"), save_format="tf", save_traces=False)
    vocab.unlink()

    metadata = saved_metadata_pb2.SavedMetadata.FromString((directory / "keras/keras_metadata.pb").read_bytes())
    shutil.copytree(directory / "keras", directory / "legacy")
    (directory / "legacy/keras_metadata.pb").unlink()
    saved = saved_model_pb2.SavedModel.FromString((directory / "keras/saved_model.pb").read_bytes())
    nodes = saved.meta_graphs[0].object_graph_def.nodes
    for node in metadata.nodes:
        nodes[node.node_id].user_object.metadata = node.metadata
    (directory / "legacy/saved_model.pb").write_bytes(saved.SerializeToString())
    keras = [
        dict(node_id=n.node_id, path=n.node_path, identifier=n.identifier, metadata=n.metadata) for n in metadata.nodes
    ]
    return dict(variables=read_back(directory / "keras/variables/variables"), keras_metadata=keras)


def read_back(prefix) -> dict:
    """What TensorFlow's own reader sees: dtype, shape and value of every tensor."""
    prefix = Path(prefix)
    reader = tf.train.load_checkpoint(str(prefix))
    tensors = {}
    for name, dtype in sorted(reader.get_variable_to_dtype_map().items()):
        value = reader.get_tensor(name)
        entry = dict(dtype=dtype.name, shape=list(reader.get_variable_to_shape_map()[name]))
        if dtype == tf.string:
            entry["hex"] = value.hex() if isinstance(value, bytes) else [s.hex() for s in value.reshape(-1).tolist()]
        else:
            ARRAYS[f"{prefix.relative_to(DATA)}:{name}"] = value.astype(np.float32) if dtype == tf.bfloat16 else value
        tensors[name] = entry
    return dict(tensors=tensors)


ARRAYS: dict[str, np.ndarray] = {}


def write_bert_base(directory: Path) -> None:
    """bert-base's 199 tensors (110M float32 parameters) under their TF1 names, random values."""
    shapes = {"bert/embeddings/word_embeddings": (30522, 768), "bert/embeddings/position_embeddings": (512, 768)}
    shapes |= {"bert/embeddings/token_type_embeddings": (2, 768), "bert/embeddings/LayerNorm/gamma": (768,)}
    shapes |= {"bert/embeddings/LayerNorm/beta": (768,), "bert/pooler/dense/kernel": (768, 768)}
    shapes |= {"bert/pooler/dense/bias": (768,)}
    for i in range(12):
        layer = f"bert/encoder/layer_{i}"
        for part in ("attention/self/query", "attention/self/key", "attention/self/value", "attention/output/dense"):
            shapes |= {f"{layer}/{part}/kernel": (768, 768), f"{layer}/{part}/bias": (768,)}
        shapes |= {f"{layer}/intermediate/dense/kernel": (768, 3072), f"{layer}/intermediate/dense/bias": (3072,)}
        shapes |= {f"{layer}/output/dense/kernel": (3072, 768), f"{layer}/output/dense/bias": (768,)}
        for norm in ("attention/output/LayerNorm", "output/LayerNorm"):
            shapes |= {f"{layer}/{norm}/gamma": (768,), f"{layer}/{norm}/beta": (768,)}
    directory.mkdir(parents=True, exist_ok=True)
    tensors = [tf.random.normal(shape, seed=i) for i, shape in enumerate(shapes.values())]
    tf.raw_ops.SaveV2(
        prefix=str(directory / "bert_model.ckpt"),
        tensor_names=list(shapes),
        shape_and_slices=[""] * len(shapes),
        tensors=tensors,
    )
    print(f"{sum(int(np.prod(s)) for s in shapes.values()):,} parameters in {len(shapes)} tensors -> {directory}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bert-base", type=Path, help="write only the (uncommitted) bert-base checkpoint here")
    args = parser.parse_args()
    if args.bert_base:
        return write_bert_base(args.bert_base)
    shutil.rmtree(DATA, ignore_errors=True)
    writers = dict(
        tf1=lambda d: write_tf1(d, sharded=False),
        tf1_sharded=lambda d: write_tf1(d, sharded=True),
        many=write_many,
        tf2=write_tf2,
        saved_model=write_saved_model,
    )
    expected = {}
    for name, write in writers.items():
        (DATA / name).mkdir(parents=True)
        expected[name] = write(DATA / name)
    np.savez_compressed(DATA / "expected.npz", **ARRAYS)
    (DATA / "expected.json").write_text(json.dumps(expected, sort_keys=True, default=list) + "\n")
    total = sum(f.stat().st_size for f in DATA.rglob("*") if f.is_file())
    print(f"{total / 1024:.0f} KB in {DATA}")


if __name__ == "__main__":
    main()
