"""bertkit/inference/heads.py: a fine-tuned model's head on the engine gives the task model's logits.

- Tiny random task models of each family (BERT, RoBERTa, DistilBERT; a classifier and a
  tagger): `FastTaskModel` in fp32 against the task model itself, padded batches, to 1e-5.
- `bertkit.load(dir, precision).predict` on a fine-tuned-shaped MiniLM checkpoint (the bundled
  weights with a classifier head, or a tagger head): in fp32 the engine path's logits are the
  plain path's within 1e-4 on real texts of mixed length, with the same predictions; bf16 and
  int8 give the same form; the head stays fp32 whatever the backbone's precision.
"""

import corpora
import numpy as np
import pytest
import torch

import bertkit
from bertkit import checkpoint
from bertkit.inference import FastEncoder, FastTaskModel
from bertkit.modeling.bert import BertModel
from bertkit.modeling.classification import SequenceClassifier, TokenClassifier
from bertkit.modeling.config import BertConfig
from bertkit.modeling.distilbert import DistilBertModel
from bertkit.modeling.roberta import RobertaModel
from bertkit.preprocessing.encoding import encode_texts, encode_words
from bertkit.tasks import prediction

SMALL = {"vocab_size": 100, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
         "intermediate_size": 64, "max_position_embeddings": 40}  # fmt: skip
CONFIGS = {
    "bert": (BertModel, {"model_type": "bert", **SMALL}),
    "roberta": (RobertaModel, {"model_type": "roberta", **SMALL}),
    "distilbert": (DistilBertModel, {"model_type": "distilbert", "vocab_size": 100, "dim": 32, "n_layers": 2,
                                     "n_heads": 4, "hidden_dim": 64, "max_position_embeddings": 40}),
}  # fmt: skip


def task_model(family: str, kind, labels: int = 3):
    backbone_class, fields = CONFIGS[family]
    config = BertConfig.from_dict(fields)
    torch.manual_seed(0)
    return kind(backbone_class(config), config, num_labels=labels).eval(), config


@pytest.mark.parametrize("family", CONFIGS)
@pytest.mark.parametrize("kind", [SequenceClassifier, TokenClassifier], ids=["classifier", "tagger"])
def test_fp32_logits_match_the_task_model(family, kind):
    model, config = task_model(family, kind)
    lengths = torch.tensor([7, 3, 12, 1])
    mask = (torch.arange(12)[None] < lengths[:, None]).long()  # (B, S)
    ids = torch.randint(3, 100, mask.shape, generator=torch.Generator().manual_seed(1))
    ids = ids * mask + config.pad_token_id * (1 - mask)
    with torch.no_grad():
        expected = model(ids, mask)
    got = FastTaskModel(FastEncoder(model.backbone, precision="fp32", device="cpu"), model)(ids, mask)
    assert got.dtype == torch.float32 and got.shape == expected.shape
    real = mask.bool() if kind is TokenClassifier else slice(None)  # a tagger's padding is never read
    torch.testing.assert_close(got[real], expected[real], atol=1e-5, rtol=1e-5)


def texts() -> list[str]:
    """Real texts of mixed length: interface strings, changelog entries, license paragraphs
    (some past 128 tokens, cut)."""
    return (
        corpora.po_strings()[::4001][:30]
        + corpora.changelog_entries()[::301][:20]
        + corpora.license_paragraphs()[::53][:10]
    )


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory):
    """The bundled MiniLM with a new (random) 3-label classifier head, saved as a fine-tuned model."""
    spec = checkpoint.TaskSpec("classification", ["a", "b", "c"])
    torch.manual_seed(0)
    model, config, spec, source = checkpoint.load_task(None, spec)
    return checkpoint.save_task(model, config, spec, tmp_path_factory.mktemp("classifier"), source)


def test_predict_in_fp32_on_the_engine_matches_the_plain_path(classifier_dir):
    m = bertkit.load(classifier_dir, precision="fp32")
    assert isinstance(m.task_engine, FastTaskModel)
    encoded = encode_texts(m.preprocessor, texts())
    plain = prediction.text_logits(m.task[0], m.preprocessor, encoded)
    engine = prediction.text_logits(m.task_engine, m.preprocessor, encoded)
    assert np.abs(engine - plain).max() < 1e-4, (
        f"fp32 engine logits off the plain path by {np.abs(engine - plain).max():.2e}"
    )

    predicted = m.predict(texts())
    plain_predicted = prediction.predict(m.task[0], m.task[1], m.preprocessor, texts())
    assert [r["label"] for r in predicted] == [r["label"] for r in plain_predicted]
    assert predicted[0].keys() == plain_predicted[0].keys() == {"label", "score", "scores"}
    for ours, theirs in zip(predicted, plain_predicted):
        np.testing.assert_allclose(list(ours["scores"].values()), list(theirs["scores"].values()), atol=1e-5)


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_predict_in_bf16_and_int8_keeps_the_head_in_fp32(classifier_dir, precision):
    m = bertkit.load(classifier_dir, precision=precision)
    assert m.task_engine.engine.precision == precision
    assert all(p.dtype == torch.float32 for p in m.task_engine.head.parameters())
    results = m.predict(texts()[:8])
    assert len(results) == 8 and all(r["label"] in ("a", "b", "c") for r in results)
    reference = bertkit.load(classifier_dir).predict(texts()[:8])
    for ours, theirs in zip(results, reference):  # a random head: close scores, not a guard
        assert abs(ours["score"] - theirs["scores"][ours["label"]]) < 0.05


def test_fp16_predicts_on_the_plain_path(classifier_dir):
    m = bertkit.load(classifier_dir, precision="fp16")
    assert m.task_engine is None and m.task[0].head.output.weight.dtype == torch.float16


def test_tagger_predicts_on_the_engine_with_the_plain_path_numbers(tmp_path):
    spec = checkpoint.TaskSpec("tagging", ["O", "B-X", "I-X"])
    torch.manual_seed(0)
    model, config, spec, source = checkpoint.load_task(None, spec)
    m = bertkit.load(checkpoint.save_task(model, config, spec, tmp_path / "tagger", source), precision="fp32")
    sentences = [text.split() for text in texts()[30:45]]
    encoded = encode_words(m.preprocessor, sentences)
    plain = prediction.word_logits(m.task[0], m.preprocessor, encoded)
    engine = prediction.word_logits(m.task_engine, m.preprocessor, encoded)
    assert max(float(np.abs(a - b).max()) for a, b in zip(engine, plain) if len(a)) < 1e-4
    predicted = m.predict(sentences)
    plain_predicted = prediction.predict(m.task[0], spec, m.preprocessor, sentences)
    assert [r["tags"] for r in predicted] == [r["tags"] for r in plain_predicted]
    assert predicted[0].keys() == {"words", "tags", "scores", "entities", "spans"}


def test_docstring_example_runs():
    import doctest

    import bertkit.inference.heads

    assert doctest.testmod(bertkit.inference.heads).failed == 0
