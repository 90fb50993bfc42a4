"""`rerank`: documents ordered by a cross-encoder's relevance, with transformers' own scores.

The cross-encoder is written by `transformers` (`num_labels=1`, random weights), so its scores
are transformers' logits on `[CLS] query [SEP] document [SEP]`; the order is theirs sorted.
"""

from __future__ import annotations

import json

import pytest
import tiny_models
import torch
import transformers

import bertkit
from bertkit.cli import main
from bertkit.errors import InputError

QUERY = "what is the licence of this package?"
DOCUMENTS = [
    "This package is distributed under the terms of the GNU General Public License.",
    "Run make setup, then make test.",
    "Thanks to everyone who reported bugs.",
    "Copyright (C) 2019 the authors; see the COPYING file for the licence.",
    "",
]


def _pair_model(directory, num_labels: int):
    config = transformers.BertConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, num_labels=num_labels
    )
    torch.manual_seed(num_labels)
    theirs = transformers.BertForSequenceClassification(config).eval()
    tiny_models.tiny_bert_dir(directory)  # the bundled vocabulary's files
    theirs.save_pretrained(str(directory))
    return theirs, transformers.AutoTokenizer.from_pretrained(str(directory))


@pytest.fixture(scope="module")
def cross_encoder(tmp_path_factory):
    directory = tmp_path_factory.mktemp("cross-encoder")
    theirs, tokenizer = _pair_model(directory, num_labels=1)
    with torch.no_grad():
        logits = theirs(**tokenizer([QUERY] * len(DOCUMENTS), DOCUMENTS, padding=True, return_tensors="pt")).logits
    return directory, logits[:, 0]


def test_scores_and_order_are_transformers(cross_encoder):
    directory, expected = cross_encoder
    ranked = bertkit.load(directory, precision="fp32").rerank(QUERY, DOCUMENTS)
    assert [r["index"] for r in ranked] == torch.argsort(expected, descending=True, stable=True).tolist()
    scores = torch.tensor([r["score"] for r in ranked])
    torch.testing.assert_close(scores, expected[[r["index"] for r in ranked]], atol=1e-4, rtol=0)
    assert scores.tolist() == sorted(scores.tolist(), reverse=True)


def test_top_n_sigmoid_and_documents(cross_encoder):
    directory, expected = cross_encoder
    model = bertkit.load(directory, precision="fp32")
    best = model.rerank(QUERY, DOCUMENTS, top_n=2, sigmoid=True, return_documents=True)
    assert len(best) == 2 and best[0]["index"] == int(expected.argmax())
    assert best[0]["document"] == DOCUMENTS[best[0]["index"]]
    assert abs(best[0]["score"] - float(torch.sigmoid(expected.max()))) < 1e-4


def test_a_long_document_is_cut_never_the_query(cross_encoder):
    """At seq_length 24 a long document keeps what the query leaves: the query's tokens are all
    there, as `only_second` truncation in transformers gives them."""
    directory, _ = cross_encoder
    long_document = "the licence text goes on and on " * 40
    model = bertkit.load(directory, precision="fp32", seq_length=24)
    [ranked] = model.rerank(QUERY, [long_document])
    theirs = transformers.BertForSequenceClassification.from_pretrained(str(directory)).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(directory))
    inputs = tokenizer(QUERY, long_document, truncation="only_second", max_length=24, return_tensors="pt")
    with torch.no_grad():
        expected = float(theirs(**inputs).logits[0, 0])
    assert abs(ranked["score"] - expected) < 1e-4
    with pytest.raises(InputError, match="the query alone fills the 8 tokens of a pair"):
        bertkit.load(directory, precision="fp32", seq_length=8).rerank(QUERY, ["a document"])


def test_a_two_label_model_ranks_by_its_second_label(tmp_path):
    theirs, tokenizer = _pair_model(tmp_path / "two", num_labels=2)
    with torch.no_grad():
        logits = theirs(**tokenizer([QUERY] * len(DOCUMENTS), DOCUMENTS, padding=True, return_tensors="pt")).logits
    expected = torch.softmax(logits, dim=-1)[:, 1]
    ranked = bertkit.load(tmp_path / "two", precision="fp32").rerank(QUERY, DOCUMENTS)
    torch.testing.assert_close(
        torch.tensor([r["score"] for r in ranked]), expected.sort(descending=True).values, atol=1e-4, rtol=0
    )


def test_what_cannot_rerank_says_why(cross_encoder):
    directory, _ = cross_encoder
    model = bertkit.load(directory, precision="fp32")
    with pytest.raises(InputError, match="no documents"):
        model.rerank(QUERY, [])
    with pytest.raises(InputError, match="top_n"):
        model.rerank(QUERY, DOCUMENTS, top_n=0)
    with pytest.raises(TypeError, match="list of strings"):
        model.rerank(QUERY, "one document")
    with pytest.raises(InputError, match="this is an embedding model"):
        bertkit.load().rerank(QUERY, DOCUMENTS)


def test_the_command(cross_encoder, capsys, tmp_path):
    directory, expected = cross_encoder
    order = torch.argsort(expected, descending=True, stable=True).tolist()
    assert main(["rerank", "--model", str(directory), "--precision", "fp32", "--json", QUERY, *DOCUMENTS]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [r["index"] for r in printed] == order and printed[0]["document"] == DOCUMENTS[order[0]]
    listing = tmp_path / "documents.txt"
    listing.write_text("\n".join(DOCUMENTS[:4]) + "\n", encoding="utf-8")
    assert (
        main(
            ["rerank", "--model", str(directory), "--precision", "fp32", "--input", str(listing), "--top-n", "1", QUERY]
        )
        == 0
    )
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith("1\t") and line.endswith(DOCUMENTS[int(expected[:4].argmax())])
    assert main(["rerank", "--model", str(directory), QUERY]) == 1
    assert (
        capsys.readouterr().err.strip()
        == "bertkit rerank: error: nothing to rank: give documents after the query, or --input FILE"
    )
