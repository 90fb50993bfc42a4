"""One configuration for the whole family: BERT, RoBERTa and DistilBERT.

`BertConfig` carries the architecture. Its field names are the HuggingFace BERT keys
(`hidden_size`, `num_hidden_layers`, ...), so a BERT or RoBERTa `config.json` maps onto it
one to one; DistilBERT's own keys (`dim`, `n_layers`, ...) are translated in `_DISTILBERT_KEYS`,
here and nowhere else. Modules never read `config.json` themselves: they take a `BertConfig`.

    >>> from bertkit.modeling.config import BertConfig
    >>> config = BertConfig(hidden_size=384, num_hidden_layers=6, intermediate_size=1536)
    >>> config.head_size
    32
    >>> BertConfig.from_dict({"model_type": "distilbert", "dim": 768, "n_layers": 6}).num_hidden_layers
    6
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from bertkit.errors import CheckpointError, ModelNotFoundError
from bertkit.modeling.activations import ACTIVATIONS

# DistilBERT's config.json key -> our field. It has no token types and no configurable
# layer-norm epsilon (HuggingFace hard-codes 1e-12).
_DISTILBERT_KEYS = {
    "dim": "hidden_size",
    "n_layers": "num_hidden_layers",
    "n_heads": "num_attention_heads",
    "hidden_dim": "intermediate_size",
    "activation": "hidden_act",
    "dropout": "hidden_dropout_prob",
    "attention_dropout": "attention_probs_dropout_prob",
    "sinusoidal_pos_embds": "sinusoidal_positions",
}
_DISTILBERT_FIXED = {"type_vocab_size": 0, "layer_norm_eps": 1e-12}

# The model types bertkit reads (a family joins here and in `checkpoint.names.ARCHITECTURES`),
# each with where its defaults differ from BERT's (used only for keys config.json leaves out).
MODEL_TYPES = {
    "bert": {},
    "roberta": {
        "vocab_size": 50265,
        "pad_token_id": 1,
        "bos_token_id": 0,
        "eos_token_id": 2,
        "type_vocab_size": 1,
        "max_position_embeddings": 514,
        "layer_norm_eps": 1e-5,
    },
    "distilbert": {**_DISTILBERT_FIXED, "hidden_act": "gelu"},
}


@dataclasses.dataclass
class BertConfig:
    """The architecture of a BERT-family encoder (defaults: BERT-base, uncased vocabulary)."""

    model_type: str = "bert"
    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"  # "gelu" is the exact (erf) form, as in the original BERT
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2  # 0: no token-type embedding (DistilBERT)
    layer_norm_eps: float = 1e-12
    initializer_range: float = 0.02
    pad_token_id: int = 0  # RoBERTa: 1, and its positions start at pad_token_id + 1
    bos_token_id: int | None = None
    eos_token_id: int | None = None
    sinusoidal_positions: bool = False  # DistilBERT's fixed sinusoidal position table
    # Every other config.json key (architectures, id2label, label2id, ...), kept for the round trip.
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def validate(self) -> None:
        """Raise `CheckpointError` for a configuration no model can be built from."""
        if self.model_type not in MODEL_TYPES:
            raise CheckpointError(f"unknown model_type {self.model_type!r}; bertkit reads {', '.join(MODEL_TYPES)}")
        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise CheckpointError(f"{name} must be a positive whole number, found {value!r}")
        if self.hidden_size % self.num_attention_heads:
            raise CheckpointError(
                f"hidden_size {self.hidden_size} is not a multiple of num_attention_heads {self.num_attention_heads}"
            )
        if self.hidden_act not in ACTIVATIONS:
            raise CheckpointError(f"unknown activation {self.hidden_act!r}; bertkit knows {', '.join(ACTIVATIONS)}")

    # --- HuggingFace config.json ------------------------------------------------------------

    @classmethod
    def from_dict(cls, hf: dict[str, Any]) -> BertConfig:
        """Build from a HuggingFace config dictionary (any of the three model types)."""
        model_type = hf.get("model_type", "bert")
        if model_type not in MODEL_TYPES:
            raise CheckpointError(f"unknown model_type {model_type!r}; bertkit reads {', '.join(MODEL_TYPES)}")
        hf = dict(hf)
        if model_type == "distilbert":
            hf = {_DISTILBERT_KEYS.get(key, key): value for key, value in hf.items()}
            hf.update(_DISTILBERT_FIXED)
        positions = hf.pop("position_embedding_type", "absolute")  # to_dict writes it back
        if positions != "absolute":
            raise CheckpointError(
                f"position_embedding_type {positions!r} is not supported (bertkit implements absolute positions)"
            )
        fields = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        values = {**MODEL_TYPES[model_type], "model_type": model_type}
        extra = {}
        for key, value in hf.items():
            if key in fields:
                values[key] = value
            else:
                extra[key] = value
        return cls(**values, extra=extra)

    def to_dict(self) -> dict[str, Any]:
        """The HuggingFace config dictionary `transformers.AutoConfig` reads back."""
        ours = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        ours.pop("extra")
        if self.model_type == "distilbert":
            for key in _DISTILBERT_FIXED:
                ours.pop(key)
            to_hf = {field: key for key, field in _DISTILBERT_KEYS.items()}
            ours = {to_hf.get(key, key): value for key, value in ours.items()}
        else:
            ours.pop("sinusoidal_positions")
            ours["position_embedding_type"] = "absolute"
        if ours.get("bos_token_id") is None:
            ours.pop("bos_token_id")
        if ours.get("eos_token_id") is None:
            ours.pop("eos_token_id")
        hf = {**self.extra, **ours}  # the classes in "architectures" are bertkit.checkpoint's to write
        return dict(sorted(hf.items()))

    @classmethod
    def from_json_file(cls, path: str | Path) -> BertConfig:
        path = Path(path)
        if not path.is_file():
            raise ModelNotFoundError(f"{path}: no config.json in the model directory")
        try:
            hf = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise CheckpointError(f"{path}: not valid JSON ({e})") from None
        if not isinstance(hf, dict):
            raise CheckpointError(f"{path}: expected a JSON object")
        try:
            return cls.from_dict(hf)
        except CheckpointError as e:
            raise CheckpointError(f"{path}: {e}") from None
        except TypeError as e:  # e.g. a null where a number belongs
            raise CheckpointError(f"{path}: {e}") from None

    def to_json_file(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
