"""A sentence-transformers model's own embedding settings, read from its files.

A model saved by sentence-transformers says how its vectors are made, beside the weights:

    modules.json                       the module list: Transformer -> Pooling -> Normalize (-> Dense ...)
    1_Pooling/config.json              which pooling (`pooling_mode_*` flags, or `pooling_mode`)
    sentence_bert_config.json          `max_seq_length`, `do_lower_case`
    config_sentence_transformers.json  `prompts`, `default_prompt_name`, `similarity_fn_name`

`embedding_defaults` reads them into one `EmbeddingDefaults`; `Pipeline.embed` uses it when
the caller leaves a choice open.

    >>> from bertkit.bundled import default_model_dir
    >>> d = embedding_defaults(default_model_dir())    # all-MiniLM-L6-v2
    >>> d.pooling, d.normalize, d.max_seq_length
    ('mean', True, 256)
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from bertkit.errors import CheckpointError

# Pooling/config.json: each legacy flag and the mode it turns on (sentence-transformers'
# `Pooling`, whose `pooling_mode` key names the same modes in newer saves).
POOLING_FLAGS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}
POOLING_MODES = tuple(POOLING_FLAGS.values())
SIMILARITIES = ("cosine", "dot", "euclidean", "manhattan")
# modules.json types, by their class name: the ones bertkit applies itself
TRANSFORMER, POOLING, NORMALIZE = "Transformer", "Pooling", "Normalize"


@dataclasses.dataclass(frozen=True)
class EmbeddingDefaults:
    """How the model's own files say its sentence vectors are made."""

    pooling: str  # one of POOLING_MODES
    normalize: bool  # a Normalize module follows the pooling
    max_seq_length: int | None  # tokens per text, special tokens included; None: not declared
    do_lower_case: bool = False  # sentence-transformers lower-cases the text before tokenizing
    include_prompt: bool = True  # False: the prompt's tokens are left out of the pooling
    prompts: dict[str, str] = dataclasses.field(default_factory=dict)
    default_prompt_name: str | None = None
    similarity_fn_name: str = "cosine"
    unsupported: tuple[str, ...] = ()  # modules after the pooling that bertkit cannot apply (Dense, ...)

    def describe(self) -> str:
        """ "mean pooling, normalised, max 256 tokens" """
        parts = [f"{self.pooling} pooling", "normalised" if self.normalize else "not normalised"]
        if self.max_seq_length is not None:
            parts.append(f"max {self.max_seq_length} tokens")
        return ", ".join(parts)


def embedding_defaults(directory: Path) -> EmbeddingDefaults | None:
    """The embedding settings a sentence-transformers model declares; None without modules.json."""
    directory = Path(directory)
    modules = _read_json(directory / "modules.json")
    if modules is None:
        return None
    if not isinstance(modules, list) or not all(isinstance(m, dict) and "type" in m for m in modules):
        raise CheckpointError(f"{directory / 'modules.json'}: expected a list of modules, each with a 'type'")
    kinds = [(str(m["type"]).rsplit(".", 1)[-1], str(m.get("path", ""))) for m in modules]
    pooling_paths = [path for kind, path in kinds if kind == POOLING]
    if len(pooling_paths) != 1:
        raise CheckpointError(f"{directory / 'modules.json'}: expected one Pooling module, found {len(pooling_paths)}")
    pooling, include_prompt = _read_pooling(directory / pooling_paths[0] / "config.json")
    unsupported = tuple(kind for kind, _ in kinds if kind not in (TRANSFORMER, POOLING, NORMALIZE))

    sbert = _read_json(directory / "sentence_bert_config.json") or {}
    max_seq_length = _field(sbert, "max_seq_length", int, directory / "sentence_bert_config.json", None)
    if max_seq_length is not None and max_seq_length < 2:
        raise CheckpointError(f"{directory / 'sentence_bert_config.json'}: max_seq_length must be at least 2")
    do_lower_case = _field(sbert, "do_lower_case", bool, directory / "sentence_bert_config.json", False)

    st_file = directory / "config_sentence_transformers.json"
    st = _read_json(st_file) or {}
    prompts = _field(st, "prompts", dict, st_file, {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in prompts.items()):
        raise CheckpointError(f"{st_file}: 'prompts' must map names to strings")
    default_prompt_name = _field(st, "default_prompt_name", str, st_file, None)
    if default_prompt_name is not None and default_prompt_name not in prompts:
        raise CheckpointError(f"{st_file}: default_prompt_name {default_prompt_name!r} is not one of its prompts")
    similarity = _field(st, "similarity_fn_name", str, st_file, None) or "cosine"
    if similarity not in SIMILARITIES:
        raise CheckpointError(
            f"{st_file}: unknown similarity_fn_name {similarity!r}; expected one of {', '.join(SIMILARITIES)}"
        )
    return EmbeddingDefaults(
        pooling=pooling,
        normalize=NORMALIZE in [kind for kind, _ in kinds],
        max_seq_length=max_seq_length,
        do_lower_case=do_lower_case,
        include_prompt=include_prompt,
        prompts=prompts,
        default_prompt_name=default_prompt_name,
        similarity_fn_name=similarity,
        unsupported=unsupported,
    )


def _read_pooling(path: Path) -> tuple[str, bool]:
    """(mode, include_prompt) of a Pooling module's config.json."""
    config = _read_json(path)
    if config is None:
        raise CheckpointError(f"{path}: missing; modules.json names a Pooling module here")
    if not isinstance(config, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    include_prompt = _field(config, "include_prompt", bool, path, True)
    if "pooling_mode" in config:  # newer saves: one mode name, or a list to concatenate
        mode = config["pooling_mode"]
        modes = mode if isinstance(mode, list) else [mode]
    else:
        unknown = [k for k in config if k.startswith("pooling_mode_") and k not in POOLING_FLAGS]
        if unknown:
            raise CheckpointError(f"{path}: unknown pooling mode {unknown[0]!r}")
        # no flag set: sentence-transformers' Pooling falls back to mean
        modes = [mode for flag, mode in POOLING_FLAGS.items() if config.get(flag)] or ["mean"]
    for mode in modes:
        if mode not in POOLING_MODES:
            raise CheckpointError(f"{path}: unknown pooling mode {mode!r}; expected one of {', '.join(POOLING_MODES)}")
    if len(modes) != 1:
        raise CheckpointError(
            f"{path}: contradictory pooling: {' and '.join(modes)} are all set (sentence-transformers would "
            "concatenate them; bertkit pools one way)"
        )
    return modes[0], include_prompt


def _read_json(path: Path):
    """The parsed file, None if it does not exist, or a one-line CheckpointError naming it."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        where = f" (line {e.lineno}, column {e.colno})" if isinstance(e, json.JSONDecodeError) else ""
        raise CheckpointError(f"{path}: not valid JSON{where}") from None


def _field(config, key: str, kind: type, path: Path, default):
    if not isinstance(config, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    value = config.get(key, default)
    if value is None or value is default:
        return value
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise CheckpointError(f"{path}: {key} must be {kind.__name__}, got {value!r}")
    return value
