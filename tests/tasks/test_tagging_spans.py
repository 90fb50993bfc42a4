"""A tagger's words and entities carry their character spans in the original text, and a
text without spaces (Chinese) is tagged one character at a time, as Chinese NER corpora are
labelled.

The tags come from a lookup head (each token id votes for a label), so that the entities are
known in advance; the last tests run a real (randomly initialised) tagger saved to disk through
`bertkit.load(...).predict` and `bertkit predict` (spans by default; --no-offsets leaves them out).
"""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import bertkit
from bertkit import checkpoint
from bertkit.cli import main
from bertkit.preprocessing import Preprocessor
from bertkit.tasks import prediction
from bertkit.tasks.prediction import split_words

LABELS = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]


class LookupTagger(nn.Module):
    """Logits from a table: token id -> label scores; "O" unless the token has a rule."""

    def __init__(self, pre: Preprocessor, rules: dict[str, str]):
        super().__init__()
        self.num_labels = len(LABELS)
        self.table = nn.Embedding(pre.tokenizer.vocab_size, self.num_labels)
        with torch.no_grad():
            self.table.weight.zero_()
            self.table.weight[:, 0] = 1.0
            for token, label in rules.items():
                self.table.weight[pre.tokenizer.vocab[token], LABELS.index(label)] = 5.0

    def forward(self, word_ids, mask, type_ids):
        return self.table(word_ids)


@pytest.fixture(scope="module")
def pre():
    return Preprocessor.from_pretrained()


def tag(pre, texts, rules, offsets=True):
    spec = checkpoint.TaskSpec("tagging", LABELS)
    return prediction.predict(LookupTagger(pre, rules), spec, pre, texts, offsets=offsets)


def test_chinese_text_is_tagged_one_character_at_a_time(pre):
    text = "李明住在上海。"  # 住 and 在 are not in the bundled vocabulary: [UNK], still one word each
    [result] = tag(pre, [text], {"李": "B-PER", "明": "I-PER", "上": "B-LOC", "海": "I-LOC"})
    assert result["words"] == list(text)
    assert result["tags"] == ["B-PER", "I-PER", "O", "O", "B-LOC", "I-LOC", "O"]
    assert result["spans"] == [(i, i + 1) for i in range(len(text))]
    assert result["entities"] == [
        {"type": "PER", "text": "李明", "start": 0, "end": 2, "span": (0, 2)},
        {"type": "LOC", "text": "上海", "start": 4, "end": 6, "span": (4, 6)},
    ]


def test_entities_span_the_original_text(pre):
    text = "Yesterday  alice\tvisited 北京 and new\nyork."
    rules = {"alice": "B-PER", "北": "B-LOC", "京": "I-LOC", "new": "B-LOC", "york": "I-LOC"}
    [result] = tag(pre, [text], rules)
    assert result["words"] == ["Yesterday", "alice", "visited", "北", "京", "and", "new", "york."]
    assert [text[a:b] for a, b in result["spans"]] == result["words"]
    assert [(e["type"], e["text"], text[e["span"][0] : e["span"][1]]) for e in result["entities"]] == [
        ("PER", "alice", "alice"),
        ("LOC", "北京", "北京"),
        ("LOC", "new\nyork.", "new\nyork."),
    ]


def test_words_given_as_a_list_span_the_words_joined_by_spaces(pre):
    [result] = tag(pre, [["alice", "went", "to", "北京"]], {"alice": "B-PER", "北": "B-LOC"})
    assert result["spans"] == [(0, 5), (6, 10), (11, 13), (14, 16)]
    assert [e["span"] for e in result["entities"]] == [(0, 5), (14, 16)]


def test_without_offsets_the_keys_are_as_before(pre):
    [result] = tag(pre, ["alice went home"], {"alice": "B-PER"}, offsets=False)
    assert result.keys() == {"words", "tags", "scores", "entities"}
    assert result["entities"] == [{"type": "PER", "text": "alice", "start": 0, "end": 1}]


def test_split_words_is_str_split_outside_cjk():
    text = "a\x1cb\u3000c\x85d  e,f\n"
    assert split_words(text)[0] == text.split()
    words, spans = split_words("中文text中")
    assert words == ["中", "文", "text", "中"] and spans == [(0, 1), (1, 2), (2, 6), (6, 7)]


@pytest.fixture(scope="module")
def tagger_dir(tmp_path_factory):
    spec = checkpoint.TaskSpec("tagging", LABELS)
    torch.manual_seed(0)
    model, config, spec, source = checkpoint.load_task(None, spec)
    return checkpoint.save_task(model, config, spec, tmp_path_factory.mktemp("tagger") / "model", source)


def test_a_saved_tagger_tags_raw_chinese_per_character(tagger_dir):
    text = "李明在上海工作，他喜欢北京。"
    [result] = bertkit.load(tagger_dir).predict([text], offsets=True)
    assert result["words"] == list(text)
    assert len(result["tags"]) == len(text) and set(result["tags"]) <= set(LABELS)
    assert result["spans"] == [(i, i + 1) for i in range(len(text))]
    for entity in result["entities"]:
        start, end = entity["span"]
        assert entity["text"] == text[start:end] == "".join(result["words"][entity["start"] : entity["end"]])


def test_cli_predict_offsets(tagger_dir, capsys):
    assert main(["predict", "--model", str(tagger_dir), "--format", "json", "上海 is big"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["words"] == ["上", "海", "is", "big"]
    assert result["spans"] == [[0, 1], [1, 2], [3, 5], [6, 9]]


def test_docstring_examples():
    import doctest

    assert doctest.testmod(prediction).failed == 0


def test_cli_predict_no_offsets(tagger_dir, capsys):
    assert main(["predict", "--model", str(tagger_dir), "--format", "json", "--no-offsets", "上海 is big"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert "spans" not in result and all("span" not in entity for entity in result["entities"])


def test_a_tagger_refuses_pairs_rather_than_dropping_the_second_texts(pre):
    spec = checkpoint.TaskSpec("tagging", LABELS)
    with pytest.raises(bertkit.errors.InputError, match="tagger tags single texts"):
        prediction.predict(LookupTagger(pre, {}), spec, pre, ["Ada lives here"], ["and there"])
