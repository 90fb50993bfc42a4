"""A whole post-LN transformer layer in one C call, for passes of few token rows: `csrc/fused_layer.c`.

Such a pass is bound by memory bandwidth and by the cost of each call, and through PyTorch a
layer is ~10 operator calls. The C layer computes QKV, attention, the output product with its
residual and LayerNorm, and the feed-forward in one OpenMP region on PyTorch's own threads (it
links PyTorch's OpenMP runtime), its weights packed in the order its loop streams them: float32,
bfloat16 (widened in registers, or on AMX tiles) or int8 with exact integer sums. Up to how
many rows a pass takes it: `rows_limits()`; why, and the measurements: docs/inference.md.

Compiled on first use with the machine's C compiler (~1 s) into `$BERTKIT_CACHE` (default
`~/.cache/bertkit`, else a folder in the temporary directory), one file per source version and
variant: "avx512" (AVX-512F) or "avx2" (AVX2 + FMA), as `cpu.detect().c_layer_variant` says;
elsewhere, or without a compiler, passes take the PyTorch path. `BERTKIT_FUSED_LAYER=0` turns it
off, `BERTKIT_AMX=0` keeps it off the AMX tiles.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import subprocess
import tempfile
from pathlib import Path

import torch

from bertkit.inference import cpu
from bertkit.inference.kernels import int8_codes
from bertkit.modeling.activations import ACTIVATIONS

SOURCE = Path(__file__).with_name("csrc") / "fused_layer.c"  # includes the other files of csrc/
FLAGS = ["-O3", "-fopenmp", "-fPIC", "-shared"]
VARIANT_FLAGS = {"avx512": ["-mavx512f", "-mfma"], "avx2": ["-mavx2", "-mfma"]}  # simd16.h's two builds
INT8_GROUP = {"avx512": 4, "avx2": 2}  # k per weight group: VNNI's quads, vpmaddwd's pairs
MAX_ROWS = 128  # the most rows one call takes (the C side's MAX_ROWS)
WEIGHT_TYPES = {"fp32": 0, "bf16": 1, "int8": 2, "bf16-amx": 3}  # fused_layer.c's WEIGHT_*
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
FORM_CODES = {"gelu_erf": 1, "gelu_tanh": 2, "relu": 3}  # activations.h's ACT_* (0: no activation)
OFF_SWITCHES = ("BERTKIT_FUSED_LAYER", "BERTKIT_FEW_ROWS")  # =0 turns it off; the second: its former name


def activation_code(activation: str | None) -> int | None:
    """The C layer's code for a `hidden_act` (None: no activation), from its form in
    `bertkit.modeling.activations`; None where the C layer does not compute it."""
    if activation is None:
        return 0
    known = ACTIVATIONS.get(activation)
    return None if known is None else FORM_CODES.get(known.form)


class _Dense(ctypes.Structure):  # fused_layer.c's Dense
    _fields_ = [
        *[(name, ctypes.c_void_p) for name in ("weight", "scale", "bias", "in_scale", "column_sum")],
        ("in_features", ctypes.c_int64), ("out_features", ctypes.c_int64),
    ]  # fmt: skip


class _Layer(ctypes.Structure):  # fused_layer.c's Layer
    _fields_ = [
        *[(name, _Dense) for name in ("qkv", "attention_output", "inner", "outer")],
        *[(name, ctypes.c_void_p) for name in ("norm1_weight", "norm1_bias", "norm2_weight", "norm2_bias")],
        ("norm1_eps", ctypes.c_double), ("norm2_eps", ctypes.c_double),
        *[(name, ctypes.c_int64) for name in ("heads", "weight_type", "activation")],
    ]  # fmt: skip


def _writable_cache() -> Path:
    """`$BERTKIT_CACHE` (default ~/.cache/bertkit), or where it cannot be made or written, a
    folder of this user's in the system's temporary directory."""
    cache = Path(os.environ.get("BERTKIT_CACHE") or Path.home() / ".cache" / "bertkit")
    for directory in (cache, Path(tempfile.gettempdir()) / f"bertkit-{os.getuid()}"):
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(directory, os.W_OK):
            return directory
    raise OSError(f"neither {cache} nor the temporary directory can hold the compiled library")


def build(directory: Path | None = None, again: bool = False, variant: str | None = None) -> Path:
    """Compile the library's `variant` (default: the one this CPU runs), if this source and
    these flags have not been (or `again`), and return its path. Raises OSError or
    subprocess.CalledProcessError when there is no compiler or it fails."""
    variant = variant or cpu.detect().c_layer_variant
    if variant not in VARIANT_FLAGS:
        raise OSError(f"no build of {SOURCE.name} for this CPU ({cpu.detect().isa_line()})")
    sources = b"".join(f.name.encode() + b"\0" + f.read_bytes() for f in sorted(SOURCE.parent.glob("*.[ch]")))
    flags = [*FLAGS, *VARIANT_FLAGS[variant]]
    compiler = os.environ.get("CC", "cc")
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True, check=True).stdout
    key = hashlib.sha256(sources + " ".join(flags).encode() + version.encode()).hexdigest()[:16]
    directory = directory or _writable_cache()
    path = directory / f"fused_layer-{variant}-{key}.so"
    if path.exists() and not again:
        return path
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory) as scratch:  # build beside, then move: atomic
        built = Path(scratch) / path.name
        subprocess.run(
            [compiler, *flags, str(SOURCE), "-o", str(built), "-lm"], capture_output=True, text=True, check=True
        )
        os.replace(built, path)
    return path


class _Library:
    def __init__(self, path: Path, variant: str):
        self.variant = variant  # "avx512" or "avx2"
        lib = ctypes.CDLL(str(path))
        pointer = ctypes.c_void_p
        self.layer = lib.fused_layer_forward
        self.layer.argtypes = [pointer, ctypes.c_int, pointer, pointer, pointer, pointer, ctypes.c_int, ctypes.c_int]
        self.layer.restype = ctypes.c_int
        self.workspace = lib.fused_layer_workspace
        self.workspace.argtypes = [pointer, ctypes.c_int]
        self.workspace.restype = ctypes.c_int64
        self.amx_init = lib.fused_layer_amx_init
        self.amx_init.restype = ctypes.c_int
        lib.fused_layer_max_rows.restype = ctypes.c_int
        lib.fused_layer_struct_size.restype = ctypes.c_int64
        if lib.fused_layer_max_rows() != MAX_ROWS or lib.fused_layer_struct_size() != ctypes.sizeof(_Layer):
            raise OSError(f"{path.name} does not match fused_layer.py (rows, or the layout of a layer)")


_unavailable: list[str] = []  # why the library is not used, once known


@functools.cache
def library(variant: str | None = None) -> _Library | None:
    """The compiled library (the build this CPU runs, or `variant`), or None (with
    `unavailable_reason()` saying why)."""
    reason = None
    variant = variant or cpu.detect().c_layer_variant
    switch = next((name for name in OFF_SWITCHES if os.environ.get(name) == "0"), None)
    if switch is not None:
        reason = f"turned off by {switch}=0"
    elif variant is None:
        reason = "the CPU has neither AVX-512F nor AVX2 with FMA (the C layer's two builds)"
    else:
        try:
            try:
                return _Library(build(variant=variant), variant)
            except OSError:  # a cached file that does not load (truncated, foreign): build it again
                return _Library(build(again=True, variant=variant), variant)
        except subprocess.CalledProcessError as error:
            reason = f"compiling {SOURCE.name} failed: {(error.stderr or '').strip()[:500]}"
        except OSError as error:
            reason = f"cannot build or load {SOURCE.name}: {error}"
    _unavailable.append(reason)
    return None


def unavailable_reason() -> str | None:
    """None if the library is in use; else why passes of few tokens take the PyTorch path."""
    return None if library() is not None else _unavailable[-1]


def rows_limits() -> dict[str, int]:
    """Passes of up to this many token rows take the C layer, per precision: where the PyTorch
    path catches up (docs/inference.md). bf16 stops at 16 rows where the CPU has AMX but the C
    layer may not use it (`BERTKIT_AMX=0`): its FMAs lose to oneDNN's tiles from there."""
    bf16_slower_than_onednn = cpu.detect().amx and not amx_supported()
    return {"fp32": 64, "bf16": 16 if bf16_slower_than_onednn else 64, "int8": 64}


