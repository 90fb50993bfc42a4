"""Writes the TensorFlow oracle's models and outputs; runs in the TF venv, never in bertkit's.

    python export_oracle.py WORK_DIR MODEL_DIR

WORK_DIR holds `inputs.json` ({"texts": [...], "pairs": [[a, b], ...], "encoder_texts": [...]},
written by `oracle.py`); MODEL_DIR is the bundled all-MiniLM-L6-v2 (vocab.txt, config.json,
model.safetensors). Everything lands in WORK_DIR/out:

- `preprocess/`: a TF Hub preprocessing SavedModel, made by tf-models-official's own exporter
  (`export_tfhub_lib.export_preprocessing`, the code behind TF Hub's `en-uncased-preprocess/3`),
  with the bundled uncased vocabulary and default seq_length 128;
- `encoder/`: a TF Hub encoder SavedModel made by the same library's `export_model` (as
  `en-uncased-l-12-h-768-a-12/4` was, with its `.mlm` subobject) from a tf-models `BertEncoder`
  that carries MiniLM's real weights, and a masked-LM head carrying the Google checkpoint's;
  tf-models reads "gelu" as the tanh approximation, and so does this model;
- `google/`: a TF1 name-based checkpoint laid out as Google's BERT release ships it
  (bert_model.ckpt.*, bert_config.json, vocab.txt), MiniLM's encoder plus seeded random
  pretraining heads (`cls/...`);
- `preprocess.npz`, `encoder.npz`, `google.npz`: what TensorFlow computes on the inputs, read by
  the notebook's calls (`hub.KerasLayer(preprocess)(texts)`, `.tokenize`, `.bert_pack_inputs`,
  `hub.KerasLayer(encoder)(inputs)`), and a forward pass of Google's BERT written here in TF ops;
- `oracle.json`: versions, array shapes and timings, written last (its presence means done).

The TF ops of the Google forward pass follow Google's modeling.py as documented in the BERT
paper and README: post-LN layers, tanh GELU, additive -10000 attention mask, tanh pooler on
[CLS], MLM transform (dense + GELU + LayerNorm) tied to the word embeddings.
"""

import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_hub as hub  # noqa: E402
import tensorflow_text  # noqa: E402, F401  (registers the ops the preprocessing SavedModel uses)
from official.legacy.bert import configs  # noqa: E402
from official.nlp.modeling import models  # noqa: E402
from official.nlp.tools import export_tfhub_lib  # noqa: E402
from safetensors.numpy import load_file  # noqa: E402

BATCH = 512  # texts per TF call: 20k texts take seconds, one call's ragged tensors stay small
SEQ_LENGTH = 128  # the TF Hub preprocessing model's default
SHORT_SEQ_LENGTH = 24  # short enough that most pairs need round-robin truncation
GOOGLE_PAIRS, GOOGLE_SEQ, GOOGLE_MASKED = 8, 64, 10
ENCODER_MASKED = 4  # positions whose MLM logits the encoder SavedModel's `.mlm` gives
MASK_ID = 103  # [MASK] in the uncased BERT vocabulary
LN_EPS = 1e-12


def tf_strings(texts):
    """TF strings are bytes: UTF-8 (the caller has refused lone surrogates already)."""
    return tf.constant([t.encode("utf-8") for t in texts], dtype=tf.string)


def batched(items, size=BATCH):
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- the models --------------------------------------------------------------------------------


def minilm_bert_config(model_dir: Path) -> configs.BertConfig:
    """The legacy (Google-format) config of the bundled model; "gelu" means tanh GELU to tf-models."""
    hf = json.loads((model_dir / "config.json").read_text())
    return configs.BertConfig(
        vocab_size=hf["vocab_size"],
        hidden_size=hf["hidden_size"],
        num_hidden_layers=hf["num_hidden_layers"],
        num_attention_heads=hf["num_attention_heads"],
        intermediate_size=hf["intermediate_size"],
        hidden_act="gelu",
        hidden_dropout_prob=hf["hidden_dropout_prob"],
        attention_probs_dropout_prob=hf["attention_probs_dropout_prob"],
        max_position_embeddings=hf["max_position_embeddings"],
        type_vocab_size=hf["type_vocab_size"],
        initializer_range=hf["initializer_range"],
    )


