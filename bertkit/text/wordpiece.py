"""WordPiece: the sub-word model of BERT (Schuster & Nakajima 2012; Devlin et al. 2018).

A word is cut greedily into the longest vocabulary entries from the left; pieces after the
first carry the "##" prefix. A word with any part missing from the vocabulary becomes one
[UNK], and so does a word longer than 100 characters (HuggingFace's
`max_input_chars_per_word`; TF Text counts 100 UTF-8 bytes instead, its `max_bytes_per_word`):
"unaffable" -> "un", "##aff", "##able".
"""

from __future__ import annotations


class WordPiece:
    """Greedy longest-match-first WordPiece over a `token -> id` vocabulary.

    >>> wp = WordPiece({"[UNK]": 0, "un": 1, "##aff": 2, "##able": 3})
    >>> wp.encode_word("unaffable")
    (1, 2, 3)
    >>> wp.encode_word("unknowable")
    (0,)
    """

    def __init__(
        self,
        vocab: dict[str, int],
        unk_token: str = "[UNK]",
        continuation_prefix: str = "##",
        max_chars_per_word: int = 100,
        max_bytes_per_word: int | None = None,
    ):
        self.vocab = vocab
        self.unk_id = vocab[unk_token]
        self.prefix = continuation_prefix
        self.max_chars_per_word = max_chars_per_word
        self.max_bytes_per_word = max_bytes_per_word
        # no entry is longer than this, so no longer candidate needs a lookup
        self._longest = max((len(t) for t in vocab), default=0)

    def encode_word(self, word: str) -> tuple[int, ...]:
        """Ids of one pre-tokenized word (no whitespace, punctuation already split off)."""
        n = len(word)
        if n > self.max_chars_per_word:
            return (self.unk_id,)
        max_bytes = self.max_bytes_per_word
        # a character takes at most 4 bytes; "surrogatepass": a lone surrogate counts 3, as U+FFFD
        if max_bytes is not None and 4 * n > max_bytes and len(word.encode("utf-8", "surrogatepass")) > max_bytes:
            return (self.unk_id,)
        vocab, prefix, longest = self.vocab, self.prefix, self._longest
        whole = vocab.get(word)  # most words are in the vocabulary as they are
        if whole is not None:
            return (whole,)
        ids = []
        start = 0
        while start < n:
            marker = prefix if start else ""
            end = min(n, start + longest - len(marker))
            while end > start:
                token_id = vocab.get(marker + word[start:end])
                if token_id is not None:
                    break
                end -= 1
            else:
                return (self.unk_id,)
            ids.append(token_id)
            start = end
        return tuple(ids)
