"""`bertkit <command>`: one module per command in this package.

Each command module defines `HELP` (one line), `add_arguments(parser)` and `run(args)`;
`run` returns an exit code or None (= 0). Errors a user can cause are `BertkitError`s,
caught here, once, and printed as one line on stderr with a non-zero exit.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

from bertkit import __version__
from bertkit.errors import BertkitError

# command name -> module in bertkit.cli, in the order `--help` lists them.
# A command appears only once its module exists.
COMMANDS = {
    "preprocess": "preprocess",
    "encode": "encode",
    "embed": "embed",
    "finetune": "finetune",
    "predict": "predict",
    "pretrain": "pretrain",
    "distill": "distill",
    "fill-mask": "fill_mask",
    "serve": "serve",
    "bench": "bench",
    "info": "info",
}


def add_model_argument(parser: argparse.ArgumentParser, required: bool = False) -> None:
    """`--model DIR`, defaulting to the bundled all-MiniLM-L6-v2."""
    parser.add_argument(
        "--model",
        metavar="DIR",
        required=required,
        default=None,
        help="checkpoint directory (HuggingFace format)"
        + ("" if required else "; default: the bundled all-MiniLM-L6-v2"),
    )


def _available_commands() -> dict[str, str]:
    return {
        name: f"{__name__}.{module}"
        for name, module in COMMANDS.items()
        if importlib.util.find_spec(f"{__name__}.{module}") is not None
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bertkit",
        description="The BERT family from scratch in PyTorch, with the TF Hub workflow.",
    )
    parser.add_argument("--version", action="version", version=f"bertkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    for name, module_name in _available_commands().items():
        module = importlib.import_module(module_name)
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
