"""`bertkit convert SRC DST`: a TF Hub SavedModel or a Google BERT checkpoint, written as a
HuggingFace directory (model.safetensors, config.json, vocab.txt, tokenizer_config.json) that
bertkit and `transformers` load.

The model is read as any model is (`from_tensorflow.py` makes TensorFlow's files look like a
HuggingFace directory), built once to check every name and shape, and its tensors written as
read, under HuggingFace's names, one at a time (`write_safetensors`): the pooler, and the
masked-LM and NSP heads when the checkpoint has them. `config.json` says `gelu_new` (the tanh GELU
these models were trained with) and `tokenizer_config.json` says `"bertkit_flavor": "tfhub"`,
so bertkit keeps tokenizing as TF Hub did; `transformers` tokenizes as its own BertTokenizer.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from bertkit.bundled import resolve_model_dir
from bertkit.checkpoint.files import SAFETENSORS, read_config, read_weights, weights_file, write_safetensors
from bertkit.checkpoint.names import MLM_PREFIX, NSP_PREFIX, architecture, pretraining_class
from bertkit.checkpoint.pretraining import build_pretraining
from bertkit.checkpoint.weights import empty_weights, load_weights
from bertkit.errors import InputError
from bertkit.text.loading import tensorflow_vocabulary
from bertkit.text.vocab import FLAVOR_KEY, TOKENIZER_CONFIG_FILE, VOCAB_FILE
from bertkit.tf_files.layout import model_layout

LAYOUT_NAMES = {"saved_model": "TF Hub SavedModel", "google": "Google BERT checkpoint"}


def convert(source: str | Path, destination: str | Path, say: Callable[[str], None] = print) -> Path:
    """Write the TensorFlow model in `source` as a HuggingFace directory `destination`."""
    source, destination = resolve_model_dir(source), Path(destination)
    layout = model_layout(source)
    if layout is None and (source / "config.json").is_file():
        raise InputError(f"{source}: already a HuggingFace model directory (config.json); nothing to convert")
    if layout is None:
        raise InputError(
            f"{source}: not a TF Hub SavedModel (saved_model.pb) or a Google BERT checkpoint "
            "(bert_config.json + bert_model.ckpt.*); nothing to convert"
        )
    existing = next(p for p in (destination, *destination.parents) if p.exists())
    if not existing.is_dir():
        raise InputError(f"{destination}: {existing} is a file, not a directory; choose a new directory")
    if destination.exists() and any(destination.iterdir()):
        if any((destination / name).exists() for name in ("config.json", "model.safetensors", VOCAB_FILE)):
            raise InputError(f"{destination}: already holds a model; choose an empty or new directory")
    start = time.perf_counter()
    vocab, lowercase = tensorflow_vocabulary(source)  # checked first: a model without it is no use
    # Read once (memory-mapped), and built once from what was read: every name placed and every
    # shape checked against the config.
    config, weights = read_config(source), read_weights(weights_file(source))
    mlm = any(name.startswith(MLM_PREFIX["bert"]) for name in weights)
    next_sentence = mlm and any(name.startswith(NSP_PREFIX) for name in weights)
    with empty_weights():
        module = build_pretraining(config, next_sentence) if mlm else architecture(config).backbone(config)
    load_weights(module, source, config, weights)
    heads = f"heads: masked LM{' + next sentence' * next_sentence}" if mlm else "encoder only"
    say(f"read {LAYOUT_NAMES[layout]} {source}: {_shape(config)}, {heads}")
    # Written as read, under HuggingFace's names: the pooler stays with a masked-LM head (TF Hub
    # encoders have both; transformers' BertForMaskedLM has no pooler, its BertModel reads it).
    architectures = [pretraining_class(config, next_sentence) if mlm else architecture(config).hf_class]
    if not mlm:  # a bare model's names have no prefix
        weights = {name.removeprefix(architecture(config).weights.prefix): t for name, t in weights.items()}
    destination.mkdir(parents=True, exist_ok=True)
    write_safetensors(weights, destination / SAFETENSORS, metadata={"format": "pt"})
    config = dataclasses.replace(config, extra={**config.extra, "architectures": architectures})
    shutil.copyfile(vocab, destination / VOCAB_FILE)
    settings = {
        "tokenizer_class": "BertTokenizer",
        "do_lower_case": lowercase,
        "model_max_length": config.max_position_embeddings,
        FLAVOR_KEY: "tfhub",
    }
    (destination / TOKENIZER_CONFIG_FILE).write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    config.to_json_file(destination / "config.json")  # last: a directory with it is complete
    parameters = sum(t.numel() for t in weights.values())
    say(
        f"wrote {destination} ({parameters / 1e6:.1f}M parameters, "
        f"{'uncased' if lowercase else 'cased'} vocabulary, tfhub tokenizer flavour) "
        f"in {time.perf_counter() - start:.1f} s"
    )
    return destination


def _shape(config) -> str:
    return (
        f"{config.num_hidden_layers} layers, hidden {config.hidden_size}, "
        f"{config.num_attention_heads} heads, vocabulary {config.vocab_size}"
    )
