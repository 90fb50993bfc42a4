"""Vocabularies we train are read by `transformers` and tokenize there exactly as with ours.

WordPiece: trained on real license and changelog text, written as vocab.txt +
tokenizer_config.json, then held-out real text (Python docstrings, Django translations in
~100 languages) tokenized by our `BertTokenizer` and by `transformers.AutoTokenizer` on the same
directory: identical ids, text for text. Byte-level BPE the same way with RoBERTa's tokenizer.
"""

import corpora
import pytest
import transformers

from bertkit.text.bert_tokenizer import BertTokenizer
from bertkit.text.bpe import BpeTokenizer
from bertkit.text.vocab_training import (
    train_byte_level_bpe,
    train_wordpiece,
    write_byte_level_bpe,
    write_wordpiece_vocab,
)


@pytest.fixture(scope="module")
def training_texts():
    return corpora.license_paragraphs() + corpora.changelog_entries(max_files=60)


@pytest.fixture(scope="module")
def held_out():
    return (
        corpora.stdlib_strings()[:1500]
        + corpora.po_strings()[::100]
        + [
            "Fill the [MASK] here, please.",
            "",
            "ａｃｃｅｎｔｓ: café, naïve, Ελληνικά, 中文字符, emoji 🙂, tab\there",
        ]
    )


@pytest.mark.parametrize("lowercase", [True, False])
def test_wordpiece_vocab_tokenizes_identically_in_transformers(tmp_path, training_texts, held_out, lowercase):
    vocab = train_wordpiece(training_texts, vocab_size=3000, lowercase=lowercase)
    assert len(vocab) == 3000
    write_wordpiece_vocab(vocab, tmp_path, lowercase=lowercase)
    ours = BertTokenizer.from_directory(tmp_path)
    reference = transformers.AutoTokenizer.from_pretrained(str(tmp_path))
    assert reference.convert_tokens_to_ids(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]) == [0, 1, 2, 3, 4]
    mismatches = [t for t in held_out if ours.encode(t) != reference.encode(t, add_special_tokens=False)]
    assert mismatches == []
    # the vocabulary learned the corpus: frequent words are whole, rare ones split into ##pieces
    tokens = reference.tokenize("This License applies to any program or other work.")
    assert tokens[:2] == (["this", "license"] if lowercase else ["This", "License"])
    assert len(tokens) <= 12


def test_byte_level_bpe_vocab_tokenizes_identically_in_transformers(tmp_path, training_texts, held_out):
    vocab, merges = train_byte_level_bpe(training_texts, vocab_size=3000)
    write_byte_level_bpe(vocab, merges, tmp_path)
    ours = BpeTokenizer.from_directory(tmp_path)
    reference = transformers.AutoTokenizer.from_pretrained(str(tmp_path))
    assert type(reference).__name__.startswith("Roberta")
    texts = held_out + ["The capital of France is <mask>.", "<mask> and <mask><mask>  <mask>"]
    mismatches = [t for t in texts if ours.encode(t) != reference.encode(t, add_special_tokens=False)]
    assert mismatches == []
    assert reference.convert_ids_to_tokens(ours.encode(" the License")) == ["Ġthe", "ĠLicense"]