# Google's names (the release's TF1 checkpoint) -> HuggingFace's, per layer. A torch Linear's
# weight is (out, in), a TF kernel (in, out).
LAYER_DENSE = {
    "attention/self/query": "attention.self.query",
    "attention/self/key": "attention.self.key",
    "attention/self/value": "attention.self.value",
    "attention/output/dense": "attention.output.dense",
    "intermediate/dense": "intermediate.dense",
    "output/dense": "output.dense",
}
LAYER_NORM = {"attention/output/LayerNorm": "attention.output.LayerNorm", "output/LayerNorm": "output.LayerNorm"}

# tf-models BertEncoder's names -> Google's. Its attention kernels are einsum kernels, (H, heads, d)
# and (heads, d, H): the (in, out) kernel reshaped to the variable's shape.
TF_MODELS_NAMES = {
    "word_embeddings/embeddings": "bert/embeddings/word_embeddings",
    "position_embedding/embeddings": "bert/embeddings/position_embeddings",
    "type_embeddings/embeddings": "bert/embeddings/token_type_embeddings",
    "embeddings/layer_norm": "bert/embeddings/LayerNorm",
    "pooler_transform": "bert/pooler/dense",
}
TF_MODELS_LAYER = {
    "self_attention/query": "attention/self/query",
    "self_attention/key": "attention/self/key",
    "self_attention/value": "attention/self/value",
    "self_attention/attention_output": "attention/output/dense",
    "self_attention_layer_norm": "attention/output/LayerNorm",
    "intermediate": "intermediate/dense",
    "output": "output/dense",
    "output_layer_norm": "output/LayerNorm",
}


def google_variables(hf: dict, cfg: configs.BertConfig, seed: int = 0) -> dict:
    """Google BERT release variable name -> value: MiniLM's encoder, seeded random `cls/` heads."""
    H, V = cfg.hidden_size, cfg.vocab_size
    g = {
        "bert/embeddings/word_embeddings": hf["embeddings.word_embeddings.weight"],
        "bert/embeddings/token_type_embeddings": hf["embeddings.token_type_embeddings.weight"],
        "bert/embeddings/position_embeddings": hf["embeddings.position_embeddings.weight"],
        "bert/embeddings/LayerNorm/gamma": hf["embeddings.LayerNorm.weight"],
        "bert/embeddings/LayerNorm/beta": hf["embeddings.LayerNorm.bias"],
        "bert/pooler/dense/kernel": hf["pooler.dense.weight"].T,
        "bert/pooler/dense/bias": hf["pooler.dense.bias"],
    }
    for n in range(cfg.num_hidden_layers):
        src, dst = f"encoder.layer.{n}.", f"bert/encoder/layer_{n}/"
        for g_name, hf_name in LAYER_DENSE.items():
            g[f"{dst}{g_name}/kernel"] = hf[f"{src}{hf_name}.weight"].T
            g[f"{dst}{g_name}/bias"] = hf[f"{src}{hf_name}.bias"]
        for g_name, hf_name in LAYER_NORM.items():
            g[f"{dst}{g_name}/gamma"] = hf[f"{src}{hf_name}.weight"]
            g[f"{dst}{g_name}/beta"] = hf[f"{src}{hf_name}.bias"]
    rng = np.random.default_rng(seed)
    normal = lambda *shape: (rng.standard_normal(shape) * 0.02).astype(np.float32)
    g["cls/predictions/transform/dense/kernel"] = normal(H, H)
    g["cls/predictions/transform/dense/bias"] = normal(H)
    g["cls/predictions/transform/LayerNorm/gamma"] = 1.0 + normal(H)
    g["cls/predictions/transform/LayerNorm/beta"] = normal(H)
    g["cls/predictions/output_bias"] = normal(V)
    g["cls/seq_relationship/output_weights"] = normal(2, H)
    g["cls/seq_relationship/output_bias"] = normal(2)
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in g.items()}


