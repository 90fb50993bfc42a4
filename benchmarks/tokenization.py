"""Texts -> padded TF-Hub input dict: bertkit's Preprocessor against transformers' Rust tokenizer.

Both sides do the whole job a model input needs: tokenize, truncate to seq_length, add the
special tokens, pad, and hand back int32 torch tensors under TF Hub's names. Same texts (real,
with a realistic length mix from tests/corpora.py), same batches, same output (checked),
measured side by side in one run. bertkit starts every repeat with an empty cache: the
speed comes from words repeating inside the corpus, not from having seen it before.

    python benchmarks/tokenization.py                  # 10,000 texts, batches of 128
    python benchmarks/tokenization.py --texts 2000 --batch-size 32

Each row pairs a bertkit preprocessor with the reference for the same checkpoint; a new
tokenizer (e.g. byte-level BPE) adds a row to `ROWS`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bertkit.bundled import default_model_dir
from bertkit.preprocessing import Preprocessor

sys.path.insert(1, str(Path(__file__).resolve().parents[1] / "tests"))  # corpora.py, the shared real-text loader
import corpora  # noqa: E402

Batch = dict[str, torch.Tensor]


@dataclass
class Row:
    name: str
    make_ours: Callable[[int], Callable[[list[str]], Batch]]  # seq_length -> fresh texts->batch
    make_reference: Callable[[int], Callable[[list[str]], Batch]]


def hf_to_tf_hub(encoded) -> Batch:
    """transformers' BatchEncoding (numpy int64) -> TF Hub names, int32 torch tensors."""
    return {
        "input_word_ids": torch.from_numpy(encoded["input_ids"].astype(np.int32)),
        "input_mask": torch.from_numpy(encoded["attention_mask"].astype(np.int32)),
        "input_type_ids": torch.from_numpy(encoded["token_type_ids"].astype(np.int32)),
    }


def bert_row(model_dir: Path) -> Row:
    def ours(seq_length: int):
        return Preprocessor.from_pretrained(model_dir, seq_length=seq_length)

    def reference(seq_length: int):
        from transformers import BertTokenizerFast  # the Rust tokenizer (tokenizers)

        tokenizer = BertTokenizerFast.from_pretrained(model_dir)

        def call(texts: list[str]) -> Batch:
            encoded = tokenizer(
                texts, padding="max_length", truncation=True, max_length=seq_length, return_tensors="np"
            )
            return hf_to_tf_hub(encoded)

        return call

    return Row("BERT WordPiece (all-MiniLM-L6-v2, uncased)", ours, reference)


def roberta_row() -> Row:
    """Byte-level BPE with RoBERTa's packing. No RoBERTa vocabulary ships with bertkit, so one
    is trained here with `tokenizers` (30,000 tokens, on the corpora's text) and written as
    transformers writes roberta-base's files: vocab.json, merges.txt and tokenizer.json."""
    import tempfile

    from tokenizers import ByteLevelBPETokenizer
    from transformers import AddedToken, RobertaTokenizerFast

    model_dir = Path(tempfile.mkdtemp(prefix="bertkit-bench-roberta-"))
    trainer = ByteLevelBPETokenizer()
    corpus = corpora.po_strings() + corpora.license_paragraphs() + corpora.changelog_entries()
    trainer.train_from_iterator(
        corpus, vocab_size=30_000, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"], show_progress=False
    )
    trainer.save_model(str(model_dir))
    mask = AddedToken("<mask>", lstrip=True, rstrip=False, normalized=False, special=True)
    RobertaTokenizerFast.from_pretrained(str(model_dir), mask_token=mask).save_pretrained(str(model_dir))

    def ours(seq_length: int):
        return Preprocessor.from_pretrained(model_dir, seq_length=seq_length)

    def reference(seq_length: int):
        tokenizer = RobertaTokenizerFast.from_pretrained(str(model_dir))

        def call(texts: list[str]) -> Batch:
            encoded = tokenizer(
                texts, padding="max_length", truncation=True, max_length=seq_length,
                return_token_type_ids=True, return_tensors="np",
            )  # fmt: skip
            return hf_to_tf_hub(encoded)

        return call

    return Row("RoBERTa byte-level BPE (trained, 30k tokens)", ours, reference)


ROWS: list[Callable[[], Row]] = [lambda: bert_row(default_model_dir()), roberta_row]


def throughput(make: Callable[[], Callable[[list[str]], Batch]], batches: list[list[str]], repeats: int):
    """Best texts/s over `repeats` runs, each with a freshly made callable; and its last outputs."""
    best = float("inf")
    for _ in range(repeats):
        call = make()
        start = time.perf_counter()
        outputs = [call(batch) for batch in batches]
        best = min(best, time.perf_counter() - start)
    return sum(map(len, batches)) / best, outputs


def rows_differing(ours: list[Batch], reference: list[Batch]) -> int:
    differing = 0
    for a, b in zip(ours, reference):
        same = np.ones(len(a["input_word_ids"]), dtype=bool)
        for name in a:
            same &= (a[name] == b[name]).all(dim=1).numpy()
        differing += int((~same).sum())
    return differing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--texts", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seq-length", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    # The realistic mix includes long documents, which bertkit cuts before tokenizing (the ids
    # are exactly the same); the short texts show the speed without that advantage.
    mixes = {
        "realistic mix": corpora.realistic_mix(args.texts),
        "short texts only (<= 300 characters)": [t for t in corpora.realistic_mix(3 * args.texts) if len(t) <= 300][
            : args.texts
        ],
    }
    print(
        f"batches of {args.batch_size}, seq_length {args.seq_length}, best of {args.repeats}; {os.cpu_count()} CPUs, "
        f"TOKENIZERS_PARALLELISM={os.environ.get('TOKENIZERS_PARALLELISM', 'unset (Rust uses all cores)')}"
    )
    rows = [make_row() for make_row in ROWS]
    for mix, texts in mixes.items():
        batches = [texts[i : i + args.batch_size] for i in range(0, len(texts), args.batch_size)]
        chars = sum(map(len, texts))
        print(f"\n{mix}: {len(texts):,} texts, {chars / len(texts):,.0f} characters on average")
        print(f"{'':45s} {'bertkit':>14s} {'reference':>14s} {'ratio':>7s}  rows differing")
        for row in rows:
            ours_rate, ours_out = throughput(lambda row=row: row.make_ours(args.seq_length), batches, args.repeats)
            ref_rate, ref_out = throughput(lambda row=row: row.make_reference(args.seq_length), batches, args.repeats)
            print(
                f"{row.name:45s} {ours_rate:>9,.0f} t/s {ref_rate:>9,.0f} t/s {ours_rate / ref_rate:>6.2f}x"
                f"  {rows_differing(ours_out, ref_out)} of {len(texts)}"
            )


if __name__ == "__main__":
    main()
