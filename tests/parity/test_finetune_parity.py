"""Fine-tuned models against transformers' task classes, both ways.

- A classifier (single texts, pairs, multi-label) and a tagger fine-tuned here from a tiny
  BERT that transformers wrote load in `AutoModelForSequenceClassification` /
  `AutoModelForTokenClassification` with the same logits (1e-5), the same id2label, and
  `AutoTokenizer` gives the ids our preprocessor gives.
- Task models that transformers wrote (BERT, RoBERTa, DistilBERT; sequence and token
  classification; random weights) load in `bertkit.checkpoint.load_task` with the same logits, and what
  we save from them loads back in transformers with the same logits.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tiny_models
import torch
import transformers

import bertkit  # noqa: E402
from bertkit import checkpoint  # noqa: E402
from bertkit.cli import main  # noqa: E402
from bertkit.tasks import prediction  # noqa: E402
from bertkit.train.finetune import FinetuneOptions, finetune  # noqa: E402

ATOL = 1e-5


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return tiny_models.tiny_bert_dir(tmp_path_factory.mktemp("tiny"))


def _finetune(base: Path, tmp: Path, train: Path, **options) -> Path:
    out = tmp / "model"
    finetune(FinetuneOptions(train=train, output=out, model=base, epochs=1, batch_size=8, max_steps=3,
                             progress=False, learning_rate=1e-3, **options))  # fmt: skip
    return out


def _hf_inputs(batch: dict) -> dict:
    return {
        "input_ids": batch["input_word_ids"].long(),
        "attention_mask": batch["input_mask"].long(),
        "token_type_ids": batch["input_type_ids"].long(),
    }


@pytest.mark.parametrize("variant", ["single", "pair", "multi_label"])
def test_fine_tuned_classifier_loads_in_transformers_with_the_same_logits(base, tmp_path, variant):
    rows = tiny_models.toy_spam(40)
    options = {}
    if variant == "pair":
        rows = [(text, text[::-1], label) for text, label in rows]
        tiny_models.write_csv(tmp_path / "train.csv", rows, header=("text", "second", "label"))
        options["text_pair_column"] = "second"
    elif variant == "multi_label":
        rows = [(text, label + ("|short" if len(text) < 30 else "")) for text, label in rows]
        tiny_models.write_csv(tmp_path / "train.csv", rows)
        options["label_separator"] = "|"
    else:
        tiny_models.write_csv(tmp_path / "train.csv", rows)
    out = _finetune(base, tmp_path, tmp_path / "train.csv", **options)

    theirs = transformers.AutoModelForSequenceClassification.from_pretrained(str(out)).eval()
    model = bertkit.load(out)
    _, spec = model.task
    assert theirs.config.id2label == dict(enumerate(spec.labels))
    assert theirs.config.problem_type == (
        "multi_label_classification" if variant == "multi_label" else "single_label_classification"
    )

    texts = ["free prize call now", "see you at lunch tomorrow, mum", "Ünïcödé and 中文 text"]
    second = ["a second text", "another one", "x"] if variant == "pair" else None
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(out))
    expected_ids = tokenizer(texts, second, padding=True)["input_ids"]
    batch = model.preprocessor(texts, second, padding="longest")
    assert batch["input_word_ids"].tolist() == expected_ids

    with torch.no_grad():
        reference = theirs(**_hf_inputs(batch)).logits
        ours = model.task[0](*prediction.model_inputs(batch, torch.device("cpu")))
    torch.testing.assert_close(ours, reference, atol=ATOL, rtol=0)
    # predict() reports the same decision transformers' logits make
    predicted = model.predict(texts, second)
    if variant == "multi_label":
        assert [r["labels"] for r in predicted] == [
            [spec.labels[i] for i in range(len(spec.labels)) if row[i] > 0] for row in reference.tolist()
        ]
    else:
        assert [r["label"] for r in predicted] == [spec.labels[i] for i in reference.argmax(-1).tolist()]


def test_fine_tuned_tagger_loads_in_transformers_with_the_same_logits(base, tmp_path):
    train = tiny_models.write_conll(tmp_path / "train.conll", tiny_models.toy_tagged(40))
    out = _finetune(base, tmp_path, train)
    theirs = transformers.AutoModelForTokenClassification.from_pretrained(str(out)).eval()
    model = bertkit.load(out)
    assert theirs.config.id2label == dict(enumerate(model.task[1].labels))
    sentences = [["alice", "went", "to", "paris"], ["Tokenization", "of", "bob", "in", "lima"]]
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(out))
    encoded = tokenizer(sentences, is_split_into_words=True, padding=True, return_tensors="pt")
    with torch.no_grad():
        reference = theirs(**encoded).logits  # (B, S, labels)
    results = model.predict(sentences)
    labels = model.task[1].labels
    for row, (sentence, result) in enumerate(zip(sentences, results)):
        word_ids = encoded.word_ids(row)
        firsts = [word_ids.index(w) for w in range(len(sentence))]  # each word's first sub-word
        assert result["tags"] == [labels[int(reference[row, p].argmax())] for p in firsts]
        probabilities = torch.softmax(reference[row, firsts], dim=-1).max(-1).values
        torch.testing.assert_close(torch.tensor(result["scores"]), probabilities, atol=ATOL, rtol=0)


# --- task models transformers wrote ------------------------------------------------------------

CONFIGS = {
    "bert": lambda: transformers.BertConfig(vocab_size=120, hidden_size=32, num_hidden_layers=2,
                                            num_attention_heads=2, intermediate_size=64),
    "roberta": lambda: transformers.RobertaConfig(vocab_size=120, hidden_size=32, num_hidden_layers=2,
                                                  num_attention_heads=2, intermediate_size=64,
                                                  max_position_embeddings=66, type_vocab_size=1),
    "distilbert": lambda: transformers.DistilBertConfig(vocab_size=120, dim=32, n_layers=2, n_heads=2,
                                                        hidden_dim=64),
}  # fmt: skip
HF_CLASSES = {
    "classification": transformers.AutoModelForSequenceClassification,
    "tagging": transformers.AutoModelForTokenClassification,
}


@pytest.mark.parametrize("kind", ["classification", "tagging"])
@pytest.mark.parametrize("model_type", sorted(CONFIGS))
def test_task_models_transformers_wrote_load_with_the_same_logits_and_round_trip(tmp_path, model_type, kind):
    config = CONFIGS[model_type]()
    config.id2label = {0: "neg", 1: "neutral", 2: "pos"}
    config.label2id = {v: k for k, v in config.id2label.items()}
    torch.manual_seed(0)
    theirs = HF_CLASSES[kind].from_config(config).eval()
    theirs.save_pretrained(str(tmp_path / "theirs"))

    model, ours_config, spec, _ = checkpoint.load_task(tmp_path / "theirs")
    model.eval()
    assert (spec.kind, spec.labels) == (kind, ["neg", "neutral", "pos"])
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(5, 120, (3, 12), generator=generator)
    mask = torch.ones_like(ids)
    mask[1, 8:] = 0
    mask[2, 5:] = 0
    ids[mask == 0] = config.pad_token_id

    def check(ours_model, reference_model) -> None:
        with torch.no_grad():
            reference = reference_model(input_ids=ids, attention_mask=mask).logits
            ours = ours_model(ids, mask, None)
        if kind == "tagging":  # padding positions are unspecified
            reference, ours = reference[mask.bool()], ours[mask.bool()]
        torch.testing.assert_close(ours, reference, atol=ATOL, rtol=0)

    check(model, theirs)
    checkpoint.save_task(model, ours_config, spec, tmp_path / "ours", source=None)
    again = HF_CLASSES[kind].from_pretrained(str(tmp_path / "ours")).eval()
    check(model, again)
    assert type(again).__name__ == type(theirs).__name__


def test_a_one_output_cross_encoder_gives_transformers_raw_scores_not_a_softmax(tmp_path, capsys):
    """`num_labels=1` (a reranker's relevance, a regression): the score is the logit itself, as
    transformers' model outputs it; `sigmoid=True` squashes it. A softmax over one logit is 1."""
    config = transformers.BertConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, num_labels=1
    )
    torch.manual_seed(0)
    theirs = transformers.BertForSequenceClassification(config).eval()
    directory = tiny_models.tiny_bert_dir(tmp_path / "encoder")  # the bundled vocabulary's files
    theirs.save_pretrained(str(directory))
    queries = ["what is the licence of this package?", "how do I install it", "who wrote it"]
    documents = [
        "This package is distributed under the terms of the GNU General Public License.",
        "Run make setup, then make test.",
        "Thanks to everyone who reported bugs.",
    ]
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(directory))
    with torch.no_grad():
        expected = theirs(**tokenizer(queries, documents, padding=True, return_tensors="pt")).logits[:, 0]

    model = bertkit.load(directory, precision="fp32")
    raw = model.predict(queries, documents)
    assert [r["label"] for r in raw] == ["LABEL_0"] * 3
    torch.testing.assert_close(torch.tensor([r["score"] for r in raw]), expected, atol=1e-4, rtol=0)
    assert len({round(r["score"], 6) for r in raw}) == 3  # not one constant, as a softmax would give
    squashed = model.predict(queries, documents, sigmoid=True)
    torch.testing.assert_close(torch.tensor([r["score"] for r in squashed]), torch.sigmoid(expected), atol=1e-4, rtol=0)

    # `bertkit predict` prints the same raw score, or its sigmoid with --sigmoid
    with torch.no_grad():
        single = theirs(**tokenizer([queries[0]], return_tensors="pt")).logits[0, 0]
    for flags, expected_score in (([], single), (["--sigmoid"], torch.sigmoid(single))):
        assert (
            main(["predict", "--model", str(directory), "--precision", "fp32", "--format", "json", *flags, queries[0]])
            == 0
        )
        printed = json.loads(capsys.readouterr().out)
        assert abs(printed["score"] - float(expected_score)) < 1e-4
