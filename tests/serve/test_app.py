"""`bertkit.serve` over real loopback HTTP (uvicorn in a thread): the official `openai` client and
text-embeddings-inference-shaped requests get `bertkit.load().embed`'s vectors, each route
answers in its API's shapes, the limits answer their status codes, and /metrics counts."""

from __future__ import annotations

import base64
import json
import shutil
import threading
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest
import torch
import transformers
from corpora import license_paragraphs, po_strings
from tiny_models import TOKENIZER_FILES

import bertkit
from bertkit.bundled import default_model_dir
from bertkit.serve.app import create_app
from bertkit.serve.limits import ServeSettings

from .conftest import Live

# the offline oracle's own notes: LONG is cut (as the server's "truncate": true does), normalize=False is asked for
pytestmark = [
    pytest.mark.filterwarnings("ignore::bertkit.errors.TruncationWarning"),
    pytest.mark.filterwarnings("ignore:.*declares mean pooling, normalised:UserWarning"),
]
LONG = sorted(license_paragraphs(), key=len)[-1]  # a license paragraph well over 256 tokens
TEXTS = [*po_strings()[::700][:6], license_paragraphs()[5], LONG]  # real text: several scripts and lengths


@pytest.fixture(scope="module")
def served(model):
    server = Live(create_app(model, ServeSettings(api_key="secret", auto_truncate=True)))
    yield server
    server.stop()


def client(served) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.url + "/v1", api_key="secret", max_retries=0)


def post(served, path: str, body, key: str | None = "secret") -> httpx.Response:
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    return httpx.post(served.url + path, json=body, headers=headers, timeout=60)


def test_the_openai_client_gets_the_library_embeddings(served, model):
    expected = model.embed(TEXTS)  # the model's declared defaults: mean pooling, normalised, 256 tokens
    openai_client = client(served)
    # the client asks for base64 unless told otherwise, and decodes it itself
    answer = openai_client.embeddings.create(model="all-MiniLM-L6-v2", input=TEXTS)
    np.testing.assert_allclose([row.embedding for row in answer.data], expected, atol=1e-6, rtol=0)
    assert [row.index for row in answer.data] == list(range(len(TEXTS))) and answer.object == "list"
    floats = openai_client.embeddings.create(model="m", input=TEXTS[0], encoding_format="float")
    np.testing.assert_allclose(floats.data[0].embedding, expected[0], atol=1e-6, rtol=0)
    assert floats.model == "all-MiniLM-L6-v2"
    lengths = [min(len(ids), 254) + 2 for ids in model.preprocessor.tokenize(TEXTS)]
    assert answer.usage.prompt_tokens == answer.usage.total_tokens == sum(lengths)


def test_token_ids_give_the_vectors_of_their_text(served, model):
    texts = TEXTS[:3]
    ids = model.preprocessor.tokenize(texts)  # the model's vocabulary, no special tokens
    expected = model.embed(texts)
    many = client(served).embeddings.create(model="m", input=ids)
    np.testing.assert_allclose([row.embedding for row in many.data], expected, atol=1e-6, rtol=0)
    one = client(served).embeddings.create(model="m", input=ids[1], encoding_format="float")
    np.testing.assert_allclose(one.data[0].embedding, expected[1], atol=1e-6, rtol=0)
    raw = post(served, "/v1/embeddings", {"input": ids[:1], "model": "m", "encoding_format": "base64"}).json()
    vector = np.frombuffer(base64.b64decode(raw["data"][0]["embedding"]), dtype="<f4")
    np.testing.assert_allclose(vector, expected[0], atol=1e-6, rtol=0)
    bad = post(served, "/v1/embeddings", {"input": [[1, 10**9]], "model": "m"})
    assert bad.status_code == 400 and "vocabulary" in bad.json()["error"]["message"]


def test_dimensions_are_the_librarys_matryoshka_vectors(served, model):
    answer = client(served).embeddings.create(model="m", input=TEXTS[:2], dimensions=64)
    np.testing.assert_allclose([r.embedding for r in answer.data], model.embed(TEXTS[:2], dimensions=64), atol=1e-6)


