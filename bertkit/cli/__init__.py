"""`bertkit <command>`: one module per command in this package.

Each command module defines `HELP` (one line), `add_arguments(parser)` and `run(args)`;
`run` returns an exit code or None (= 0). Errors a user can cause are `BertkitError`s,
caught here, once, and printed as one line on stderr with a non-zero exit. The parser imports
every command module, so they import the model stack (torch) inside `run`, never at the top:
`bertkit --help` stays instant (tests/cli/test_startup.py).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from bertkit import __version__
from bertkit.errors import BertkitError, InputError

# in the order `--help` lists them; each is the module bertkit.cli.<name, "-" spelled "_">
COMMANDS = ("preprocess", "encode", "embed", "finetune", "predict", "pretrain", "distill", "fill-mask", "serve",
            "rerank", "index", "search", "bench", "info", "convert", "explain", "attention")  # fmt: skip


def add_model_argument(parser: argparse.ArgumentParser, required: bool = False) -> None:
    """`--model DIR`, defaulting to the bundled all-MiniLM-L6-v2."""
    default = "" if required else "; default: the bundled all-MiniLM-L6-v2"
    parser.add_argument(
        "--model", metavar="DIR", required=required, help=f"checkpoint directory (HuggingFace format){default}"
    )


def add_flavor_argument(parser: argparse.ArgumentParser) -> None:
    """`--flavor`: whose WordPiece tokenization to reproduce (default: the model's origin)."""
    parser.add_argument(
        "--flavor", choices=("huggingface", "tfhub"), default=None,
        help="tokenize as transformers' BertTokenizer (huggingface) or TF Hub's preprocessing (tfhub); "
        "default: the model's origin (tfhub for TF Hub SavedModels and Google checkpoints)",
    )  # fmt: skip


def say_flavor(preprocessor) -> None:
    """One line on stderr when the tokenization is TF Hub's: the arrays differ from transformers' on some texts."""
    if preprocessor.tokenizer.flavor == "tfhub":
        print("tokenizer: WordPiece, tfhub flavour (as TF Hub's preprocessing model)", file=sys.stderr)


def add_text_arguments(parser: argparse.ArgumentParser, verb: str) -> None:
    """TEXT... and `--pair TEXT...` (second segments, one per TEXT): preprocess, explain."""
    parser.add_argument("texts", nargs="*", metavar="TEXT", help=f"texts to {verb} (one example each)")
    parser.add_argument(
        "--pair", nargs="+", metavar="TEXT",
        help="second segments, one per TEXT: [CLS] TEXT [SEP] PAIR [SEP], truncated round-robin",
    )  # fmt: skip


def check_texts(args: argparse.Namespace, command: str) -> None:
    """One clear line when `add_text_arguments`' texts are missing or the pairs do not match them."""
    if not args.texts:
        raise InputError(f'no TEXT given; e.g. bertkit {command} "This is a spam mail"')
    if args.pair is not None and len(args.pair) != len(args.texts):
        raise InputError(f"--pair got {len(args.pair)} texts for {len(args.texts)} TEXT; give one per TEXT")


def add_loading_arguments(parser: argparse.ArgumentParser, required: bool = False, precision_note: str = "") -> None:
    """`--model`, `--seq-length`, `--device` and `--precision`: the flags of `load_model`."""
    add_model_argument(parser, required)
    parser.add_argument(
        "--seq-length", type=int, default=None,
        help="longer texts are truncated (default: 128 tokens; for embedding, the model's declared max_seq_length)",
    )  # fmt: skip
    parser.add_argument("--device", default=None, help="cpu (default), cuda or cuda:N")
    parser.add_argument(
        "--precision", choices=("auto", "fp32", "bf16", "fp16", "int8"), default="auto",
        help="encoder weights: auto (default: the fastest within its accuracy guard here, see `bertkit info`), "
        "fp32 (the model's own numbers), bf16, fp16, or int8 (dynamic quantisation, CPU)" + precision_note,
    )  # fmt: skip


def load_model(args: argparse.Namespace):
    """`bertkit.load` as the flags of `add_loading_arguments` say (embed, predict, serve)."""
    import bertkit  # here: `bertkit --help` skips torch

    return bertkit.load(args.model, precision=args.precision, device=args.device, seq_length=args.seq_length)


def precision_chosen(args: argparse.Namespace, model) -> str:
    """How a command reports the precision it runs: "precision int8 (auto)"."""
    return f"precision {model.precision}" + (" (auto)" if args.precision == "auto" else "")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bertkit", description="The BERT family from scratch in PyTorch, with the TF Hub workflow."
    )
    parser.add_argument("--version", action="version", version=f"bertkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"{__name__}.{name.replace('-', '_')}")
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = args._run(args)
    except BertkitError as e:
        print(f"bertkit {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"bertkit {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `bertkit encode ... | head`
        return 0
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