def google_name(tf_models_name: str) -> str:
    """`transformer/layer_3/self_attention/query/kernel` -> `bert/encoder/layer_3/attention/self/query/kernel`."""
    if tf_models_name in TF_MODELS_NAMES:  # the embedding tables
        return TF_MODELS_NAMES[tf_models_name]
    module, leaf = tf_models_name.rsplit("/", 1)
    if module in TF_MODELS_NAMES:
        return f"{TF_MODELS_NAMES[module]}/{leaf}"
    _, layer, rest = module.split("/", 2)  # "transformer", "layer_N", ...
    return f"bert/encoder/{layer}/{TF_MODELS_LAYER[rest]}/{leaf}"


def export_encoder(out: Path, model_dir: Path, cfg: configs.BertConfig, google: dict, scratch: Path) -> None:
    """A tf-models BertEncoder with MiniLM's weights, inside a BertPretrainerV2 whose masked-LM head
    carries the Google checkpoint's (seeded random) head -> TF2 checkpoint -> `export_model` with
    `with_mlm=True`: a SavedModel with the `.mlm` subobject, as TF Hub's BERT encoders have."""
    encoder = export_tfhub_lib.get_bert_encoder(cfg)
    pretrainer = models.BertPretrainerV2(encoder_network=encoder)
    ids = tf.zeros((1, 4), tf.int32)
    pretrainer(dict(input_word_ids=ids, input_mask=tf.ones_like(ids), input_type_ids=ids,
                    masked_lm_positions=tf.zeros((1, 1), tf.int32)))  # fmt: skip
    wanted = {}
    for v in encoder.weights:
        name = v.name.split(":")[0]
        wanted[name] = google[google_name(name)].reshape(tuple(v.shape))
        v.assign(wanted[name])
    assert len(wanted) == len([k for k in google if k.startswith("bert/")]), "not every weight was assigned"
    for v in pretrainer.masked_lm.weights:  # "bert/cls/predictions/..." -> Google's "cls/predictions/..."
        name = v.name.split(":")[0]
        if not name.startswith("bert/cls/"):
            continue  # the word embeddings, tied
        source = name.removeprefix("bert/").replace("output_bias/bias", "output_bias")
        wanted[name] = google[source].reshape(tuple(v.shape))
        v.assign(wanted[name])
    # The checkpoint layout `export_model` restores with the MLM: the pretrainer's checkpoint items.
    ckpt = tf.train.Checkpoint(**pretrainer.checkpoint_items).save(str(scratch / "encoder_ckpt" / "ckpt"))
    export_tfhub_lib.export_model(
        str(out / "encoder"),
        bert_config=cfg,
        model_checkpoint_path=ckpt,
        with_mlm=True,
        vocab_file=str(model_dir / "vocab.txt"),
        do_lower_case=True,
    )
    # The round trip: every variable of the exported SavedModel equals the value assigned.
    loaded = hub.load(str(out / "encoder"))
    seen = {v.name.split(":")[0]: v.numpy() for v in [*loaded.variables, *loaded.mlm.variables]}
    assert set(wanted) <= set(seen), f"missing from the SavedModel: {set(wanted) - set(seen)}"  # + do_lower_case
    for name, value in wanted.items():
        np.testing.assert_array_equal(seen[name], value, err_msg=name)


