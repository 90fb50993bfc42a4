"""`bertkit preprocess TEXT...`: the three input arrays, as the TF Hub notebook prints them.

$ bertkit preprocess "This is a spam mail" "Computers are not unique to computers"
$ bertkit preprocess "Is this spam?" --pair "No, it is not." --seq-length 16
$ bertkit preprocess "hello" --json
"""

from __future__ import annotations

import argparse
import json
import sys

from bertkit.cli import add_flavor_argument, add_model_argument, add_text_arguments, check_texts, say_flavor

HELP = "text -> input_word_ids / input_mask / input_type_ids, printed like TF Hub's preprocessor"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_text_arguments(parser, "preprocess")
    parser.add_argument("--seq-length", type=int, default=128, metavar="N", help="padded length (default 128)")
    add_model_argument(parser)
    add_flavor_argument(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object {name: rows} instead")


def run(args: argparse.Namespace) -> int:
    check_texts(args, "preprocess")
    import numpy as np

    from bertkit.preprocessing import Preprocessor

    pre = Preprocessor.from_pretrained(args.model, seq_length=args.seq_length, flavor=args.flavor)
    say_flavor(pre)
    batch = pre(args.texts, args.pair)
    if args.json:
        json.dump({name: tensor.tolist() for name, tensor in batch.items()}, sys.stdout)
        print()
        return 0
    print(f"keys: {list(batch)}")
    with np.printoptions(threshold=sys.maxsize):
        for name, tensor in batch.items():
            array = tensor.numpy()
            print(f"\n{name}: shape={tuple(array.shape)}, dtype={array.dtype}")
            print(repr(array))
    return 0
