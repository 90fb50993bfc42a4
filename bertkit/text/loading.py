"""A model directory -> its tokenizer and packing layout, chosen by the files it holds.

- `vocab.txt`: WordPiece (BERT, DistilBERT), `[CLS] A [SEP] B [SEP]`, type ids per segment.
- `vocab.json` + `merges.txt`, or a BPE `tokenizer.json`: byte-level BPE (RoBERTa),
  `<s> A </s></s> B </s>`, type ids all 0.

- a TF Hub SavedModel (encoder or preprocessing model: `assets/vocab.txt`) or Google's BERT
  checkpoint folder (`vocab.txt` beside `bert_config.json`): WordPiece as TF Hub tokenizes, its
  casing read from the model (`tensorflow_vocabulary`).

`flavor` picks WordPiece's tokenization ("huggingface" or "tfhub", see `bert_tokenizer.py`);
None: the model's origin - "tfhub" for TensorFlow models, else the one the directory's
`tokenizer_config.json` names, else "huggingface". Byte-level BPE has only the "huggingface" one.
"""

from __future__ import annotations

from pathlib import Path

from bertkit.errors import VocabError
from bertkit.text import bpe
from bertkit.text.bert_tokenizer import BertTokenizer
from bertkit.text.packing import PackingLayout
from bertkit.text.tokenizer import Tokenizer
from bertkit.text.vocab import VOCAB_FILE, check_flavor, read_vocab
from bertkit.tf_files.bundle import TensorBundle
from bertkit.tf_files.layout import SAVED_MODEL_FILE, model_layout

# TF Text's case-folding op: in a preprocessing SavedModel's graph exactly when it lower-cases.
_CASE_FOLD_OP = b"CaseFoldUTF8"
_TOKENIZER_OPS = (b"WordpieceTokenize", b"RegexSplitWithOffsets", b"FastWordpieceTokenize")


def load_text_stages(directory: str | Path, flavor: str | None = None) -> tuple[Tokenizer, PackingLayout]:
    """The tokenizer and the special-token layout of the checkpoint in `directory`."""
    directory = Path(directory)
    if flavor is not None:
        check_flavor(flavor)
    tensorflow = tensorflow_vocabulary(directory)
    if tensorflow is not None:
        vocab, lowercase = tensorflow
        tokenizer = BertTokenizer.from_vocab(read_vocab(vocab), lowercase, flavor=flavor or "tfhub")
        framing = PackingLayout.bert
    elif (directory / VOCAB_FILE).is_file():
        tokenizer, framing = BertTokenizer.from_directory(directory, flavor), PackingLayout.bert
    elif any((directory / name).is_file() for name in (bpe.VOCAB_FILE, bpe.MERGES_FILE, bpe.TOKENIZER_FILE)):
        if flavor == "tfhub":
            raise VocabError(
                f"{directory}: flavor 'tfhub' is WordPiece as TF Hub tokenizes; this model has a byte-level "
                "BPE tokenizer (RoBERTa), whose only flavor is 'huggingface'"
            )
        tokenizer, framing = bpe.BpeTokenizer.from_directory(directory), PackingLayout.roberta
    else:
        raise VocabError(
            f"{directory}: no tokenizer files found (expected {VOCAB_FILE}, or {bpe.VOCAB_FILE} and {bpe.MERGES_FILE})"
        )
    ids = {f"{role}_id": tokenizer.token_id(f"{role}_token") for role in ("cls", "sep", "pad")}
    return tokenizer, framing(**ids)


def load_tokenizer(directory: str | Path, flavor: str | None = None) -> Tokenizer:
    """Just the tokenizer of the checkpoint in `directory`."""
    return load_text_stages(directory, flavor)[0]


def tensorflow_vocabulary(directory: Path) -> tuple[Path, bool] | None:
    """(vocab.txt, lower-cased?) of a TF Hub SavedModel or Google checkpoint; None for other directories.

    The casing, as each says it: an encoder SavedModel by its `do_lower_case` variable (TF Hub's
    exporter writes one), a preprocessing SavedModel by whether its graph case-folds; Google's
    folders say nothing, so by the vocabulary (a cased one has upper-case tokens).
    """
    layout = model_layout(directory)
    if layout is None:
        return None
    if layout == "google":
        vocab = directory / VOCAB_FILE
        if not vocab.is_file():
            raise VocabError(f"{vocab}: not found; Google's BERT checkpoints come with their {VOCAB_FILE}")
        return vocab, _uncased_vocabulary(vocab)
    vocab = directory / "assets" / VOCAB_FILE
    if not vocab.is_file():
        raise VocabError(f"{directory}: a SavedModel without assets/{VOCAB_FILE}; is it a TF Hub BERT model?")
    return vocab, _saved_model_lowercase(directory, vocab)


def _saved_model_lowercase(directory: Path, vocab: Path) -> bool:
    variables = directory / "variables" / "variables"
    if variables.with_suffix(".index").is_file():
        bundle = TensorBundle(variables)
        for name in bundle.names():
            if name.split("/")[0] == "do_lower_case":
                return bool(bundle.tensor(name).item())
    graph = (directory / SAVED_MODEL_FILE).read_bytes()
    if _CASE_FOLD_OP in graph:
        return True
    if any(op in graph for op in _TOKENIZER_OPS):
        return False
    return _uncased_vocabulary(vocab)


def _uncased_vocabulary(vocab: Path) -> bool:
    """No upper-case letter in any token but the bracketed special ones ([CLS], [unused0])."""
    return not any(
        token != token.lower() and not (token.startswith("[") and token.endswith("]")) for token in read_vocab(vocab)
    )
