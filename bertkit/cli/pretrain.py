"""`bertkit pretrain --corpus F... --output DIR`: vocabulary + MLM/NSP pretraining from raw text.

    $ bertkit pretrain --corpus notes.txt --output my-bert --vocab-size 8000 --layers 4 --hidden 256
    vocabulary: 8000 WordPiece tokens learned from notes.txt -> my-bert/vocab.txt
    corpus: 1 file, 52,113 lines, 2,304 documents, 1,204,559 tokens -> 46,210 training instances ...
    epoch 1/3:  12%|█▏  | 180/1444 [00:41<04:49, loss=6.9, mlm_loss=6.1, mlm_acc=0.121, nsp_acc=0.581]
    ...
    saved my-bert (BertForPreTraining): held-out MLM loss 3.91, MLM accuracy 0.342, NSP accuracy 0.781

The corpus format is BERT's: UTF-8 text, one sentence per line, documents separated by blank
lines. From scratch (size flags or `--config config.json`), the vocabulary is learned from the
corpus first; with `--model DIR`, pretraining continues from that checkpoint and its vocabulary.
`--architecture roberta` swaps the stages for RoBERTa's: byte-level BPE, full-sentence
sequences, dynamic masking, no next sentence prediction. The same run from Python:
`bertkit.train.pretrain.pretrain(PretrainOptions(corpus=[...], output=...))`.
"""

from __future__ import annotations

import argparse

from bertkit.cli.training import add_training_arguments, finish, options_from

HELP = "pretrain a BERT (MLM + NSP) or RoBERTa (MLM) from raw text, vocabulary included"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument_group("corpus and output").add_argument
    add("--corpus", nargs="+", metavar="FILE", help="UTF-8 text: a sentence per line, blank line between documents")
    add("--output", required=True, metavar="DIR", help="where the model, its vocabulary, data and curves go")

    add = parser.add_argument_group("model (from scratch unless --model)").add_argument
    add("--model", metavar="DIR", help="continue pretraining this checkpoint (default: a new model)")
    add("--config", metavar="FILE", help="config.json of the new model (HuggingFace keys) instead of size flags")
    add("--architecture", choices=("bert", "roberta"), default="bert", help="default bert")
    add("--layers", type=int, default=4, help="transformer layers (default 4)")
    add("--hidden", type=int, default=256, help="hidden size (default 256)")
    add("--heads", type=int, default=4, help="attention heads (default 4)")
    add("--intermediate", type=int, help="feed-forward size (default 4 x hidden)")
    add("--dropout", type=float, default=0.1, help="hidden and attention dropout (default 0.1)")

    add = parser.add_argument_group("vocabulary (from scratch)").add_argument
    add("--vocab", metavar="DIR", help="use the tokenizer files in DIR instead of learning a vocabulary")
    add("--vocab-size", type=int, default=8000, help="tokens to learn (default 8000)")
    add("--cased", action="store_true", help="keep case and accents (WordPiece; default: lower-case)")

    add = parser.add_argument_group("pretraining data (sequences of --max-seq-length tokens)").add_argument
    add("--short-seq-prob", type=float, default=0.1, help="default 0.1")
    add("--mask-prob", type=float, default=0.15, help="default 0.15")
    add("--max-predictions", type=int, default=20, help="masked tokens per sequence at most (default 20)")
    add("--whole-word-masking", action="store_true", help="mask whole words, never parts of them")
    add("--no-nsp", action="store_true", help="MLM only: full-sentence sequences, no next sentence prediction")
    add("--dynamic-masking", action="store_true", help="new masks every epoch instead of --dupe-factor copies")
    add("--dupe-factor", type=int, default=5, help="masked copies of the data, static masking (default 5)")

    add_training_arguments(parser)
    parser.set_defaults(learning_rate=1e-4, seed=0, save_every=500)  # BERT's pretraining schedule (PretrainOptions)


def run(args: argparse.Namespace) -> int:
    from bertkit.train.pretrain import PretrainOptions, format_report, pretrain  # here: `bertkit --help` skips torch

    options = options_from(args, PretrainOptions, next_sentence=not args.no_nsp)
    return finish(pretrain(options, say=print), format_report)
