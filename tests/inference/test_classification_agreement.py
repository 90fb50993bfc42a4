"""int8 against fp32 on a classifier: how often the label stays the same.

The classifier: the bundled MiniLM with a linear probe (scikit-learn's logistic regression,
its defaults; backbone frozen) trained on fp32 pooled outputs to tell where a real text comes
from - Django's interface strings, Debian changelog entries, license paragraphs. The 150
held-out texts are then labelled from the fp32 and from the int8 engine's pooled outputs.

Issue 8 asks for >= 99% agreement on a fine-tuned model. Measured here: 98.7% (2 of 150 texts
flip; the probe itself is right on 87%, so many texts sit near a boundary); 98.0-99.3% across
pooled/mean outputs and 64/128 tokens. This test guards that level (>= 98%); the 99% target is
not met on this probe - see docs/inference.md.
"""


import torch
from sklearn.linear_model import LogisticRegression

from bertkit import Preprocessor
from bertkit.checkpoint import load_backbone
from bertkit.inference import FastEncoder

import corpora

PER_CLASS = 100  # 50 to train the head, 50 held out


def texts_and_labels():
    sources = [corpora.po_strings(), corpora.changelog_entries(), corpora.license_paragraphs()]
    texts, labels = [], []
    for label, pool in enumerate(sources):
        step = max(1, len(pool) // PER_CLASS)
        chosen = pool[::step][:PER_CLASS]
        texts += chosen
        labels += [label] * len(chosen)
    return texts, torch.tensor(labels)


def pooled(fast, pre, texts):
    batch = pre(texts, padding="longest")
    ids, mask = batch["input_word_ids"], batch["input_mask"]
    rows = [row[: int(n)].tolist() for row, n in zip(ids, mask.sum(1))]
    return fast.embed_many(rows, pooling="pooled", batch_size=32)


def test_int8_labels_agree_with_fp32():
    texts, labels = texts_and_labels()
    pre = Preprocessor.from_pretrained()
    backbone, _, _ = load_backbone(None)
    fp32 = pooled(FastEncoder(backbone, precision="fp32", device="cpu"), pre, texts).numpy()
    int8 = pooled(FastEncoder(backbone, precision="int8", device="cpu"), pre, texts).numpy()
    train = (torch.arange(len(texts)) % 2 == 0).numpy()
    labels = labels.numpy()
    probe = LogisticRegression(max_iter=1000).fit(fp32[train], labels[train])
    expected, got = probe.predict(fp32[~train]), probe.predict(int8[~train])
    assert (expected == labels[~train]).mean() > 0.8  # the probe learned the task
    agreement = (expected == got).mean()
    assert agreement >= 0.98, f"int8 agrees with fp32 on {agreement:.1%} of {int((~train).sum())} texts"
