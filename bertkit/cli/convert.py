"""`bertkit convert SRC DST`: a TF Hub SavedModel or Google BERT checkpoint -> a HuggingFace directory.

    $ bertkit convert uncased_L-12_H-768_A-12 bert-base-uncased-hf
    read Google BERT checkpoint uncased_L-12_H-768_A-12: 12 layers, hidden 768, 12 heads, vocabulary 30522, heads: masked LM + next sentence
    wrote bert-base-uncased-hf (110.1M parameters, uncased vocabulary, tfhub tokenizer flavour) in 3.2 s

No TensorFlow is needed: bertkit reads TensorFlow's checkpoint format itself (bertkit.tf_files).
"""

from __future__ import annotations

import argparse
import sys

HELP = "a TF Hub SavedModel or Google BERT checkpoint, written as a HuggingFace directory"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", metavar="SRC", help="TF Hub encoder SavedModel, or Google's bert_model.ckpt folder")
    parser.add_argument("destination", metavar="DST", help="new directory for the HuggingFace-format model")


def run(args: argparse.Namespace) -> int:
    from bertkit.checkpoint.convert import convert

    convert(args.source, args.destination, say=lambda line: print(line, file=sys.stderr))
    return 0
