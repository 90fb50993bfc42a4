"""`bertkit convert SRC DST`: a TF Hub SavedModel or a Google BERT checkpoint, written as a
HuggingFace directory (model.safetensors, config.json, vocab.txt, tokenizer_config.json) that
bertkit and `transformers` load.

The model is read as any model is (`from_tensorflow.py` makes TensorFlow's files look like a
HuggingFace directory), with its masked-LM and NSP heads when the checkpoint has them, and
written by the same `save` as everything else. `config.json` says `gelu_new` (the tanh GELU
these models were trained with) and `tokenizer_config.json` says `"bertkit_flavor": "tfhub"`,
so bertkit keeps tokenizing as TF Hub did; `transformers` tokenizes as its own BertTokenizer.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from bertkit.bundled import resolve_model_dir
from bertkit.checkpoint.files import save_atomic
from bertkit.checkpoint.pretraining import has_mlm_head, load_pretraining, save_pretraining
from bertkit.checkpoint.weights import load_backbone
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
    if has_mlm_head(source):
        module, config, _ = load_pretraining(source)
        heads = "masked LM + next sentence" if module.nsp is not None else "masked LM"
        say(f"read {LAYOUT_NAMES[layout]} {source}: {_shape(config)}, heads: {heads}")
        save_pretraining(module, destination)
    else:
        module, config, _ = load_backbone(source)
        say(f"read {LAYOUT_NAMES[layout]} {source}: {_shape(config)}, encoder only")
        save_atomic(module, config, destination)
    shutil.copyfile(vocab, destination / VOCAB_FILE)
    settings = {
        "tokenizer_class": "BertTokenizer",
        "do_lower_case": lowercase,
        "model_max_length": config.max_position_embeddings,
        FLAVOR_KEY: "tfhub",
    }
    (destination / TOKENIZER_CONFIG_FILE).write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    parameters = sum(p.numel() for p in module.parameters())
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