def write_google_checkpoint(google: Path, model_dir: Path, cfg: configs.BertConfig, variables: dict) -> None:
    """bert_model.ckpt.{index,data-00000-of-00001,meta} through tf.compat.v1's Saver, in graph mode."""
    google.mkdir(parents=True)
    with tf.Graph().as_default():
        # Fed through placeholders, so that the .meta graph stays small as Google's is.
        values = dict(variables, global_step=np.int64(0))
        feeds, tf_vars = {}, {}
        for name, value in values.items():
            initial = tf.compat.v1.placeholder(
                tf.as_dtype(value.dtype), value.shape, name=name.replace("/", "_") + "_init"
            )
            tf_vars[name] = tf.compat.v1.Variable(initial, name=name)
            feeds[initial] = value
        saver = tf.compat.v1.train.Saver(var_list=tf_vars, write_version=tf.compat.v1.train.SaverDef.V2)
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer(), feed_dict=feeds)
            saver.save(sess, str(google / "bert_model.ckpt"), write_state=False)
    shutil.copy(model_dir / "vocab.txt", google / "vocab.txt")
    google_config = {
        "attention_probs_dropout_prob": cfg.attention_probs_dropout_prob,
        "hidden_act": "gelu",
        "hidden_dropout_prob": cfg.hidden_dropout_prob,
        "hidden_size": cfg.hidden_size,
        "initializer_range": cfg.initializer_range,
        "intermediate_size": cfg.intermediate_size,
        "max_position_embeddings": cfg.max_position_embeddings,
        "num_attention_heads": cfg.num_attention_heads,
        "num_hidden_layers": cfg.num_hidden_layers,
        "type_vocab_size": cfg.type_vocab_size,
        "vocab_size": cfg.vocab_size,
    }
    (google / "bert_config.json").write_text(json.dumps(google_config, indent=2) + "\n")


# --- Google's BERT forward pass, in TF ops -------------------------------------------------------


def gelu_tanh(x):
    """Google's modeling.py gelu: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    return 0.5 * x * (1.0 + tf.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * tf.pow(x, 3))))


def layer_norm(x, gamma, beta):
    mean, var = tf.nn.moments(x, axes=[-1], keepdims=True)
    return (x - mean) * tf.math.rsqrt(var + LN_EPS) * gamma + beta


def google_forward(c: dict, cfg: configs.BertConfig, ids, mask, types, masked_positions):
    """MLM logits at `masked_positions` (B, P, V) and NSP logits (B, 2) of Google's BERT."""
    B, S = ids.shape
    heads, d = cfg.num_attention_heads, cfg.hidden_size // cfg.num_attention_heads
    x = (
        tf.gather(c["bert/embeddings/word_embeddings"], ids)
        + c["bert/embeddings/position_embeddings"][:S][None]
        + tf.gather(c["bert/embeddings/token_type_embeddings"], types)
    )
    x = layer_norm(x, c["bert/embeddings/LayerNorm/gamma"], c["bert/embeddings/LayerNorm/beta"])
    adder = (1.0 - tf.cast(mask, tf.float32))[:, None, None, :] * -10000.0  # (B, 1, 1, S)

    def dense(t, prefix):
        return tf.matmul(t, c[prefix + "/kernel"]) + c[prefix + "/bias"]

    def split(t):  # (B, S, H) -> (B, heads, S, d)
        return tf.transpose(tf.reshape(t, [B, S, heads, d]), [0, 2, 1, 3])

    for n in range(cfg.num_hidden_layers):
        p = f"bert/encoder/layer_{n}/"
        q, k, v = (split(dense(x, p + f"attention/self/{part}")) for part in ("query", "key", "value"))
        scores = tf.matmul(q, k, transpose_b=True) / math.sqrt(d) + adder
        context = tf.matmul(tf.nn.softmax(scores, axis=-1), v)  # (B, heads, S, d)
        context = tf.reshape(tf.transpose(context, [0, 2, 1, 3]), [B, S, heads * d])
        a = dense(context, p + "attention/output/dense")
        x = layer_norm(a + x, c[p + "attention/output/LayerNorm/gamma"], c[p + "attention/output/LayerNorm/beta"])
        h = dense(gelu_tanh(dense(x, p + "intermediate/dense")), p + "output/dense")
        x = layer_norm(h + x, c[p + "output/LayerNorm/gamma"], c[p + "output/LayerNorm/beta"])
    pooled = tf.tanh(dense(x[:, 0], "bert/pooler/dense"))
    t = tf.gather(x, masked_positions, batch_dims=1)  # (B, P, H)
    t = gelu_tanh(dense(t, "cls/predictions/transform/dense"))
    t = layer_norm(t, c["cls/predictions/transform/LayerNorm/gamma"], c["cls/predictions/transform/LayerNorm/beta"])
    mlm = tf.matmul(t, c["bert/embeddings/word_embeddings"], transpose_b=True) + c["cls/predictions/output_bias"]
    nsp = tf.matmul(pooled, c["cls/seq_relationship/output_weights"], transpose_b=True)
    nsp = nsp + c["cls/seq_relationship/output_bias"]
    return mlm.numpy(), nsp.numpy()


