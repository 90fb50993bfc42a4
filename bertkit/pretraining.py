"""Models with pretraining heads on disk, and what they are for: fill-mask.

A pretraining checkpoint is a HuggingFace directory whose `config.json` names
`BertForPreTraining` (MLM + NSP), `BertForMaskedLM` (MLM only) or `RobertaForMaskedLM`, with the
heads under HuggingFace's names (`cls.predictions.*`, `cls.seq_relationship.*`, `lm_head.*`), so
`transformers` loads what we write and we load what it writes.

    >>> import bertkit
    >>> from bertkit.pretraining import has_mlm_head
    >>> has_mlm_head(bertkit.bundled.default_model_dir())   # a sentence encoder: no MLM head
    False
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from bertkit import checkpoint
from bertkit.bundled import resolve_model_dir
from bertkit.config import BertConfig
from bertkit.errors import CheckpointError, InputError
from bertkit.modeling.pretraining import PretrainingModel

_MLM_PREFIX = {"bert": "cls.predictions.", "roberta": "lm_head.", "distilbert": "vocab_"}
_NSP_PREFIX = "cls.seq_relationship."


def hf_class(config: BertConfig, next_sentence: bool) -> str:
    """HuggingFace's class for this model: BertForPreTraining, BertForMaskedLM, RobertaForMaskedLM."""
    stem = checkpoint.architecture(config).hf_class.removesuffix("Model")
    return stem + ("ForPreTraining" if next_sentence else "ForMaskedLM")


def _weight_names(directory: Path) -> set[str]:
    return set(checkpoint.read_weights(checkpoint.weights_file(directory)))  # safetensors: mapped, not read


def has_mlm_head(model: str | Path | None) -> bool:
    directory = resolve_model_dir(model)
    config = checkpoint.read_config(directory)
    prefix = _MLM_PREFIX.get(config.model_type)
    return prefix is not None and any(name.startswith(prefix) for name in _weight_names(directory))


def build(config: BertConfig, next_sentence: bool = True) -> PretrainingModel:
    """A pretraining model with random weights (BERT initialisation)."""
    _check_type(config)
    return PretrainingModel(checkpoint.architecture(config).backbone(config), config, next_sentence)


def load(
    model: str | Path | None, next_sentence: bool | None = None, require_heads: bool = False
) -> tuple[PretrainingModel, BertConfig, Path]:
    """A pretraining model from a checkpoint directory (None = the bundled default).

    next_sentence: keep an NSP head (None: when the checkpoint has one). Heads the checkpoint
    lacks start from BERT's initialisation (continued pretraining of a plain encoder), unless
    `require_heads`, where a missing MLM head is an error (fill-mask needs a trained one).
    """
    directory = resolve_model_dir(model)
    config = checkpoint.read_config(directory)
    _check_type(config)
    names = _weight_names(directory)
    if require_heads and not any(n.startswith(_MLM_PREFIX[config.model_type]) for n in names):
        raise CheckpointError(
            f"{directory}: this checkpoint has no masked-LM head ({_MLM_PREFIX[config.model_type]}*); "
            "use a model saved with its MLM head, e.g. one made by `bertkit pretrain`"
        )
    if next_sentence is None:
        next_sentence = any(n.startswith(_NSP_PREFIX) for n in names)
    with torch.device("meta"):  # no memory and no random init for what the file fills anyway
        module = build(config, next_sentence)
    checkpoint.load_weights(module, directory, config)
    return module, config, directory


def save(module: PretrainingModel, directory: str | Path, source: Path | None = None) -> Path:
    """Write a HuggingFace directory, each file replaced atomically (`checkpoint.save_atomic`)."""
    config = module.config
    extra = {**config.extra, "architectures": [hf_class(config, module.nsp is not None)]}
    return checkpoint.save_atomic(module, dataclasses.replace(config, extra=extra), directory, source=source)


