"""Reading a WordPiece vocabulary (`vocab.txt`) and its settings (`tokenizer_config.json`).

`vocab.txt` holds one token per line; the line number (from 0) is the id, as in the original
BERT release and HuggingFace. `tokenizer_config.json`, when present, says whether the model
is cased (`do_lower_case`), whether accents are stripped and CJK characters spaced, and which
strings are the special tokens. Anything missing or unreadable is a `VocabError` naming the file.

bertkit adds one key of its own, `"bertkit_flavor"`: `"tfhub"` for a vocabulary whose model was
trained on TF Hub's tokenization (TF Text's `BertTokenizer`), `"huggingface"` (the default when
absent) for HuggingFace's. `FLAVORS` are the two; see `bert_tokenizer.py` for what differs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from bertkit.errors import InputError, VocabError

VOCAB_FILE = "vocab.txt"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
FLAVOR_KEY = "bertkit_flavor"
FLAVORS = ("huggingface", "tfhub")

# role -> default string; HuggingFace's names for the roles
DEFAULT_SPECIAL_TOKENS = {
    "unk_token": "[UNK]",
    "sep_token": "[SEP]",
    "pad_token": "[PAD]",
    "cls_token": "[CLS]",
    "mask_token": "[MASK]",
}


@dataclass
class WordPieceSettings:
    """What `tokenizer_config.json` says; HuggingFace's defaults when it is absent."""

    lowercase: bool = True
    strip_accents: bool | None = None  # None: strip when lower-casing
    cjk_chars: bool = True
    special_tokens: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_SPECIAL_TOKENS))
    flavor: str | None = None  # FLAVOR_KEY; None: not said


def read_vocab(path: str | Path) -> dict[str, int]:
    """`vocab.txt` -> {token: id}. Like the reference, a repeated token keeps its last id."""
    path = Path(path)
    try:
        # newline=None (universal newlines) and split on "\n" only: the reference reads lines
        # the same way, so tokens may contain other line-breaking characters such as U+2028.
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
    except FileNotFoundError:
        raise VocabError(f"{path}: vocabulary file not found") from None
    except IsADirectoryError:
        raise VocabError(f"{path}: is a directory, expected a vocabulary file (one token per line)") from None
    except UnicodeDecodeError as e:
        raise VocabError(f"{path}: not UTF-8 text (byte {e.start}); is this really a vocab.txt?") from None
    except OSError as e:
        raise VocabError(f"{path}: cannot read the vocabulary ({e.strerror})") from None
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise VocabError(f"{path}: the vocabulary file is empty")
    if "\x00" in lines[0]:
        raise VocabError(f"{path}: contains NUL bytes; is this really a vocab.txt?")
    return {token: i for i, token in enumerate(lines)}


def read_settings(path: str | Path) -> WordPieceSettings:
    """`tokenizer_config.json` -> settings; defaults when the file does not exist."""
    path = Path(path)
    settings = WordPieceSettings()
    if not path.exists():
        return settings
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise VocabError(f"{path}: not a readable JSON file ({e})") from None
    if not isinstance(config, dict):
        raise VocabError(f"{path}: expected a JSON object, found {type(config).__name__}")
    settings.lowercase = _flag(config, "do_lower_case", True, path)
    settings.strip_accents = _flag(config, "strip_accents", None, path)
    settings.cjk_chars = _flag(config, "tokenize_chinese_chars", True, path)
    settings.flavor = config.get(FLAVOR_KEY)
    if settings.flavor is not None and settings.flavor not in FLAVORS:
        raise VocabError(
            f"{path}: {FLAVOR_KEY!r} must be one of {', '.join(map(repr, FLAVORS))}, found {settings.flavor!r}"
        )
    for role in DEFAULT_SPECIAL_TOKENS:
        value = config.get(role)
        if isinstance(value, dict):  # written as {"content": "[UNK]", "lstrip": false, ...}
            value = value.get("content")
        if isinstance(value, str):
            settings.special_tokens[role] = value
    return settings


def check_flavor(flavor: str) -> str:
    """`flavor` if it names a tokenization flavour, else an `InputError` listing them."""
    if flavor not in FLAVORS:
        raise InputError(f"unknown tokenizer flavor {flavor!r}; expected one of {', '.join(map(repr, FLAVORS))}")
    return flavor


def _flag(config: dict, key: str, default, path: Path):
    value = config.get(key, default)
    if value is not None and not isinstance(value, bool):
        raise VocabError(f"{path}: {key!r} must be true or false, found {value!r}")
    return value