# --- the oracle's outputs ------------------------------------------------------------------------


def run_preprocess(pre_dir: Path, texts: list, pairs: list) -> dict:
    """The notebook's calls on the exported preprocessing model: texts at 128, pairs at 128 and short."""
    preprocessor = hub.KerasLayer(str(pre_dir))
    loaded = hub.load(str(pre_dir))
    out = {}
    parts = {k: [] for k in ("input_word_ids", "input_mask", "input_type_ids")}
    token_ids, tokens_per_text, words_per_text, pieces_per_word = [], [], [], []
    for chunk in batched(texts):
        result = preprocessor(tf_strings(chunk))
        for k in parts:
            parts[k].append(result[k].numpy())
        tokens = loaded.tokenize(tf_strings(chunk))  # (batch, words, pieces), ragged
        token_ids.append(tokens.flat_values.numpy())
        words_per_text.append(tokens.row_lengths().numpy())
        pieces_per_word.append(tokens.values.row_lengths().numpy())  # flat over all words
        tokens_per_text.append(tokens.merge_dims(1, 2).row_lengths().numpy())
    out.update({k: np.concatenate(v).astype(np.int32) for k, v in parts.items()})
    out["token_ids"] = np.concatenate(token_ids).astype(np.int32)
    out["tokens_per_text"] = np.concatenate(tokens_per_text).astype(np.int32)
    out["words_per_text"] = np.concatenate(words_per_text).astype(np.int32)
    out["pieces_per_word"] = np.concatenate(pieces_per_word).astype(np.int32)
    for seq_length in (SEQ_LENGTH, SHORT_SEQ_LENGTH):
        packer = hub.KerasLayer(loaded.bert_pack_inputs, arguments=dict(seq_length=seq_length))
        parts = {k: [] for k in ("input_word_ids", "input_mask", "input_type_ids")}
        for chunk in batched(pairs):
            a = loaded.tokenize(tf_strings([p[0] for p in chunk]))
            b = loaded.tokenize(tf_strings([p[1] for p in chunk]))
            result = packer([a, b])
            for k in parts:
                parts[k].append(result[k].numpy())
        out.update({f"pairs{seq_length}_{k}": np.concatenate(v).astype(np.int32) for k, v in parts.items()})
    return out


def run_encoder(pre_dir: Path, enc_dir: Path, texts: list) -> dict:
    """The notebook's `encoder(preprocessor(texts))`, every output, float32."""
    preprocessor = hub.KerasLayer(str(pre_dir))
    encoder = hub.KerasLayer(str(enc_dir), trainable=False)
    inputs = preprocessor(tf_strings(texts))
    outputs = encoder(inputs)
    result = {k: v.numpy() for k, v in inputs.items()}
    for k in ("default", "pooled_output", "sequence_output"):
        result[k] = outputs[k].numpy().astype(np.float32)
    result["encoder_outputs"] = np.stack([t.numpy() for t in outputs["encoder_outputs"]]).astype(np.float32)
    # The `.mlm` subobject (TF Hub's way to reach the masked-LM head): logits at a few positions.
    positions = np.tile(np.arange(1, 1 + ENCODER_MASKED, dtype=np.int32), (len(texts), 1))
    mlm = hub.load(str(enc_dir)).mlm(dict(inputs, masked_lm_positions=tf.constant(positions)))
    result["masked_lm_positions"] = positions
    result["mlm_logits"] = mlm["mlm_logits"].numpy().astype(np.float32)
    return result