def test_tei_embed(served, model):
    answer = post(served, "/embed", {"inputs": TEXTS})
    assert answer.status_code == 200
    np.testing.assert_allclose(answer.json(), model.embed(TEXTS), atol=1e-6, rtol=0)
    one = post(served, "/embed", {"inputs": TEXTS[0], "normalize": False}).json()
    np.testing.assert_allclose(one, model.embed(TEXTS[:1], normalize=False), atol=1e-6, rtol=0)


def test_truncate_as_tei(model, live):
    strict = live(create_app(model))  # no --auto-truncate: a text over 256 tokens is refused unless asked
    long_text = LONG
    refused = httpx.post(strict.url + "/embed", json={"inputs": ["short", long_text]})
    assert refused.status_code == 422 and "must have less than 256 tokens" in refused.json()["error"]
    assert refused.json()["error_type"] == "Validation"
    cut = httpx.post(strict.url + "/embed", json={"inputs": [long_text], "truncate": True})
    np.testing.assert_allclose(cut.json(), model.embed([long_text]), atol=1e-6, rtol=0)
    openai_refused = httpx.post(strict.url + "/v1/embeddings", json={"input": long_text, "model": "m"})
    assert openai_refused.status_code == 400 and "256 tokens" in openai_refused.json()["error"]["message"]


def test_the_api_key(served):
    assert post(served, "/embed", {"inputs": "a"}, key=None).status_code == 401
    wrong = post(served, "/v1/embeddings", {"input": "a", "model": "m"}, key="guess")
    assert wrong.status_code == 401 and wrong.json()["error"]["type"] == "authentication_error"
    assert wrong.headers["WWW-Authenticate"] == "Bearer"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=served.url + "/v1", api_key="guess", max_retries=0).embeddings.create(
            model="m", input="a"
        )
    assert httpx.get(served.url + "/health").json() == {"status": "ok"}  # open: for load balancers
    assert httpx.get(served.url + "/metrics").status_code == 401


def test_limits_answer_413_with_the_limit(model, live):
    served = live(create_app(model, ServeSettings(max_client_batch_size=4, max_batch_tokens=64, auto_truncate=True)))
    many = httpx.post(served.url + "/embed", json={"inputs": ["a"] * 5})
    assert many.status_code == 413 and "maximum allowed batch size 4" in many.json()["error"]
    tokens = httpx.post(served.url + "/v1/embeddings", json={"input": [LONG], "model": "m"})
    assert tokens.status_code == 413 and "the limit is 64 tokens" in tokens.json()["error"]["message"]
    assert httpx.post(served.url + "/embed", json={"inputs": ["a"] * 4}).status_code == 200


def _tiny(directory, cls, **config):
    config = transformers.BertConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, max_position_embeddings=64,
        **config,
    )  # fmt: skip
    torch.manual_seed(0)
    cls(config).save_pretrained(str(directory))
    for name in TOKENIZER_FILES:
        if (default_model_dir() / name).is_file():
            shutil.copyfile(default_model_dir() / name, directory / name)
    return directory


