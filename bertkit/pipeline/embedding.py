"""The machinery of `Pipeline.embed` / `embed_windows`: what a call does (`EmbedSettings`, from
the caller's choices and the model's sentence-transformers files), and the one loop that turns
encoded rows into pooled, normalised vectors on the engine or the reference encoder."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence

import numpy as np
import torch
from tqdm import tqdm

from bertkit.errors import CheckpointError, InputError, InputTypeError, TruncationWarning
from bertkit.inference.layout import TOKEN_POOLINGS, TokenLayout
from bertkit.preprocessing import Preprocessor
from bertkit.tasks import compact

POOLINGS = (*TOKEN_POOLINGS, "pooled")
LONG_TEXTS = ("truncate", "chunk", "error")  # what embed does with a text longer than it reads


@dataclasses.dataclass(frozen=True)
class EmbedSettings:
    """What one `Pipeline.embed` call does: the caller's choices, the rest from the model."""

    pooling: str
    normalize: bool
    max_length: int  # tokens per text, special tokens included
    prompt: str = ""  # put before each text
    skip: int = 0  # leading tokens ([CLS] + prompt) left out of the pooling (include_prompt false)
    lower_case: bool = False
    declared: bool = False  # the model has sentence-transformers files
    conflict: str | None = None  # the warning when an explicit choice contradicts the model's files

    def describe(self) -> str:
        """ "pooling mean, normalised, max 256 tokens (from the model's sentence-transformers files)" """
        text = f"pooling {self.pooling}, {'normalised' if self.normalize else 'not normalised'}, "
        text += f"max {self.max_length} tokens"
        if self.prompt:
            text += f", prompt {self.prompt!r}"
        source = (
            "the model's sentence-transformers files"
            if self.declared
            else "bertkit's defaults: no sentence-transformers files"
        )
        return f"{text} ({source})"


def resolve_settings(pipeline, pooling, normalize, prompt, prompt_name) -> EmbedSettings:
    """`Pipeline.embed_settings`: each choice left None from the model's declared defaults."""
    declared = pipeline.embedding
    if pooling is not None and pooling not in POOLINGS:
        raise InputError(f"unknown pooling {pooling!r}; choose one of {', '.join(POOLINGS)}")
    if declared is None:  # no sentence-transformers files: bertkit's defaults
        if prompt_name is not None:
            raise InputError(f"prompt_name {prompt_name!r}: this model declares no prompts")
        return EmbedSettings(pooling or "cls", bool(normalize), pipeline.embed_length, prompt or "")
    if pooling is None and declared.unsupported:
        raise CheckpointError(
            f"{pipeline.encoder.source}/modules.json: its embedding ends in {', '.join(declared.unsupported)}, "
            "which bertkit does not apply; pass pooling= to embed the encoder's outputs yourself"
        )
    if prompt is not None and prompt_name is not None:
        raise InputError("give prompt or prompt_name, not both")
    name = declared.default_prompt_name if prompt_name is None else prompt_name
    if name is not None and name not in declared.prompts:
        known = ", ".join(declared.prompts) or "none"
        raise InputError(f"unknown prompt_name {name!r}; this model's prompts: {known}")
    prompt = declared.prompts.get(name, "") if prompt is None else prompt
    chosen = (
        declared.pooling if pooling is None else pooling,
        declared.normalize if normalize is None else normalize,
    )
    conflict = None
    if chosen != (declared.pooling, declared.normalize):
        said = f"{chosen[0]} pooling, {'normalised' if chosen[1] else 'not normalised'}"
        conflict = (
            f"{pipeline.encoder.source} declares {declared.pooling} pooling, "
            f"{'normalised' if declared.normalize else 'not normalised'} (its sentence-transformers files); "
            f"embedding with {said} as asked"
        )
    skip = 0
    if prompt and not declared.include_prompt:  # [CLS] and the prompt's tokens, as sentence-transformers counts them
        skip = len(pipeline.preprocessor.tokenize([prompt])[0]) + 1
    return EmbedSettings(
        *chosen, pipeline.embed_length, prompt, skip, declared.do_lower_case, declared=True, conflict=conflict
    )


