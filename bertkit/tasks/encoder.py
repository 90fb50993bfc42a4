"""Encoder: the TF Hub input dict in, the TF Hub output dict out.

    >>> from bertkit import Encoder, Preprocessor
    >>> pre, enc = Preprocessor.from_pretrained(), Encoder.from_pretrained()
    >>> out = enc(pre(["This is a spam mail", "Computers are not unique to computers"]))
    >>> list(out.keys())
    ['default', 'sequence_output', 'encoder_outputs', 'pooled_output']
    >>> tuple(out["sequence_output"].shape), tuple(out["pooled_output"].shape), len(out["encoder_outputs"])
    ((2, 128, 384), (2, 384), 6)

The architecture (BERT, RoBERTa, DistilBERT) comes from the checkpoint's config.json; the
encoder itself only adapts names and dtypes around the backbone (`bertkit.modeling`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from bertkit import checkpoint
from bertkit.errors import InputError
from bertkit.modeling.config import BertConfig

INPUT_NAMES = ("input_word_ids", "input_mask", "input_type_ids")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """None -> CPU; a device string -> `torch.device`, checked to exist on this machine."""
    if device is None:
        return torch.device("cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise InputError(f"unknown device {str(device)!r} ({e}); use cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {str(device)!r} requested but this torch has no usable CUDA device")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise InputError(f"device {str(device)!r} requested but only {torch.cuda.device_count()} CUDA devices")
    return device


class Encoder(nn.Module):
    """A BERT-family encoder with TF Hub's inputs and outputs.

    Outputs: `sequence_output` (B, S, H), `pooled_output` (B, H), `encoder_outputs` (a list of
    L tensors (B, S, H), one per layer, the last equal to `sequence_output`) and `default`
    (= `pooled_output`). Values at padding positions of `sequence_output` are unspecified.
    `enc(batch, output_attentions=True)` adds `attentions`: L tensors (B, heads, S, S), each
    query's softmax over the keys (rows sum to 1 over real tokens, exactly 0 on padding keys),
    as `transformers` returns them for `output_attentions=True`.
    In eval mode after `from_pretrained`; `.train()` turns dropout on for fine-tuning.
    """

    def __init__(self, backbone: nn.Module, source: Path | None = None):
        super().__init__()
        self.backbone = backbone
        self.source = source  # the checkpoint directory, whose tokenizer files `save_pretrained` copies

    @property
    def config(self) -> BertConfig:
        return self.backbone.config

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @classmethod
    def from_pretrained(cls, model: str | Path | None = None, device: str | torch.device | None = None) -> Encoder:
        """Load a HuggingFace-format directory (None = the bundled all-MiniLM-L6-v2)."""
        device = resolve_device(device)
        backbone, _, directory = checkpoint.load_backbone(model)
        return cls(backbone, source=directory).to(device).eval()

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write a directory `transformers.AutoModel.from_pretrained` loads, tokenizer files included."""
        return checkpoint.save(self.backbone, self.config, directory, source=self.source)

    def forward(
        self, batch: Mapping[str, torch.Tensor], output_attentions: bool = False
    ) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        word_ids, mask, type_ids = self._inputs(batch)  # (B, S) int64 each, on our device
        out = self.backbone(word_ids, mask, type_ids, attentions=output_attentions)
        # TF Hub's key order, so printing the dict reads as in its notebooks.
        outputs = {
            "default": out.pooled,
            "sequence_output": out.sequence,
            "encoder_outputs": out.layers,
            "pooled_output": out.pooled,
        }
        if output_attentions:  # transformers' name; computed only when asked (the fused kernel has none)
            outputs["attentions"] = out.attentions
        return outputs

    def _inputs(self, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
        if not isinstance(batch, Mapping):
            raise InputError(
                f"the encoder takes the preprocessor's dict ({', '.join(INPUT_NAMES)}), not {type(batch).__name__}"
            )
        if "input_word_ids" not in batch or "input_mask" not in batch:
            raise InputError(f"the encoder's input needs input_word_ids and input_mask; got keys {sorted(batch)}")
        word_ids = torch.as_tensor(batch["input_word_ids"], device=self.device).long()
        if word_ids.dim() != 2:
            raise InputError(f"input_word_ids must be 2-D (batch, seq_length); got shape {tuple(word_ids.shape)}")
        mask = torch.as_tensor(batch["input_mask"], device=self.device).long()
        type_ids = batch.get("input_type_ids")
        type_ids = (
            torch.zeros_like(word_ids) if type_ids is None else torch.as_tensor(type_ids, device=self.device).long()
        )
        if mask.shape != word_ids.shape or type_ids.shape != word_ids.shape:
            raise InputError(
                f"input shapes differ: input_word_ids {tuple(word_ids.shape)}, "
                f"input_mask {tuple(mask.shape)}, input_type_ids {tuple(type_ids.shape)}"
            )
        if word_ids.shape[1] > self.config.max_position_embeddings:
            raise InputError(
                f"sequences of {word_ids.shape[1]} tokens are longer than this model's "
                f"{self.config.max_position_embeddings} positions; use a smaller seq_length"
            )
        return word_ids, mask, type_ids
