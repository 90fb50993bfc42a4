"""bf16 and int8 against fp32 on a fine-tuned classifier: the accuracy guard of issue 8.

The bundled MiniLM is fine-tuned here for one short epoch (400 messages, seq_length 64, the
project's own `finetune`) on the SMS Spam Collection - real messages nobody on this project
wrote, read by `benchmarks/finetune.py`'s loader with the demo's seeded split - and 500 of the
held-out messages are then labelled by `bertkit.load(model, precision).predict` in fp32, bf16
and int8, all three on the engine. Guarded, against fp32:

- labels: bf16 and int8 agree on >= 99.5% of the messages (issues 8, 14: on every CPU class);
- vectors, every message: int8 cosine >= 0.99, bf16 >= 0.999, for the [CLS] state (what the
  pooler and the head read) and the mean-pooled embedding; bf16 also for the pooled output.

int8's pooled output is guarded on 99% of the messages, not all: the fine-tuned pooler's
output shrinks towards zero at the decision boundary, where a cosine is ill-conditioned, and
the model itself differs slightly with the thread count of the fine-tuning (summation order).
Measured: accuracy 99.0% (spam recall 92.8%; the majority class alone: 86%), labels 100%
agree in bf16 and int8; worst int8 cosines [CLS] 0.9975, mean 0.9974, pooled 0.9965 with
per-row activation scales (kernels.py); bf16 >= 0.99993 everywhere. With the [CLS] rows
quantised apart instead (one scale for them, one for the rest) they were 0.9963 / 0.9975 /
0.9932, and on two fine-tuning threads one pooled output fell to 0.9883, a spam message the
model scores near the boundary. Before int8 smoothed its LayerNorm-fed products the worst
were 0.9905, 0.9913 and 0.971 (3 pooled outputs under 0.99, at the decision boundary, where
the fine-tuned pooler's output shrinks towards zero); then, the guard failed with the [CLS]
rows quantised with the rest ([CLS] cosine 0.982) or with 6-bit weights (0.962), and 3-bit
weights failed the label agreement too (98.6%): labels alone are a weak guard on a confident
classifier.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import bertkit
from bertkit.train.finetune import FinetuneOptions, finetune

TRAIN, HELD_OUT, SEQ_LENGTH = 400, 500, 64


def finetune_benchmark():
    """benchmarks/finetune.py as a module: the SMS Spam Collection loader and the demo's split."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "finetune.py"
    spec = importlib.util.spec_from_file_location("finetune_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:  # (N, H), (N, H) -> (N,)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture(scope="module")
def spam_model(tmp_path_factory):
    """(model directory, held-out texts, their gold labels): MiniLM fine-tuned on SMS spam."""
    bench = finetune_benchmark()
    train, test = bench.seeded_split(bench.sms_spam())
    folder = tmp_path_factory.mktemp("spam")
    bench.write_csv(folder / "train.csv", train[:TRAIN])
    options = FinetuneOptions(train=folder / "train.csv", output=folder / "model", epochs=1, batch_size=16,
                              seq_length=SEQ_LENGTH, learning_rate=2e-4, progress=False)  # fmt: skip
    finetune(options)
    test = test[:HELD_OUT]
    return folder / "model", [text for text, _ in test], [label for _, label in test]


def outputs(directory: Path, precision: str, texts: list[str]) -> dict:
    """predict()'s labels, and from one more pass of the engine every message's [CLS] state,
    mean-pooled embedding and pooled output."""
    m = bertkit.load(directory, precision=precision, seq_length=SEQ_LENGTH)
    out = {"labels": [r["label"] for r in m.predict(texts, batch_size=50)], "cls": [], "mean": [], "pooled": []}
    for start in range(0, len(texts), 50):
        batch = m.preprocessor(texts[start : start + 50], padding="longest")
        found = m.engine(batch["input_word_ids"], batch["input_mask"], batch["input_type_ids"])
        mask = batch["input_mask"][..., None].float()  # (B, S, 1)
        out["cls"].append(found.sequence[:, 0])  # (B, S, H) -> (B, H)
        out["mean"].append((found.sequence * mask).sum(1) / mask.sum(1))
        out["pooled"].append(found.pooled)
    return {name: np.concatenate(rows) if name != "labels" else rows for name, rows in out.items()}


def test_bf16_and_int8_agree_with_fp32_on_a_fine_tuned_classifier(spam_model):
    directory, texts, gold = spam_model
    fp32 = outputs(directory, "fp32", texts)
    accuracy = np.mean([p == g for p, g in zip(fp32["labels"], gold)])
    caught = np.mean([p == "spam" for p, g in zip(fp32["labels"], gold) if g == "spam"])
    fine_tuned = (
        f"fine-tuned model: accuracy {accuracy:.1%}, spam recall {caught:.1%} on {len(texts)} held-out messages"
    )
    assert accuracy >= 0.95 and caught >= 0.7, fine_tuned  # majority class alone: 86% accuracy, 0% recall

    for precision, floor in (("bf16", 0.999), ("int8", 0.99)):
        out = outputs(directory, precision, texts)
        agreement = np.mean([a == b for a, b in zip(out["labels"], fp32["labels"])])
        assert agreement >= 0.995, f"{precision} labels agree with fp32 on {agreement:.1%}; {fine_tuned}"
        for pooling in ("cls", "mean", "pooled"):
            found = cosines(out[pooling], fp32[pooling])
            worst = int(found.argmin())
            message = f"{precision} {pooling}: cosine {found[worst]:.4f} on {texts[worst]!r}; {fine_tuned}"
            if precision == "int8" and pooling == "pooled":  # near-zero vectors at the boundary: see above
                assert np.mean(found >= floor) >= 0.99, message
            else:
                assert found.min() >= floor, message


def test_int8_embeddings_of_the_bundled_model_keep_their_direction_on_every_held_out_message():
    """The bundled MiniLM as it ships (not fine-tuned), mean-pooled as sentence-transformers
    does, on all 972 held-out messages. Before the LayerNorm-fed products were smoothed
    (kernels.py) the worst int8 cosine was 0.9864, on the shortest messages ("Ok", "Okie"),
    12 under 0.99; smoothed, 0.9911; with per-row activation scales, 0.9939 ("Ok...")."""
    bench = finetune_benchmark()
    texts = [text for text, _ in bench.seeded_split(bench.sms_spam())[1]]
    fp32 = np.asarray(bertkit.load(precision="fp32").embed(texts, pooling="mean"))
    int8 = np.asarray(bertkit.load(precision="int8").embed(texts, pooling="mean"))
    found = cosines(int8, fp32)
    worst = int(found.argmin())
    assert len(texts) == 972 and found.min() >= 0.99, f"cosine {found[worst]:.4f} on {texts[worst]!r}"
