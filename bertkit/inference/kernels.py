"""Dense layers with weights packed once, for the fastest kernel of each precision and device.

`PackedLinear` computes act(x @ W.T + b) (+ residual) on unpadded token rows: fp32 and bf16
on oneDNN with a pre-packed weight and a fused epilogue (products of few fp32 rows through
MKL's `addmm` on an (in, out) copy), int8 as dynamic quantisation (per-output-channel int8
weights, each row quantised on its own scale at every call, the LayerNorm-fed products
smoothed) on oneDNN's VNNI kernels and fbgemm's for few rows; on a CPU without exact products
of a precision (`cpu.py`) the compact weights are widened to float32 for each product; on
CUDA, plain `F.linear`. Passes of few tokens take the fused C layer instead (`fused_layer.py`).
Why each choice, with its measurements: docs/inference.md ("The kernels").
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F

from bertkit.inference import cpu
from bertkit.modeling.activations import ACTIVATIONS

PRECISIONS = ("fp32", "bf16", "int8")


def resolve_precision(precision: str, device: torch.device) -> str:
    """ "auto" -> the fastest precision that keeps its accuracy guard here: bf16 on a GPU, on a
    CPU what `cpu.Cpu.auto_precision` measured; any other precision is returned as it is."""
    if precision != "auto":
        return precision
    return "bf16" if device.type == "cuda" else cpu.detect().auto_precision()


TRANSPOSED_WEIGHT_ROWS = 16  # fp32 products of at most this many rows: MKL's addmm on the (in, out) weight,
TRANSPOSED_WEIGHT_MAX_ELEMENTS = 1 << 20  # if the weight has at most this many elements; else 1 row
FBGEMM_ROWS = 16  # int8 products of at most this many rows: fbgemm, where it is exact

# an activation's form (`bertkit.modeling.activations`) -> oneDNN's post-op (attr, algorithm);
# the others run after the product, as the model's own function.
_ONEDNN_POST_OPS = {"gelu_erf": ("gelu", "none"), "gelu_tanh": ("gelu", "tanh"), "relu": ("relu", "")}


def int8_engine(small_products: bool = False) -> str | None:
    """The quantized engine for exact dynamic int8 products (VNNI only): oneDNN, or fbgemm for
    products of at most `FBGEMM_ROWS` rows if `small_products`; None: no engine for that case."""
    if not cpu.detect().int8_products:
        return None
    engines = torch.backends.quantized.supported_engines
    if small_products:
        return next((e for e in ("fbgemm", "x86") if e in engines), None)
    return next((e for e in ("onednn", "x86", "fbgemm") if e in engines), None)


def int8_codes(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(codes, scale) of an (out, in) float weight: one symmetric scale per output row, max |w|
    / 127, and the codes round(w / scale) in [-127, 127] (as floats) - what every int8 path
    stores (oneDNN / fbgemm's packing, the widened products, the C layer)."""
    scale = (weight.abs().amax(dim=1) / 127.0).clamp_min(1e-12)
    return torch.round(weight / scale[:, None]).clamp_(-127, 127), scale


def compute_dtype(precision: str, device: torch.device) -> torch.dtype:
    """dtype of the activations between layers: int8 keeps fp32 activations (dynamic quant),
    and so does bf16 on a CPU without bf16 products (its weights are widened to float32)."""
    if precision == "bf16" and (device.type != "cpu" or cpu.detect().bf16_products):
        return torch.bfloat16
    return torch.float32