def run_google(google: Path, pre_dir: Path, cfg: configs.BertConfig, pairs: list) -> dict:
    """Google-checkpoint MLM and NSP logits on the first pairs, with some tokens masked."""
    reader = tf.train.load_checkpoint(str(google / "bert_model.ckpt"))  # read back what was saved
    c = {name: tf.constant(reader.get_tensor(name)) for name in reader.get_variable_to_shape_map()}
    loaded = hub.load(str(pre_dir))
    chunk = pairs[:GOOGLE_PAIRS]
    a, b = (loaded.tokenize(tf_strings([p[i] for p in chunk])) for i in (0, 1))
    packed = loaded.bert_pack_inputs([a, b], seq_length=tf.constant(GOOGLE_SEQ))
    ids, mask, types = (packed[k].numpy() for k in ("input_word_ids", "input_mask", "input_type_ids"))
    rng = np.random.default_rng(1)
    positions = np.zeros((len(chunk), GOOGLE_MASKED), np.int32)
    for row in range(len(chunk)):
        real = np.flatnonzero(mask[row])[1:-1]  # not [CLS], not the last [SEP]
        chosen = np.sort(rng.choice(real, size=min(GOOGLE_MASKED, len(real)), replace=False))
        positions[row, : len(chosen)] = chosen  # short rows repeat position 0 ([CLS])
        ids[row, chosen[::2]] = MASK_ID  # half of the predicted positions hold [MASK], as in pretraining
    mlm, nsp = google_forward(c, cfg, tf.constant(ids), tf.constant(mask), tf.constant(types), tf.constant(positions))
    return {
        "input_word_ids": ids,
        "input_mask": mask,
        "input_type_ids": types,
        "masked_lm_positions": positions,
        "mlm_logits": mlm.astype(np.float32),
        "nsp_logits": nsp.astype(np.float32),
    }


def main(work: Path, model_dir: Path) -> None:
    inputs = json.loads((work / "inputs.json").read_text(encoding="utf-8"))
    texts, pairs, encoder_texts = inputs["texts"], [tuple(p) for p in inputs["pairs"]], inputs["encoder_texts"]
    out, scratch = work / "out", work / "scratch"
    for folder in (out, scratch):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
    timings, t0 = {}, time.perf_counter()
    cfg = minilm_bert_config(model_dir)
    google = google_variables(load_file(str(model_dir / "model.safetensors")), cfg)

    export_tfhub_lib.export_preprocessing(
        str(out / "preprocess"),
        vocab_file=str(model_dir / "vocab.txt"),
        do_lower_case=True,
        tokenize_with_offsets=False,
        default_seq_length=SEQ_LENGTH,
    )
    export_encoder(out, model_dir, cfg, google, scratch)
    write_google_checkpoint(out / "google", model_dir, cfg, google)
    timings["export_s"] = time.perf_counter() - t0

    t = time.perf_counter()
    arrays = {"preprocess": run_preprocess(out / "preprocess", texts, pairs)}
    timings["preprocess_s"] = time.perf_counter() - t
    t = time.perf_counter()
    arrays["encoder"] = run_encoder(out / "preprocess", out / "encoder", encoder_texts)
    arrays["google"] = run_google(out / "google", out / "preprocess", cfg, pairs)
    timings["models_s"] = time.perf_counter() - t
    for name, named in arrays.items():  # ids are mostly padding: compressed 43 MB -> ~3 MB
        (np.savez_compressed if name == "preprocess" else np.savez)(out / f"{name}.npz", **named)
    shutil.rmtree(scratch)

    manifest = {
        "versions": {"tensorflow": tf.__version__, "tensorflow_hub": hub.__version__},
        "seq_length": SEQ_LENGTH,
        "short_seq_length": SHORT_SEQ_LENGTH,
        "counts": {"texts": len(texts), "pairs": len(pairs), "encoder_texts": len(encoder_texts)},
        "arrays": {f"{n}.npz": {k: f"{v.dtype} {v.shape}" for k, v in a.items()} for n, a in arrays.items()},
        "google_variables": {
            name: shape for name, shape in tf.train.list_variables(str(out / "google" / "bert_model.ckpt"))
        },
        "timings": {k: round(v, 2) for k, v in timings.items()},
    }
    (out / "oracle.json").write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