def test_rerank_predict_and_fill_mask(tmp_path, live, served):
    # the embedding model cannot: each route names what it needs
    for path, body, needs in [
        ("/rerank", {"query": "q", "texts": ["a"]}, "cross-encoder"),
        ("/predict", {"inputs": "a"}, "fine-tuned classifier"),
        ("/fill-mask", {"inputs": "a [MASK]"}, "masked-LM head"),
    ]:
        answer = post(served, path, body)
        assert answer.status_code == 400 and needs in answer.json()["error"], answer.text
        assert str(Path.cwd()) not in answer.text and "site-packages" not in answer.text  # no server path

    query, docs = TEXTS[2], [TEXTS[1], *TEXTS[3:6]]  # short: the tiny models read 64 positions
    reranker = bertkit.load(_tiny(tmp_path / "rr", transformers.BertForSequenceClassification, num_labels=1))
    server = live(create_app(reranker, ServeSettings(auto_truncate=True)))
    ranks = httpx.post(server.url + "/rerank", json={"query": query, "texts": docs, "return_text": True, "top_n": 3})
    expected = reranker.rerank(query, docs, sigmoid=True)[:3]
    assert [r["index"] for r in ranks.json()] == [r["index"] for r in expected]
    np.testing.assert_allclose([r["score"] for r in ranks.json()], [r["score"] for r in expected], atol=1e-5)
    assert ranks.json()[0]["text"] == docs[expected[0]["index"]]
    raw = httpx.post(server.url + "/rerank", json={"query": query, "texts": docs, "raw_scores": True}).json()
    np.testing.assert_allclose(
        sorted(r["score"] for r in raw), sorted(r["score"] for r in reranker.rerank(query, docs)), atol=1e-5
    )

    classifier = bertkit.load(
        _tiny(tmp_path / "clf", transformers.BertForSequenceClassification, id2label={0: "ham", 1: "spam"})
    )
    server = live(create_app(classifier, ServeSettings(auto_truncate=True)))
    single = httpx.post(server.url + "/predict", json={"inputs": docs[0]}).json()
    expected = classifier.predict(docs[:1])[0]
    assert single[0]["label"] == expected["label"] and abs(single[0]["score"] - expected["score"]) < 1e-5
    assert {row["label"] for row in single} == {"ham", "spam"}
    batch = httpx.post(server.url + "/predict", json={"inputs": docs[:3]}).json()
    assert [rows[0]["label"] for rows in batch] == [p["label"] for p in classifier.predict(docs[:3])]
    pair = httpx.post(server.url + "/predict", json={"inputs": [query, docs[0]]}).json()  # TEI: a pair
    assert pair[0]["label"] == classifier.predict([query], docs[:1])[0]["label"]
    assert httpx.post(server.url + "/predict", json={"inputs": "a", "raw_scores": True}).status_code == 422

    masked = bertkit.load(_tiny(tmp_path / "mlm", transformers.BertForMaskedLM))
    server = live(create_app(masked))
    fills = httpx.post(server.url + "/fill-mask", json={"inputs": ["a [MASK] and a dog."], "top_k": 2})
    assert fills.json() == json.loads(json.dumps([masked.fill_mask("a [MASK] and a dog.", 2)]))
    assert httpx.post(server.url + "/fill-mask", json={"inputs": "a", "top_k": 0}).status_code == 422


def test_tokenize_with_character_offsets(served, model):
    text = "Ünïcödé tokenization, 中文!"
    answer = post(served, "/tokenize", {"inputs": [text]})
    tokens = answer.json()[0]
    assert tokens[0]["special"] and tokens[-1]["special"] and tokens[0]["start"] is None
    assert [t["id"] for t in tokens] == model.preprocessor.pack_inputs([model.preprocessor.tokenize([text])],
                                                                       padding="longest")["input_word_ids"][0].tolist()  # fmt: skip
    for token in tokens[1:-1]:
        assert token["text"] == text[token["start"] : token["stop"]] and token["text"]


def test_metrics_count_requests_and_stages(model, live):
    served = live(create_app(model, ServeSettings(api_key="secret")))
    post(served, "/embed", {"inputs": ["a b c", "d"]})
    post(served, "/embed", {"inputs": []})
    text = httpx.get(served.url + "/metrics", headers={"Authorization": "Bearer secret"}).text
    assert 'bertkit_requests_total{route="/embed",status="200"} 1.0' in text
    assert 'bertkit_requests_total{route="/embed",status="422"} 1.0' in text
    for name in ("bertkit_queue_depth", "bertkit_batch_tokens_bucket", "bertkit_tokenize_seconds_bucket",
                 "bertkit_queue_seconds_bucket", "bertkit_inference_seconds_bucket", "process_resident_memory_bytes",
                 "bertkit_worker_info"):  # fmt: skip
        assert name in text, name
    assert "bertkit_batch_tokens_sum 8.0" in text  # [CLS] a b c [SEP] + [CLS] d [SEP]