class PackedLinear:
    """y = act(x @ W.T + b) (+ residual), with W packed once for `precision` on `device`;
    x (T, in_features) unpadded tokens, y (T, out_features).

    `smoothing`: int8 only, (in_features,) factors s; computes (x / s) @ (W * s).T.
    `small_products`: prepare the paths for products of few rows (fp32: MKL on an (in, out)
    copy; int8: fbgemm's packing); False where the engine's C layer computes such passes.
    """

    def __init__(
        self,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        precision: str,
        device: torch.device,
        activation: str | None = None,
        smoothing: torch.Tensor | None = None,
        small_products: bool = True,
    ):
        self.out_features, self.in_features = weight.shape
        self._act = ACTIVATIONS[activation].function if activation else None  # the model's own functions
        self._post_op = _ONEDNN_POST_OPS.get(ACTIVATIONS[activation].form) if activation else None
        weight = weight.detach().float()
        bias = None if bias is None else bias.detach().float()
        self.kind = self._choose_kind(precision, device)
        self._unsmooth = None
        self._transposed_rows = 0  # fp32 on CPU: rows up to which a product takes the (in, out) path
        self._weight_t = self._source = None
        if precision == "int8" and smoothing is not None:
            weight = weight * smoothing[None, :]
            self._unsmooth = (1.0 / smoothing).to(device)
        if self.kind == "int8":
            self._pack_int8(weight, bias, small_products)
        elif self.kind == "widened":  # compact weights, widened to float32 for each product
            self.bias = bias
            if precision == "bf16":
                self.weight, self.scale = weight.to(torch.bfloat16), None
            else:  # the int8 codes and scales the C layer and the VNNI kernels use
                codes, self.scale = int8_codes(weight)
                self.weight = codes.to(torch.int8)
        else:
            dtype = compute_dtype(precision, device)
            self.weight = weight.to(device, dtype)
            self.bias = None if bias is None else bias.to(device, dtype)
            # fp32 on CPU: the (in, out) copy for products of few rows, made from `weight` (the
            # model's own tensor, not a copy) the first time such a product is asked for.
            if self.kind == "onednn" and dtype == torch.float32 and small_products:
                small_weight = weight.numel() <= TRANSPOSED_WEIGHT_MAX_ELEMENTS
                self._transposed_rows = TRANSPOSED_WEIGHT_ROWS if small_weight else 1
                self._source = weight
            if self.kind == "onednn":
                # The batch size only hints the packing layout; any row count works afterwards.
                self.weight = torch.ops.mkldnn._reorder_linear_weight(self.weight, 512)

    @staticmethod
    def _choose_kind(precision: str, device: torch.device) -> str:
        """ "widened": bf16 or int8 on a CPU without exact products of that kind (`cpu.py`): the
        weights kept compact and widened to float32 for each product, which costs little but on
        products of few rows (those take the C layer), so the numbers are the stored weights'."""
        if device.type != "cpu":
            return "plain"
        features = cpu.detect()
        if precision == "int8":
            return "int8" if features.int8_products else "widened"
        if precision == "bf16" and not features.bf16_products:
            return "widened"
        onednn = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")
        return "onednn" if onednn else "plain"

    def _pack_int8(self, weight: torch.Tensor, bias: torch.Tensor | None, small_products: bool) -> None:
        # Symmetric per-output-channel int8 weights; activations are quantised per call. The
        # bias is added after the rows are scaled back (see `_int8`), so it is not packed.
        scales = int8_codes(weight)[1].double()
        zero_points = torch.zeros(self.out_features, dtype=torch.long)
        with warnings.catch_warnings():  # quantized tensors are deprecated in favour of torchao,
            warnings.simplefilter("ignore")  # which is not a dependency; these ops still ship in torch
            qweight = torch.quantize_per_channel(weight, scales, zero_points, 0, torch.qint8)
        engine = int8_engine()
        if engine is None:
            raise RuntimeError("this PyTorch build has no int8 CPU engine (onednn/x86/fbgemm)")
        self.packed = self._prepack(qweight, engine)
        small = int8_engine(small_products=True) if small_products else None
        self._fbgemm_packed = None if small in (None, engine) else self._prepack(qweight, small)
        self.bias = bias

    @staticmethod
    def _prepack(qweight: torch.Tensor, engine: str):
        previous = torch.backends.quantized.engine
        torch.backends.quantized.engine = engine
        try:
            return torch.ops.quantized.linear_prepack(qweight, None)
        finally:
            torch.backends.quantized.engine = previous

    def __call__(self, x: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        if x.shape[0] <= self._transposed_rows:
            y = self._transposed_product(x)
        elif self.kind == "onednn":
            if residual is not None and self._act is None:
                return torch.ops.mkldnn._linear_pointwise.binary(x, residual, self.weight, self.bias, "add")
            if self._post_op is not None:
                attr, algorithm = self._post_op
                y = torch.ops.mkldnn._linear_pointwise(x, self.weight, self.bias, attr, [], algorithm)
                return y if residual is None else y + residual
            y = torch.ops.mkldnn._linear_pointwise(x, self.weight, self.bias, "none", [], "")
        elif self.kind == "int8":
            y = self._int8(x)
        elif self.kind == "widened":
            y = F.linear(x if self._unsmooth is None else x * self._unsmooth, self.widened(), self.bias)
        else:
            y = F.linear(x, self.weight, self.bias)
        if self._act is not None:
            y = self._act(y)
        if residual is not None:
            y = y + residual
        return y

    def widened(self) -> torch.Tensor:  # "widened": the (out, in) float32 weight the product uses
        return self.weight.float() if self.scale is None else self.weight.float().mul_(self.scale[:, None])

    def _transposed_product(self, x: torch.Tensor) -> torch.Tensor:  # x @ W.T + b through MKL, (in, out) weight
        if self._weight_t is None:
            self._weight_t, self._source = self._source.t().contiguous(), None
        return torch.addmm(self.bias, x, self._weight_t) if self.bias is not None else x @ self._weight_t

    def _int8(self, x: torch.Tensor) -> torch.Tensor:  # per-row scales, see the module's docstring
        if self._unsmooth is not None:
            x = x * self._unsmooth
        # max |x| of each row: many rows, amax and amin (they read x twice but write no copy: ~2x
        # faster than abs().amax(), measured at 1500 x 1536); few rows, abs().amax() (fewer calls).
        if x.shape[0] <= FBGEMM_ROWS:
            rows = x.abs().amax(dim=1, keepdim=True)
        else:
            rows = torch.maximum(x.amax(dim=1, keepdim=True), x.amin(dim=1, keepdim=True).neg_())
        rows.clamp_min_(1e-12)  # a row of zeros stays zero
        few_rows = self._fbgemm_packed is not None and x.shape[0] <= FBGEMM_ROWS
        packed = self._fbgemm_packed if few_rows else self.packed
        y = torch.ops.quantized.linear_dynamic(x / rows, packed, False)  # exact 8-bit: VNNI
        return y.mul_(rows) if self.bias is None else torch.addcmul(self.bias, y, rows)
