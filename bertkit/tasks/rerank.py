"""Rerank: documents ordered by a pair model's relevance to a query (a cross-encoder).

A pair model reads `[CLS] query [SEP] document [SEP]` and scores it. Its score is, by its head:

- one output (a cross-encoder, transformers' `num_labels=1`): the raw logit, as transformers and
  sentence-transformers' CrossEncoder give it; its sigmoid with `sigmoid=True`;
- two labels (irrelevant / relevant): the probability of the second.

The query is never cut: each document is cut to the tokens the query leaves (transformers'
default `longest_first` truncation would cut a long query too); a query too long to leave room
for any document is an error, not a silent cut. Documents run
in length-sorted batches, as everything else (`Preprocessor.batches`).

    >>> m = bertkit.load("my-cross-encoder")                    # doctest: +SKIP
    >>> m.rerank("how do I install it", ["Thanks to everyone.", "Run make setup."])  # doctest: +SKIP
    [{'index': 1, 'score': 4.21}, {'index': 0, 'score': -3.97}]
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from bertkit.checkpoint import TaskSpec
from bertkit.errors import InputError, InputTypeError
from bertkit.preprocessing.encoding import EncodedTexts
from bertkit.tasks.prediction import text_logits


def rerank(
    model: nn.Module,
    spec: TaskSpec,
    pre,
    query: str,
    documents,
    top_n: int | None = None,
    batch_size: int = 32,
    sigmoid: bool = False,
    return_documents: bool = False,
) -> list[dict]:
    """`[{"index", "score"}]` (and `"document"` with `return_documents`), best first; ties keep input order."""
    check_pair_model(spec)
    if not isinstance(query, str):
        raise InputTypeError(f"the query must be a string, not {type(query).__name__}")
    if isinstance(documents, str) or not hasattr(documents, "__iter__"):
        raise InputTypeError("documents must be a list of strings; wrap one document in a list")
    documents = list(documents)
    for i, document in enumerate(documents):
        if not isinstance(document, str):
            raise InputTypeError(f"documents[{i}] is {type(document).__name__}, expected str")
    if not documents:
        raise InputError("no documents to rerank")
    if top_n is not None and top_n < 1:
        raise InputError(f"top_n must be at least 1, got {top_n}")

    budget = pre.budget(2)  # what query and document may hold together
    query_ids = pre.tokenizer.encode(query, max_tokens=budget)
    if len(query_ids) >= budget:
        raise InputError(
            f"the query alone fills the {pre.seq_length} tokens of a pair (at least {len(query_ids)} of {budget}); "
            "shorten it or load the model with a longer seq_length"
        )
    document_ids = pre.tokenizer.encode_batch(documents, max_tokens=budget - len(query_ids))
    special = pre.layout.num_special_tokens(2)
    encoded = EncodedTexts(
        ids=[query_ids] * len(documents),
        ids_b=document_ids,
        lengths=[len(query_ids) + len(ids) + special for ids in document_ids],
    )
    logits = torch.from_numpy(text_logits(model.eval(), pre, encoded, batch_size))
    if logits.shape[1] == 1:
        scores = torch.sigmoid(logits[:, 0]) if sigmoid else logits[:, 0]
    else:
        scores = torch.softmax(logits, dim=-1)[:, 1]
    order = np.argsort(-scores.numpy(), kind="stable")[:top_n]
    ranked = [{"index": int(i), "score": float(scores[i])} for i in order]
    if return_documents:
        for entry in ranked:
            entry["document"] = documents[entry["index"]]
    return ranked


def check_pair_model(spec: TaskSpec | None) -> None:
    """A reranker is a classifier with one output (a relevance score) or two labels (irrelevant,
    relevant); anything else cannot order documents."""
    if spec is None:
        raise InputError(
            "rerank needs a pair model (a cross-encoder: one output, or two labels); this is an "
            "embedding model - compare its embed() vectors instead, or fine-tune a pair classifier"
        )
    if spec.kind != "classification" or spec.multi_label or len(spec.labels) > 2:
        what = "a tagger" if spec.kind != "classification" else f"a classifier with {len(spec.labels)} labels"
        raise InputError(f"rerank needs a pair model with one output (a relevance score) or two labels; this is {what}")
