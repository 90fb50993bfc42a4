"""`bertkit encode TEXT...`: the encoder's outputs for some texts, as the TF Hub notebook prints them.

    $ bertkit encode "This is a spam mail" "Computers are not unique to computers"
    dict_keys(['default', 'sequence_output', 'encoder_outputs', 'pooled_output'])
    default
    <tensor: shape=(2, 384), dtype=float32, numpy=
    array([[-0.00047919,  0.00068081, -0.01136757, ...,  0.04634772,
    ...

`--json` prints one JSON object instead: every output's shape and full values.
"""

from __future__ import annotations

import argparse

from bertkit.cli import add_flavor_argument, add_model_argument, say_flavor
from bertkit.errors import InputError

HELP = "print the encoder's outputs (names, shapes, leading values) for some texts"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("texts", nargs="+", metavar="TEXT", help="texts to encode, one batch")
    add_model_argument(parser)
    add_flavor_argument(parser)
    parser.add_argument("--seq-length", type=int, default=128, help="tokens per text, padded (default 128)")
    parser.add_argument("--device", default=None, help="cpu (default), cuda or cuda:N")
    parser.add_argument("--json", action="store_true", help="print shapes and all values as JSON")


def run(args: argparse.Namespace) -> int:
    import torch

    from bertkit.preprocessing import Preprocessor
    from bertkit.tasks.encoder import Encoder

    if args.seq_length < 2:
        raise InputError(f"--seq-length must be at least 2 ([CLS] and [SEP]), got {args.seq_length}")
    encoder = Encoder.from_pretrained(args.model, device=args.device)
    preprocessor = Preprocessor.from_pretrained(encoder.source, seq_length=args.seq_length, flavor=args.flavor)
    say_flavor(preprocessor)
    batch = preprocessor(args.texts)
    with torch.inference_mode():
        outputs = encoder(batch)
    print(_as_json(outputs) if args.json else _as_text(outputs))
    return 0


def _as_text(outputs: dict) -> str:
    """Each output as the TF Hub notebook shows a tensor: shape, dtype, a numpy excerpt."""
    lines = [f"dict_keys({list(outputs)})"]
    for name, value in outputs.items():
        if value is None:
            lines.append(f"{name}: None (this model has no pooler)")
        elif isinstance(value, list):
            lines.append(f"{name}: list of {len(value)} tensors, one per layer; [0] is")
            lines.append(_tensor_text(value[0]))
        else:
            lines.append(name)
            lines.append(_tensor_text(value))
    return "\n".join(lines)


def _tensor_text(tensor) -> str:
    import numpy as np

    array = _numpy(tensor)
    with np.printoptions(precision=8, threshold=50, edgeitems=3, linewidth=75, suppress=True):
        body = np.array2string(array, separator=", ", prefix="array(")
    return f"<tensor: shape={array.shape}, dtype={array.dtype}, numpy=\narray({body}, dtype={array.dtype})>"


def _as_json(outputs: dict) -> str:
    import json

    def describe(value):
        if isinstance(value, list):  # encoder_outputs: one tensor per layer
            return [describe(v) for v in value]
        if value is None:
            return None
        array = _numpy(value)
        return {"shape": list(array.shape), "dtype": "float32", "values": array.tolist()}

    return json.dumps({name: describe(value) for name, value in outputs.items()})


def _numpy(tensor):
    return tensor.detach().float().cpu().numpy()
