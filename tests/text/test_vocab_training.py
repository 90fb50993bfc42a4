"""Vocabulary training: the merge learner, WordPiece vocab.txt, byte-level BPE vocab.json/merges.txt."""

import doctest
import json
from collections import Counter

import pytest

import bertkit.text.vocab_training as vocab_training
from bertkit.errors import InputError
from bertkit.text.bert_tokenizer import BertTokenizer
from bertkit.text.bpe import BpeTokenizer
from bertkit.text.normalization import BertNormalizer
from bertkit.text.vocab_training import (
    WORDPIECE_SPECIALS,
    bert_word_counts,
    learn_merges,
    train_byte_level_bpe,
    train_wordpiece,
    write_byte_level_bpe,
    write_wordpiece_vocab,
)

SPECIALS = dict(zip(("pad_token", "unk_token", "cls_token", "sep_token", "mask_token"), WORDPIECE_SPECIALS))
TEXTS = ["The cat sat on the mat.", "The cat ate the rat!", "A hat, a mat, a cat."] * 10


def test_learn_merges_takes_the_most_frequent_pair_first():
    words = {("l", "o", "w"): 5, ("l", "o", "w", "e", "r"): 2, ("n", "e", "w", "e", "s", "t"): 6}
    merges, symbols = learn_merges(words, 3, join=str.__add__)
    # (e, w) 6 ... ties broken by spelling; "lo" and "low" follow from the counts
    assert merges[0] in {("e", "s"), ("s", "t"), ("n", "e"), ("w", "e"), ("l", "o"), ("o", "w")}
    assert Counter(merges) == Counter(set(merges))  # no pair merged twice
    assert symbols == [a + b for a, b in merges]
    assert len(symbols) == 3


def test_learn_merges_stops_at_min_frequency():
    merges, _ = learn_merges({("a", "b"): 1, ("c", "d"): 1}, 10, join=str.__add__, min_frequency=2)
    assert merges == []


def test_wordpiece_vocab_has_specials_alphabet_continuations_and_the_size_asked():
    vocab = train_wordpiece(TEXTS, vocab_size=28)
    assert vocab[:5] == list(WORDPIECE_SPECIALS)
    assert len(vocab) == len(set(vocab)) == 28
    assert {"t", "##t", "c", "##a", ".", "!"} <= set(vocab)
    assert train_wordpiece(TEXTS, vocab_size=28) == vocab  # deterministic
    # a small corpus runs out of pairs before a large vocabulary is full: every word is whole
    full = train_wordpiece(TEXTS, vocab_size=1000)
    assert len(full) < 1000 and {"the", "cat", "sat", "mat", "hat"} <= set(full)
    assert "The" not in full  # lower-cased by our normaliser


def test_word_counts_use_our_bert_stages():
    counts = bert_word_counts(["Héllo, WORLD [MASK] 中文\x1ftab"], lowercase=True)
    assert counts == Counter({"hello": 1, ",": 1, "world": 1, "中": 1, "文": 1, "tab": 1})
    assert bert_word_counts(["Héllo"], lowercase=False) == Counter({"Héllo": 1})


def test_vertical_tab_and_form_feed_are_deleted_not_word_breaks():
    # str.split() breaks at \x0b and \x0c; BERT deletes them, so "pro\x0bgram" is one word
    texts = ["free pro\x0bgram\x0cs here", "the pro\x0bgram\x0cs", "\x0c\x0bfree"]
    counts = bert_word_counts(texts)
    assert counts == Counter({"programs": 2, "free": 2, "here": 1, "the": 1})
    stages = BertTokenizer({t: i for i, t in enumerate(WORDPIECE_SPECIALS)}, BertNormalizer(True), SPECIALS)
    assert counts == Counter(word for text in texts for word in stages.words(text))


def test_written_wordpiece_vocab_tokenizes_with_our_tokenizer(tmp_path):
    vocab = train_wordpiece(TEXTS, vocab_size=60)
    write_wordpiece_vocab(vocab, tmp_path)
    tokenizer = BertTokenizer.from_directory(tmp_path)
    ids = tokenizer.encode("The cat sat on the hat.")
    assert [tokenizer.id_to_token(i) for i in ids][:2] == ["the", "cat"]
    assert tokenizer.token_id("mask_token") == 4


def test_too_small_a_vocabulary_is_refused():
    with pytest.raises(InputError, match="too small"):
        train_wordpiece(TEXTS, vocab_size=10)
    with pytest.raises(InputError, match="no words"):
        train_wordpiece(["", "   "], vocab_size=100)
    with pytest.raises(InputError, match="too small"):
        train_byte_level_bpe(TEXTS, vocab_size=100)


def test_byte_level_bpe_vocab_and_merges(tmp_path):
    vocab, merges = train_byte_level_bpe(TEXTS, vocab_size=280)
    assert len(vocab) == 280 and sorted(vocab.values()) == list(range(280))
    assert [t for t, i in sorted(vocab.items(), key=lambda kv: kv[1])][:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert vocab["<mask>"] == 279 and "Ġcat" in vocab
    assert all(a + b in vocab for a, b in merges)
    write_byte_level_bpe(vocab, merges, tmp_path)
    assert (tmp_path / "merges.txt").read_text().startswith("#version: 0.2\n")
    assert json.loads((tmp_path / "vocab.json").read_text()) == vocab
    tokenizer = BpeTokenizer.from_directory(tmp_path)
    assert tokenizer.encode("the cat <mask>")[-1] == 279


def test_docstring_examples_run():
    assert doctest.testmod(vocab_training).failed == 0