def groups_win(precision: str) -> bool:
    """Whether passes of more than `rows_limits()` rows also take the C layer, in groups of whole
    texts of at most MAX_ROWS rows: on the AVX2 build only, where it beats the PyTorch path in
    every precision; on the AVX-512 build oneDNN's products win from ~64 rows (docs/inference.md)."""
    lib = library_for(precision)
    return lib is not None and lib.variant == "avx2"


def library_for(precision: str) -> _Library | None:
    """The build passes of `precision` take: `library()`, except int8 on an AVX-512 CPU without
    VNNI (Skylake-SP), which takes the AVX2 build's exact 16-bit pairs."""
    lib = library()
    if precision == "int8" and lib is not None and lib.variant == "avx512" and not cpu.detect().int8_products:
        return library("avx2")
    return lib


def int8_supported() -> bool:
    """Whether int8 passes can take the C layer (see `library_for`)."""
    return library_for("int8") is not None


@functools.cache
def _amx_granted() -> bool:
    lib = library()
    if not cpu.detect().amx or lib is None or lib.variant != "avx512":
        return False
    return lib.amx_init() == 0  # Linux hands out AMX state on request


def amx_supported() -> bool:
    """Whether bf16 products run on AMX tiles (else widened to float32 FMAs); `BERTKIT_AMX=0`: never."""
    return os.environ.get("BERTKIT_AMX", "1") != "0" and _amx_granted()