def prepare(pipeline, texts, pooling, normalize, prompt, prompt_name, dimensions, precision, ranges, batch_size):
    """What every embed call checks and settles first: (texts as a list, EmbedSettings, the
    output's quantisation ranges, the preprocessor cut at the embedding's length)."""
    texts = check_texts(texts)
    settings = pipeline.embed_settings(pooling, normalize, prompt, prompt_name)
    ranges = compact.check(dimensions, precision, ranges, pipeline.encoder.config.hidden_size)
    if settings.conflict:
        warnings.warn(settings.conflict, stacklevel=4)  # past embed and inference_mode's wrapper: the caller
    if batch_size < 1:
        raise InputError(f"batch_size must be at least 1, got {batch_size}")
    return texts, settings, ranges, embedding_preprocessor(pipeline.preprocessor, settings)


def embedding_preprocessor(pre: Preprocessor, settings: EmbedSettings) -> Preprocessor:
    """`pre`'s stages, cut at the embedding's length."""
    if settings.max_length != pre.seq_length:
        pre = Preprocessor(pre.tokenizer, pre.layout, settings.max_length)
    return pre


def embed_rows(pipeline, pre, encoded, settings: EmbedSettings, batch_size: int, progress: bool, unit: str):
    """(N, H) float32 vectors of encoded rows, in their order, pooled and normalised as `settings` say."""
    vectors = np.zeros((len(encoded.ids), pipeline.encoder.config.hidden_size), dtype=np.float32)
    with tqdm(total=len(encoded.ids), unit=unit, disable=not progress, desc="embed") as bar:
        for batch, inputs in pre.batches(encoded, batch_size):  # padded to each batch's longest
            mask = inputs["input_mask"]
            if pipeline.engine is not None:  # same vectors, no compute on padding
                found = pipeline.engine.embed(
                    inputs["input_word_ids"], mask, inputs["input_type_ids"], settings.pooling, settings.skip
                )
            else:
                found = pool(pipeline.encoder(inputs), mask, settings.pooling, settings.skip)
            if settings.normalize:
                found = torch.nn.functional.normalize(found, p=2.0, dim=-1)
            vectors[batch] = found.cpu().numpy()
            bar.update(len(batch))
    return vectors


def pool(out: dict, mask: torch.Tensor, pooling: str, skip: int) -> torch.Tensor:  # -> (B, H) float32
    """The reference encoder's outputs pooled as the engine pools them."""
    if pooling == "pooled":
        if out["pooled_output"] is None:
            raise InputError("this model has no pooler; pool its tokens instead (pooling='cls' or 'mean')")
        return out["pooled_output"].float()
    sequence = out["sequence_output"]  # (B, S, H)
    layout = TokenLayout.from_mask(mask, sequence.device)  # the engine's pooling, on the padded batch
    return layout.pool(layout.gather(sequence.float()), pooling, skip)


def check_long(pre: Preprocessor, texts: list[str], cut: list[int], long: str) -> None:
    """Texts cut to the model's length: one warning for all of them, or with long="error" a refusal."""
    if not cut:
        return
    if long == "error":
        first = cut[0]
        length = len(pre.tokenize([texts[first]])[0]) + pre.layout.num_special_tokens(1)
        raise InputError(
            f"text {first} is {length} tokens long (special tokens included), more than the model's "
            f"{pre.seq_length}; shorten it, or let long='truncate' cut it"
        )
    hint = "pass long='error' to refuse such texts"
    warnings.warn(TruncationWarning(len(cut), len(texts), pre.seq_length, hint), stacklevel=4)


def check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise InputTypeError("embed takes a list of texts, not one string; wrap it: embed([text])")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputTypeError(f"text {i} is {type(text).__name__}, not a string")
    return texts
