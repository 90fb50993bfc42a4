"""TensorFlow's BERT checkpoints, read as if they were HuggingFace directories, without TensorFlow.

Two layouts are recognised, each by its files:

- **Google's original release** (`bert_model.ckpt.index` + `.data-*`, `bert_config.json`,
  `vocab.txt`): TF1 variable names `bert/embeddings/word_embeddings`,
  `bert/encoder/layer_3/attention/self/query/kernel`, `bert/pooler/dense/...`, and the
  pretraining heads `cls/predictions/...` (masked LM) and `cls/seq_relationship/...` (NSP).
- **A TF Hub encoder SavedModel** (`saved_model.pb`, `variables/`, `assets/vocab.txt`), as
  tf-models-official's exporter writes them (`en-uncased-l-12-h-768-a-12/4` and its kin): the
  `BertEncoder` variables `word_embeddings/embeddings`, `transformer/layer_3/self_attention/
  query/kernel` of shape (hidden, heads, head size), `pooler_transform/...`, and, when it was
  exported with its `.mlm` subobject, the masked-LM head `bert/cls/predictions/...`. Its config
  is read off the shapes.

Both are translated here, and only here, into HuggingFace's names and layout (dense kernels are
stored (in, out), torch's Linear weights (out, in)), so everything that loads a HuggingFace
directory (`read_config`, `read_weights` in files.py) loads these too, heads included.

Their `gelu` is the tanh approximation: Google's modeling.py computes it so, and tf-models reads
the name so. The config therefore says `gelu_new`, which `transformers` computes the same way;
the exact (erf) GELU differs by up to 1e-2 on their outputs.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from pathlib import Path

import torch

from bertkit.errors import CheckpointError, ModelNotFoundError
from bertkit.modeling.config import BertConfig
from bertkit.tf_files.bundle import TensorBundle
from bertkit.tf_files.layout import GOOGLE_CONFIG_FILE, SAVED_MODEL_FILE, model_layout
from bertkit.tf_files.saved_model import SavedModel

TANH_GELU = "gelu_new"  # what `gelu` means in a TensorFlow BERT
# bert_config.json's activation names -> the config.json names that compute the same function
_GOOGLE_ACTIVATIONS = {"gelu": TANH_GELU, "relu": "relu", "tanh": "tanh", "swish": "silu", "linear": None}


def read_tensorflow_config(directory: Path) -> BertConfig:
    layout = model_layout(directory)
    if layout == "google":
        return _google_config(directory)
    if layout == "saved_model":
        return _saved_model_config(_saved_model_weights(directory), directory)
    raise ModelNotFoundError(
        f"{directory}: no config.json, {GOOGLE_CONFIG_FILE} or {SAVED_MODEL_FILE} in the model directory"
    )


def read_tensorflow_weights(directory: Path) -> dict[str, torch.Tensor]:
    """HuggingFace name -> tensor (BertForPreTraining's names: `bert.` + backbone, `cls.` heads)."""
    layout = model_layout(directory)
    if layout == "google":
        return _google_weights(google_checkpoint(directory))
    if layout == "saved_model":
        return _saved_model_weights(directory)
    raise ModelNotFoundError(f"{directory}: not a TF Hub SavedModel or a Google BERT checkpoint")


# --- Google's release --------------------------------------------------------------------------


def google_checkpoint(directory: Path) -> Path:
    """The checkpoint prefix (`.../bert_model.ckpt`): the one `*.index` file of the directory."""
    indexes = sorted(directory.glob("*.index"))
    if not indexes:
        raise ModelNotFoundError(
            f"{directory}: no checkpoint (*.index, e.g. bert_model.ckpt.index) beside {GOOGLE_CONFIG_FILE}"
        )
    if len(indexes) > 1:
        named = [p for p in indexes if p.name == "bert_model.ckpt.index"]
        if len(named) != 1:
            shown = ", ".join(p.name for p in indexes)
            raise CheckpointError(f"{directory}: several checkpoints ({shown}); keep one in the model directory")
        indexes = named
    return indexes[0].with_suffix("")


def _google_config(directory: Path) -> BertConfig:
    path = directory / GOOGLE_CONFIG_FILE
    if not path.is_file():
        raise ModelNotFoundError(f"{path}: not found; a Google BERT checkpoint comes with its {GOOGLE_CONFIG_FILE}")
    try:
        google = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(google, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    missing = [key for key in _GOOGLE_REQUIRED if key not in google]
    if missing:
        raise CheckpointError(f"{path}: lacks {', '.join(missing)}; a BERT config names the model's shape")
    activation = google.get("hidden_act", "gelu")
    if _GOOGLE_ACTIVATIONS.get(activation) is None:
        raise CheckpointError(f"{path}: unknown hidden_act {activation!r} (known: gelu, relu, tanh, swish)")
    google = {**google, "model_type": "bert", "hidden_act": _GOOGLE_ACTIVATIONS[activation]}
    try:
        return BertConfig.from_dict(google)
    except (CheckpointError, TypeError) as e:
        raise CheckpointError(f"{path}: {e}") from None


_GOOGLE_REQUIRED = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")

# One row per variable kind: a TF name pattern ({i} = a layer number) -> HuggingFace's name, and
# what to do to the tensor. "kernel" rows are dense layers: transposed.
_GOOGLE_ROWS = [
    ("bert/embeddings/word_embeddings", "bert.embeddings.word_embeddings.weight"),
    ("bert/embeddings/position_embeddings", "bert.embeddings.position_embeddings.weight"),
    ("bert/embeddings/token_type_embeddings", "bert.embeddings.token_type_embeddings.weight"),
    ("bert/embeddings/LayerNorm/{p}", "bert.embeddings.LayerNorm.{p}"),
    ("bert/encoder/layer_{i}/attention/self/{qkv}/{p}", "bert.encoder.layer.{i}.attention.self.{qkv}.{p}"),
    ("bert/encoder/layer_{i}/attention/output/dense/{p}", "bert.encoder.layer.{i}.attention.output.dense.{p}"),
    ("bert/encoder/layer_{i}/attention/output/LayerNorm/{p}", "bert.encoder.layer.{i}.attention.output.LayerNorm.{p}"),
    ("bert/encoder/layer_{i}/intermediate/dense/{p}", "bert.encoder.layer.{i}.intermediate.dense.{p}"),
    ("bert/encoder/layer_{i}/output/dense/{p}", "bert.encoder.layer.{i}.output.dense.{p}"),
    ("bert/encoder/layer_{i}/output/LayerNorm/{p}", "bert.encoder.layer.{i}.output.LayerNorm.{p}"),
    ("bert/pooler/dense/{p}", "bert.pooler.dense.{p}"),
    ("cls/predictions/transform/dense/{p}", "cls.predictions.transform.dense.{p}"),
    ("cls/predictions/transform/LayerNorm/{p}", "cls.predictions.transform.LayerNorm.{p}"),
    ("cls/predictions/output_bias", "cls.predictions.bias"),
    ("cls/seq_relationship/output_weights", "cls.seq_relationship.weight"),  # stored (2, hidden): as torch's
    ("cls/seq_relationship/output_bias", "cls.seq_relationship.bias"),
]
# Training state Google's checkpoints carry beside the weights (Adam's moments, the step count).
_GOOGLE_STATE = re.compile(r"(.*/adam_[mv]|global_step|.*/(Momentum|Adam(_1)?)|bad_steps|good_steps|loss_scale)$")
_PARAMETER = {"kernel": "weight", "bias": "bias", "gamma": "weight", "beta": "bias"}


def _google_weights(prefix: Path) -> dict[str, torch.Tensor]:
    bundle = TensorBundle(prefix)
    rows = [(_pattern(tf), hf) for tf, hf in _GOOGLE_ROWS]
    weights, unknown = {}, []
    for name in bundle.names():
        if _GOOGLE_STATE.fullmatch(name):
            continue
        for pattern, hf in rows:
            match = pattern.fullmatch(name)
            if match:
                fields = match.groupdict()
                if "p" in fields:
                    fields["p"] = _PARAMETER[fields["p"]]
                tensor = bundle.tensor(name)
                weights[hf.format(**fields)] = tensor.T if name.endswith("/kernel") else tensor
                break
        else:
            unknown.append(name)
    _check_known(unknown, bundle.index_path)
    return weights


# --- TF Hub encoder SavedModels (tf-models-official's BertEncoder) ------------------------------

# (TF variable name, HuggingFace name, how the tensor is laid out there)
_ENCODER_ROWS = [
    ("word_embeddings/embeddings", "bert.embeddings.word_embeddings.weight", "as_is"),
    ("position_embedding/embeddings", "bert.embeddings.position_embeddings.weight", "as_is"),
    ("type_embeddings/embeddings", "bert.embeddings.token_type_embeddings.weight", "as_is"),
    ("embeddings/layer_norm/{p}", "bert.embeddings.LayerNorm.{p}", "as_is"),
    ("transformer/layer_{i}/self_attention/{qkv}/kernel", "bert.encoder.layer.{i}.attention.self.{qkv}.weight", "heads_in"),
    ("transformer/layer_{i}/self_attention/{qkv}/bias", "bert.encoder.layer.{i}.attention.self.{qkv}.bias", "flat"),
    ("transformer/layer_{i}/self_attention/attention_output/kernel", "bert.encoder.layer.{i}.attention.output.dense.weight", "heads_out"),
    ("transformer/layer_{i}/self_attention/attention_output/bias", "bert.encoder.layer.{i}.attention.output.dense.bias", "as_is"),
    ("transformer/layer_{i}/self_attention_layer_norm/{p}", "bert.encoder.layer.{i}.attention.output.LayerNorm.{p}", "as_is"),
    ("transformer/layer_{i}/intermediate/{p}", "bert.encoder.layer.{i}.intermediate.dense.{p}", "dense"),
    ("transformer/layer_{i}/output/{p}", "bert.encoder.layer.{i}.output.dense.{p}", "dense"),
    ("transformer/layer_{i}/output_layer_norm/{p}", "bert.encoder.layer.{i}.output.LayerNorm.{p}", "as_is"),
    ("pooler_transform/{p}", "bert.pooler.dense.{p}", "dense"),
    # the `.mlm` subobject's masked-LM head (export_model(with_mlm=True), as TF Hub's BERTs have it)
    ("bert/cls/predictions/transform/dense/{p}", "cls.predictions.transform.dense.{p}", "dense"),
    ("bert/cls/predictions/transform/LayerNorm/{p}", "cls.predictions.transform.LayerNorm.{p}", "as_is"),
    ("bert/cls/predictions/output_bias/bias", "cls.predictions.bias", "as_is"),
]  # fmt: skip
_LAYOUTS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "as_is": lambda t: t,
    "dense": lambda t: t.T if t.dim() == 2 else t,  # kernels (in, out); biases as they are
    "heads_in": lambda t: t.reshape(t.shape[0], -1).T,  # (hidden, heads, head size) -> (out, in)
    "flat": lambda t: t.reshape(-1),  # (heads, head size)
    "heads_out": lambda t: t.reshape(-1, t.shape[-1]).T,  # (heads, head size, hidden) -> (out, in)
}
# What an encoder SavedModel holds beside the weights, by the first step of the checkpoint key:
# the tokenizer's setting tf-models' exporter adds, Keras optimizer state, the save counter.
_SAVED_MODEL_EXTRA = {"do_lower_case", "optimizer", "save_counter"}


def _saved_model_variables(directory: Path) -> tuple[SavedModel, dict[str, str]]:
    """The SavedModel and its variables' names -> checkpoint keys; the names come from the object
    graph (~0.5 s for an encoder), read once per version of the files."""
    index = directory / "variables" / "variables.index"
    stamp = index.stat() if index.is_file() else None
    return _variables_cached(directory.resolve(), stamp and (stamp.st_mtime_ns, stamp.st_size))


@functools.lru_cache(maxsize=4)
def _variables_cached(directory: Path, stamp) -> tuple[SavedModel, dict[str, str]]:
    saved = SavedModel(directory)
    return saved, saved.variables_by_name()


def _saved_model_weights(directory: Path) -> dict[str, torch.Tensor]:
    saved, variables = _saved_model_variables(directory)  # TF variable name -> checkpoint key
    bundle = saved.variables
    rows = [(_pattern(tf), hf, layout) for tf, hf, layout in _ENCODER_ROWS]
    weights, unknown = {}, []
    for name, key in variables.items():
        for pattern, hf, layout in rows:
            match = pattern.fullmatch(name)
            if match:
                fields = match.groupdict()
                if "p" in fields:
                    fields["p"] = _PARAMETER[fields["p"]]
                weights[hf.format(**fields)] = _LAYOUTS[layout](bundle.tensor(key))
                break
        else:
            if key.split("/")[0] not in _SAVED_MODEL_EXTRA:
                unknown.append(name)
    if "bert.embeddings.word_embeddings.weight" not in weights:
        raise CheckpointError(
            f"{directory}: not a BERT encoder SavedModel (no word_embeddings/embeddings variable; "
            f"found {', '.join(sorted(variables)[:3]) or 'no variables'})"
        )
    _check_known(unknown, bundle.index_path)
    return weights


def _saved_model_config(weights: dict[str, torch.Tensor], directory: Path) -> BertConfig:
    """BertEncoder's settings, read off its variables' shapes; `gelu` as tf-models computes it."""
    layers = {int(m.group(1)) for name in weights if (m := re.match(r"bert\.encoder\.layer\.(\d+)\.", name))}
    if layers != set(range(len(layers))):
        raise CheckpointError(f"{directory}: the encoder's layers are not numbered 0..N-1 ({sorted(layers)})")
    vocab, hidden = weights["bert.embeddings.word_embeddings.weight"].shape
    saved, variables = _saved_model_variables(directory)
    heads = saved.variables.entry(variables["transformer/layer_0/self_attention/query/kernel"]).shape[1]
    return BertConfig(
        model_type="bert",
        vocab_size=vocab,
        hidden_size=hidden,
        num_hidden_layers=len(layers),
        num_attention_heads=heads,
        intermediate_size=weights["bert.encoder.layer.0.intermediate.dense.weight"].shape[0],
        hidden_act=TANH_GELU,
        max_position_embeddings=weights["bert.embeddings.position_embeddings.weight"].shape[0],
        type_vocab_size=weights["bert.embeddings.token_type_embeddings.weight"].shape[0],
        layer_norm_eps=1e-12,
    )


# --- shared ---------------------------------------------------------------------------------------


def _pattern(template: str) -> re.Pattern:
    pattern = re.escape(template)
    for field, group in (("i", r"\d+"), ("p", "kernel|bias|gamma|beta"), ("qkv", "query|key|value")):
        pattern = pattern.replace(re.escape("{" + field + "}"), f"(?P<{field}>{group})")
    return re.compile(pattern)


def _check_known(unknown: list[str], path: Path) -> None:
    """A variable we cannot place means a model we do not implement: say so, do not drop it."""
    if unknown:
        shown = ", ".join(unknown[:4]) + (f" and {len(unknown) - 4} more" if len(unknown) > 4 else "")
        raise CheckpointError(f"{path}: variables bertkit cannot place in a BERT model: {shown}")
