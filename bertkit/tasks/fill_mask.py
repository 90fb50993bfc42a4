"""Fill-mask: the top-k fillers of each mask token from a model's MLM head.

>>> fill = FillMask.from_pretrained("my-bert")                      # doctest: +SKIP
>>> fill("the software is distributed under the [MASK] of the license.")[0][0]  # doctest: +SKIP
{'token': 'terms', 'token_id': 1234, 'score': 0.61}
"""

from __future__ import annotations

from pathlib import Path

import torch

from bertkit import checkpoint
from bertkit.errors import InputError
from bertkit.modeling.pretraining import PretrainingModel
from bertkit.preprocessing import Preprocessor


class FillMask:
    """Top-k fillers for each mask token ([MASK], or RoBERTa's <mask>) of a text."""

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
        module, _, directory = checkpoint.load_pretraining(model, require_heads=True)
        return cls(module, Preprocessor.from_pretrained(directory, seq_length=seq_length))

    @torch.inference_mode()
    def __call__(self, text: str, top_k: int = 5) -> list[list[dict]]:
        """For each mask in `text`, in order: `top_k` dicts {token, token_id, score}, best first."""
        if not isinstance(text, str):
            raise InputError(f"fill-mask takes a string, got {type(text).__name__}")
        if top_k < 1:
            raise InputError(f"top_k must be at least 1, got {top_k}")
        pre = self.preprocessor
        ids = self._ids(text)
        batch = pre.pack_inputs([[ids]], padding="longest")
        word_ids = batch["input_word_ids"].long()
        positions = (word_ids[0] == self.mask_id).nonzero().flatten().tolist()
        if not positions:  # none at all, or every one past seq_length
            if self.mask_token not in text:
                raise InputError(self._no_mask(text))
            raise InputError(f"every {self.mask_token} is past the first {pre.seq_length} tokens; shorten the text")
        device = next(self.model.parameters()).device
        out = self.model(
            word_ids.to(device), batch["input_mask"].long().to(device), batch["input_type_ids"].long().to(device)
        )
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

    def _ids(self, text: str) -> list[int]:
        """The text's token ids, each mask token written in it as the mask id. TF Hub's tokenizer
        (the `tfhub` flavour) reads "[MASK]" as text, as TF Hub does, so the mask is placed here."""
        tokenizer, budget = self.preprocessor.tokenizer, self.preprocessor.budget(1)
        if tokenizer.flavor != "tfhub":
            return tokenizer.encode(text, max_tokens=budget)
        first, *rest = text.split(self.mask_token)
        ids = tokenizer.encode(first, max_tokens=budget)
        for piece in rest:
            if len(ids) >= budget:
                break
            ids += [self.mask_id, *tokenizer.encode(piece, max_tokens=budget)]
        return ids[:budget]

    def _no_mask(self, text: str) -> str:
        """Which text lacks a mask (the command takes several), and why when it is a near miss:
        the mask token is matched exactly, so an uncased model's user typing "[mask]" gets none."""
        shown = text if len(text) <= 60 else text[:57] + "..."
        if self.mask_token.lower() in text.lower():
            return f"no {self.mask_token} in {shown!r}: the mask token is case-sensitive; write {self.mask_token}"
        return f"no {self.mask_token} in {shown!r}; write {self.mask_token} where a word is missing"

    def _text(self, token_id: int) -> str:
        """The filler as text: WordPiece entries as they are, byte-level ones decoded ("Ġparis" -> "paris")."""
        return self.preprocessor.tokenizer.decode_token(token_id).strip()