class FillMask:
    """Top-k fillers for each mask token ([MASK], or RoBERTa's <mask>) of a text.

    >>> fill = FillMask.from_pretrained("my-bert")                      # doctest: +SKIP
    >>> fill("the software is distributed under the [MASK] of the license.")[0][0]  # doctest: +SKIP
    {'token': 'terms', 'token_id': 1234, 'score': 0.61}
    """

    def __init__(self, model: PretrainingModel, preprocessor):
        self.model = model.eval()
        self.preprocessor = preprocessor
        tokenizer = preprocessor.tokenizer
        self.mask_token = tokenizer.special_tokens["mask_token"]
        self.mask_id = tokenizer.token_id("mask_token")
        layout = preprocessor.layout
        # fillers are words: never a framing token
        self.excluded = sorted({*layout.start, *layout.end, *layout.between, layout.pad_id, self.mask_id})

    @classmethod
    def from_pretrained(cls, model: str | Path | None, seq_length: int = 128) -> FillMask:
        from bertkit.preprocess import Preprocessor

        module, _, directory = load(model, require_heads=True)
        return cls(module, Preprocessor.from_pretrained(directory, seq_length=seq_length))

    @torch.inference_mode()
    def __call__(self, text: str, top_k: int = 5) -> list[list[dict]]:
        """For each mask in `text`, in order: `top_k` dicts {token, token_id, score}, best first."""
        if not isinstance(text, str):
            raise InputError(f"fill-mask takes a string, got {type(text).__name__}")
        if top_k < 1:
            raise InputError(f"top_k must be at least 1, got {top_k}")
        ids = self.preprocessor.tokenize([text])[0]
        if self.mask_id not in ids:
            raise InputError(self._no_mask(text))
        seq_length = min(len(ids) + self.preprocessor.layout.num_special_tokens(1), self.preprocessor.seq_length)
        batch = self.preprocessor.pack_inputs([[ids]], seq_length=seq_length)
        word_ids = batch["input_word_ids"].long()
        positions = (word_ids[0] == self.mask_id).nonzero().flatten().tolist()
        if not positions:
            raise InputError(
                f"every {self.mask_token} is past the first {self.preprocessor.seq_length} tokens; shorten the text"
            )
        device = next(self.model.parameters()).device
        out = self.model(word_ids.to(device), batch["input_mask"].long().to(device), batch["input_type_ids"].long().to(device))
        logits = out.mlm_logits[0, positions].float()  # (masks, V)
        logits[:, self.excluded] = float("-inf")
        scores, best = logits.softmax(-1).topk(min(top_k, logits.shape[-1] - len(self.excluded)), dim=-1)
        return [
            [
                {"token": self._text(i), "token_id": i, "score": round(s, 6)}
                for s, i in zip(row_scores.tolist(), row_ids.tolist())
            ]
            for row_scores, row_ids in zip(scores, best)
        ]

    def _no_mask(self, text: str) -> str:
        """Which text lacks a mask (the command takes several), and why when it is a near miss:
        the mask token is matched exactly, so an uncased model's user typing "[mask]" gets none."""
        shown = text if len(text) <= 60 else text[:57] + "..."
        if self.mask_token.lower() in text.lower():
            return f"no {self.mask_token} in {shown!r}: the mask token is case-sensitive; write {self.mask_token}"
        return f"no {self.mask_token} in {shown!r}; write {self.mask_token} where a word is missing"

    def _text(self, token_id: int) -> str:
        """The filler as text: WordPiece entries as they are, byte-level ones decoded ("Ġparis" -> "paris")."""
        from bertkit.text.bpe import BpeTokenizer
        from bertkit.text.byte_level import from_symbols

        token = self.preprocessor.tokenizer.id_to_token(token_id)
        return from_symbols(token).strip() if isinstance(self.preprocessor.tokenizer, BpeTokenizer) else token


def _check_type(config: BertConfig) -> None:
    if config.model_type not in _MLM_PREFIX:
        raise InputError(
            f"pretraining heads exist for {' and '.join(_MLM_PREFIX)} models, not {config.model_type!r}"
        )