def _host(tensor: torch.Tensor) -> torch.Tensor:  # a float32 copy in CPU memory, where the C layer reads
    return tensor.detach().to("cpu", torch.float32).contiguous()


def _blocks(weight: torch.Tensor, dtype: torch.dtype, group: int = 1) -> torch.Tensor:
    """(out, in) -> (out/16, in/group, 16, group): 16 output columns side by side, `group`
    consecutive k of each together (1: FMAs; 2: AMX's bf16 pairs, AVX2's int8 pairs; 4: VNNI's int8 quads)."""
    out, inp = weight.shape
    return weight.reshape(out // 16, 16, inp // group, group).permute(0, 2, 1, 3).to(dtype).contiguous()


class FusedLayer:
    """One post-LN layer's weights packed for `fused_layer_forward`; call with (T, H) float32 rows.

    `linears`: (weight, bias, smoothing) of QKV (3H x H), attention output, feed-forward inner
    and outer, as the model has them (smoothing: int8's SmoothQuant factors s, else None, as in
    `PackedLinear`); `norms`: (weight, bias, eps) of the two LayerNorms. `precision` picks the
    stored weights: fp32, bf16 (`kind` "bf16-amx" on AMX tiles, each product's input rounded to
    bf16) or int8, one scale per output column (csrc/int8_products.h); activations stay float32.
    """

    def __init__(self, linears, norms, heads: int, activation: str | None, precision: str):
        self._lib = library_for(precision)
        if self._lib is None:
            raise RuntimeError(unavailable_reason())
        kind = precision
        if precision == "bf16" and amx_supported() and all(linear[0].shape[1] % 32 == 0 for linear in linears):
            kind = "bf16-amx"  # tiles take 32 k at a time
        self.kind = kind
        self._keep = []  # every tensor the C struct points at

        def pointer(tensor):
            if tensor is None:
                return None
            self._keep.append(tensor)
            return tensor.data_ptr()

        def dense(weight, bias, smoothing):
            weight = _host(weight)
            out, inp = weight.shape
            bias = None if bias is None else _host(bias)
            if precision != "int8":
                packed = _blocks(weight, DTYPES[precision], group=2 if kind == "bf16-amx" else 1)
                return _Dense(pointer(packed), None, pointer(bias), None, None, inp, out)
            in_scale = None
            if smoothing is not None:
                smoothing = _host(smoothing)
                weight = weight * smoothing[None, :]
                in_scale = (1.0 / smoothing).contiguous()
            codes, scale = int8_codes(weight)
            column_sum = (128 * codes.sum(dim=1)).to(torch.int32)
            blocks = _blocks(codes, torch.int8, group=INT8_GROUP[self._lib.variant])
            return _Dense(pointer(blocks), pointer(scale.contiguous()), pointer(bias), pointer(in_scale),
                          pointer(column_sum), inp, out)  # fmt: skip

        (w1, b1, eps1), (w2, b2, eps2) = [(_host(w), _host(b), eps) for w, b, eps in norms]
        self._struct = _Layer(
            *(dense(*linear) for linear in linears),
            pointer(w1), pointer(b1), pointer(w2), pointer(b2), eps1, eps2,
            heads, WEIGHT_TYPES[kind], activation_code(activation),
        )  # fmt: skip
        self._address = ctypes.addressof(self._struct)

    @staticmethod
    def supports(linears, heads: int, activation: str | None, precision: str) -> bool:
        """Whether the C layer computes this layer: its shapes, activation and precision."""
        hidden = linears[1][0].shape[0]
        return (
            activation_code(activation) is not None
            and hidden % heads == 0
            and (hidden // heads) % 16 == 0  # attention takes 16 columns of a head at a time
            and hidden // heads <= 256
            and all(linear[0].shape[0] % 16 == 0 for linear in linears)
            and (precision != "int8" or int8_supported())
        )

    def workspace(self, rows: int) -> int:
        """float32 elements of scratch space a pass of `rows` rows needs."""
        return self._lib.workspace(self._address, rows)

    def __call__(self, x: torch.Tensor, offsets: torch.Tensor, workspace: torch.Tensor, threads: int) -> torch.Tensor:
        """x (T, H) float32 contiguous, offsets (B + 1,) int32 (each text's first row, then T)."""
        rows = x.shape[0]
        out = torch.empty_like(x)
        status = self._lib.layer(
            self._address, rows, x.data_ptr(), out.data_ptr(), workspace.data_ptr(), offsets.data_ptr(),
            offsets.shape[0] - 1, threads,
        )  # fmt: skip
        if status != 0:
            raise ValueError(f"the fused layer takes 1 to {MAX_ROWS} rows, not {rows}")
        return out
