"""A model directory -> its tokenizer and packing layout, chosen by the files it holds.

- `vocab.txt`: WordPiece (BERT, DistilBERT), `[CLS] A [SEP] B [SEP]`, type ids per segment.
- `vocab.json` + `merges.txt`, or a BPE `tokenizer.json`: byte-level BPE (RoBERTa),
  `<s> A </s></s> B </s>`, type ids all 0.
"""

from __future__ import annotations

from pathlib import Path

from bertkit.errors import VocabError
from bertkit.text import bpe
from bertkit.text.bert_tokenizer import BertTokenizer
from bertkit.text.packing import PackingLayout
from bertkit.text.tokenizer import Tokenizer
from bertkit.text.vocab import VOCAB_FILE


def load_text_stages(directory: str | Path) -> tuple[Tokenizer, PackingLayout]:
    """The tokenizer and the special-token layout of the checkpoint in `directory`."""
    directory = Path(directory)
    if (directory / VOCAB_FILE).is_file():
        tokenizer, framing = BertTokenizer.from_directory(directory), PackingLayout.bert
    elif any((directory / name).is_file() for name in (bpe.VOCAB_FILE, bpe.MERGES_FILE, bpe.TOKENIZER_FILE)):
        tokenizer, framing = bpe.BpeTokenizer.from_directory(directory), PackingLayout.roberta
    else:
        raise VocabError(
            f"{directory}: no tokenizer files found (expected {VOCAB_FILE}, or {bpe.VOCAB_FILE} and {bpe.MERGES_FILE})"
        )
    ids = {f"{role}_id": tokenizer.token_id(f"{role}_token") for role in ("cls", "sep", "pad")}
    return tokenizer, framing(**ids)


def load_tokenizer(directory: str | Path) -> Tokenizer:
    """Just the tokenizer of the checkpoint in `directory`."""
    return load_text_stages(directory)[0]
