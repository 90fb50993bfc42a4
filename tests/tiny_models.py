"""Tiny randomly initialised checkpoints written by `transformers`, and toy labelled data, for
fine-tuning tests that must run in seconds on 2 cores.

- `tiny_bert_dir(dir)`: a 2-layer, hidden-32 BERT (dropout off unless asked) with the bundled
  uncased vocabulary and tokenizer files, as `transformers` saves it;
- `toy_spam(n, seed)`: (text, label) rows, spam and ham made of disjoint word lists;
- `toy_tagged(n, seed)`: sentences of words with BIO tags (one-word PER, two-word LOC entities);
- `write_csv(path, rows)`, `write_conll(path, sentences)`;
- `cased_model_dir(dir)`, `wordpiece_model_dir("uncased" | "cased", tmp_path_factory)`: WordPiece vocabularies.
"""

from __future__ import annotations

import csv
import random
import shutil
from pathlib import Path

import torch
import transformers

from bertkit.bundled import default_model_dir
from bertkit.text.vocab import read_vocab

TOKENIZER_FILES = ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json")


def tiny_bert_dir(directory: Path, dropout: float = 0.0, seed: int = 0) -> Path:
    config = transformers.BertConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=128, hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout,
    )  # fmt: skip
    torch.manual_seed(seed)
    transformers.BertModel(config).save_pretrained(str(directory))
    for name in TOKENIZER_FILES:
        if (default_model_dir() / name).is_file():
            shutil.copyfile(default_model_dir() / name, directory / name)
    return directory


SPAM = "free prize winner claim cash call now urgent txt offer mobile reward".split()
HAM = "see you at lunch tomorrow thanks mum home later dinner meeting love".split()


def toy_spam(n: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = "spam" if i % 3 == 0 else "ham"
        words = SPAM if label == "spam" else HAM
        rows.append((" ".join(rng.choice(words) for _ in range(rng.randint(3, 12))), label))
    return rows


NAMES = "alice bob carol dave erin".split()
PLACES = "paris london berlin tokyo lima".split()
FILLER = "the meeting was in with and then went to saw".split()


def toy_tagged(n: int, seed: int = 0) -> list[list[tuple[str, str]]]:
    rng = random.Random(seed)
    sentences = []
    for _ in range(n):
        sentence = []
        for _ in range(rng.randint(3, 8)):
            kind = rng.random()
            if kind < 0.2:
                sentence.append((rng.choice(NAMES), "B-PER"))
            elif kind < 0.35:  # "paris city": a two-word entity, its second word always "city"
                sentence += [(rng.choice(PLACES), "B-LOC"), ("city", "I-LOC")]
            else:
                sentence.append((rng.choice(FILLER), "O"))
        sentences.append(sentence)
    return sentences


def write_csv(path: Path, rows, header=("text", "label")) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        if header:
            writer.writerow(header)
        writer.writerows(rows)
    return path


def write_conll(path: Path, sentences) -> Path:
    lines = ["-DOCSTART- O", ""]
    for sentence in sentences:
        lines += [f"{word} {tag}" for word, tag in sentence] + [""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def cased_model_dir(directory: Path) -> Path:
    """The bundled uncased vocabulary plus Capitalised and UPPER forms of its entries, cased."""
    vocab = list(read_vocab(default_model_dir() / "vocab.txt"))
    seen = set(vocab)
    for token in list(vocab):
        if token.startswith("[") or not any(c.isalpha() for c in token):
            continue
        body, marker = (token[2:], "##") if token.startswith("##") else (token, "")
        for variant in (marker + body.capitalize(), marker + body.upper()):
            if variant not in seen:
                seen.add(variant)
                vocab.append(variant)
    directory.mkdir()
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    (directory / "tokenizer_config.json").write_text('{"do_lower_case": false}')
    return directory


def wordpiece_model_dir(casing: str, tmp_path_factory) -> Path:
    """The WordPiece vocabulary a parametrised test asks for: "uncased" (the bundled one) or "cased"."""
    if casing == "uncased":
        return default_model_dir()
    return cased_model_dir(tmp_path_factory.mktemp("vocab") / "cased")