def test_a_full_queue_answers_429_and_a_slow_model_times_out(model, live):
    served = live(create_app(model, ServeSettings(max_queue=1, request_timeout_s=1.0)))
    batcher = served.server.config.app.state.served.batcher
    release, entered = threading.Event(), threading.Event()
    batcher.fn = lambda items, options: (entered.set(), release.wait(30), [np.zeros(384, np.float32)] * len(items))[2]
    answers = {}

    def first():
        answers["first"] = httpx.post(served.url + "/embed", json={"inputs": "a"}, timeout=30)

    thread = threading.Thread(target=first)
    thread.start()
    assert entered.wait(30)  # the model holds the first request
    second = threading.Thread(
        target=lambda: answers.setdefault("second", httpx.post(served.url + "/embed", json={"inputs": "b"}, timeout=30))
    )
    second.start()
    while batcher.depth < 1:  # the second waits in the one-place queue
        assert second.is_alive()
    third = httpx.post(served.url + "/embed", json={"inputs": "c"})
    assert third.status_code == 429 and third.headers["Retry-After"] == "1" and "overloaded" in third.json()["error"]
    second.join(30)
    thread.join(30)
    release.set()
    assert answers["first"].status_code == 503 and "timed out after 1 s" in answers["first"].json()["error"]
    assert answers["second"].status_code == 503


def test_a_bug_is_a_500_with_one_log_line_and_no_traceback(model, live, caplog):
    served = live(create_app(model))
    served.server.config.app.state.served.batcher.fn = lambda items, options: 1 / 0
    answer = httpx.post(served.url + "/embed", json={"inputs": "a"})
    assert answer.status_code == 500 and answer.json() == {
        "error": "internal error (ZeroDivisionError)",
        "error_type": "Backend",
    }
    assert "ZeroDivisionError" in caplog.text and "Traceback" not in caplog.text
    assert httpx.get(served.url + "/health").status_code == 200


def test_docstring_examples_run():
    import doctest

    from bertkit.serve import app, batching, errors, limits, work

    for module in (app, batching, errors, limits, work):
        assert doctest.testmod(module).failed == 0, module.__name__


def test_tokenize_on_a_tfhub_flavoured_model_says_it_has_no_offsets(tmp_path, live):
    directory = _tiny(tmp_path / "tfhub", transformers.BertModel)
    (directory / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True, "bertkit_flavor": "tfhub"}))
    model = bertkit.load(directory)
    assert model.preprocessor.tokenizer.flavor == "tfhub"
    server = live(create_app(model, ServeSettings(auto_truncate=True)))
    answer = httpx.post(server.url + "/tokenize", json={"inputs": "a b"})
    assert answer.status_code == 501 and "flavor='huggingface'" in answer.json()["error"], answer.text
    assert httpx.post(server.url + "/embed", json={"inputs": "a b"}).status_code == 200  # the rest still serves


def test_predict_on_a_tagger_gives_words_entities_and_their_spans(tmp_path, live):
    labels = {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC"}
    directory = _tiny(tmp_path / "ner", transformers.BertForTokenClassification, id2label=labels,
                      label2id={v: k for k, v in labels.items()})  # fmt: skip
    tagger = bertkit.load(directory)
    server = live(create_app(tagger, ServeSettings(auto_truncate=True)))
    texts = ["李明住在上海。", "Ada Lovelace lived in London."]
    answer = httpx.post(server.url + "/predict", json={"inputs": texts})
    assert answer.status_code == 200, answer.text
    assert answer.json() == json.loads(json.dumps(tagger.predict(texts)))  # the library's, spans included
    chinese = answer.json()[0]
    assert chinese["words"] == list("李明住在上海。")  # one word per character
    assert [tuple(span) for span in chinese["spans"]] == [(i, i + 1) for i in range(7)]
    assert any(answered["entities"] for answered in answer.json())  # seed 0: the tiny model tags some
    for text, answered in zip(texts, answer.json()):
        for entity in answered["entities"]:
            start, end = entity["span"]
            assert text[start:end] == entity["text"]
    one = httpx.post(server.url + "/predict", json={"inputs": texts[0]}).json()
    assert one == answer.json()[0]  # one text: its dict, not a list
    pairs = httpx.post(server.url + "/predict", json={"inputs": [texts]})
    assert pairs.status_code == 422 and "not pairs" in pairs.json()["error"]
