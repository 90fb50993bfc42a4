"""Dense layers with weights packed once, for the fastest kernel of each precision and device.

Measured on the 2-core AVX-512 (BF16, VNNI) development machines, one without AMX and one
with, with `python benchmarks/peak.py` (see docs/inference.md):

- fp32: MKL's `F.linear` and oneDNN with a pre-packed weight both reach the machine's fp32
  peak (~340 GFLOP/s) on BERT-sized products; oneDNN also fuses the bias, the GELU and the
  residual add into the product's epilogue, so it saves a pass over memory per fusion.
  A product of a few rows (one short text) is different: it reads every weight once for a
  handful of multiply-adds, so it is bound by memory bandwidth, and there MKL's `addmm` over
  the weight stored transposed, (in, out), is faster than oneDNN's packed layout - for
  weights of up to ~1M elements (time packed / addmm at 8 rows, one thread: 1.2-1.8 for
  MiniLM's four products and bert-base's 768x768), and for a single row whatever the size
  (1.16-1.79), but not for bert-base's larger products from 4 rows on (0.58-0.87). From 16
  to 64 rows the bare products are even on MiniLM (packed / addmm 0.89-1.21, warm, AMX
  machine), but oneDNN's fused GELU makes the feed-forward's first product 1.2x faster at 32
  rows; `addmm` would save only oneDNN's one-off kernel for each new row count (~70 us a
  product; 64 rows through addmm left `bertkit bench`'s cold batch-1 p50 unchanged, 9.1 ms).
  Products of up to `FEW_ROWS` rows take that path (one row for larger weights), from a
  second copy of the weight made the first time one is seen.
- bf16: on a CPU with AMX oneDNN runs bf16 products on the tile units, 4-8x its fp32 rate
  (800-1700 against 190-250 GFLOP/s). Without AMX its avx512_core_bf16 kernel reaches only
  about half the fp32 rate (`vdpbf16ps` issues on one port where fp32 FMAs issue on two):
  there bf16 is a memory saving, not a speed-up.
- int8: dynamic quantisation - symmetric per-output-channel int8 weights, activations
  quantised per call and per row: each token row is divided by its own max |x| before the
  product and its result multiplied back, so one per-tensor activation scale serves every row
  at full resolution (in BERT-family models the [CLS] row carries activations ~10x the others,
  which would otherwise take most of the range). Products run on oneDNN's VNNI kernels, and
  products of few rows on fbgemm's where the CPU has AVX512-VNNI (elsewhere fbgemm's kernels
  saturate at 16 bits unless activations keep 7): `python benchmarks/int8_engines.py`, 6
  MiniLM layers on 2 threads, ms fbgemm / oneDNN: 0.66 / 0.99 at 1 row, 1.00 / 1.29 at 16,
  equal at 64, 40.0 / 35.9 at 1536; 12 bert-base layers: 3.9 / 4.8 at 8 rows, 10.4 / 10.2 at
  32. A product fed by a LayerNorm also takes `smoothing` (SmoothQuant, Xiao et al. 2023): a
  few hidden channels of BERT-family activations are 10-100x the others, and one per-row scale
  leaves the rest few bits, so input channel j is divided by s_j and weight column j
  multiplied by it (the product is unchanged), which moves the outliers into the weights,
  quantised per output channel.

On other CPUs (`cpu.py` says which; `bertkit info` prints it): without oneDNN's bf16 kernels
(AVX-512 BW/VL/DQ or AVX-NE-CONVERT) bf16 keeps bf16 weights and widens them to float32 for
each product, activations float32; without AVX512-VNNI int8 keeps int8 weights and does the
same, since the CPU's int8 products sum u8 x s8 pairs in 16 bits: exact only with 7-bit
activations, which cost the accuracy guard (worst cosine 0.981 on the SMS messages against
0.99; `cpu.Cpu.int8_products`). Passes of few tokens take the fused C layer in every case
(`few_rows.py`), whose int8 sums are exact on every build.

On CUDA every precision runs plain `F.linear` in the weight's dtype (cuBLAS packs nothing).
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F

from bertkit.inference import cpu
from bertkit.modeling.feed_forward import ACTIVATIONS

PRECISIONS = ("fp32", "bf16", "int8")


def resolve_precision(precision: str, device: torch.device) -> str:
    """"auto" -> the fastest precision that keeps its accuracy guard here: bf16 on a GPU, on a
    CPU what `cpu.Cpu.auto_precision` measured; any other precision is returned as it is."""
    if precision != "auto":
        return precision
    return "bf16" if device.type == "cuda" else cpu.detect().auto_precision()


FEW_ROWS = 16  # fp32 products of at most this many rows use MKL on the (in, out) weight,
FEW_ROWS_LARGEST_WEIGHT = 1 << 20  # if the weight has at most this many elements; else 1 row
INT8_FEW_ROWS = 16  # int8 products of at most this many rows use fbgemm where it is exact

# activation name (config.json's `hidden_act`) -> oneDNN post-op (attr, algorithm); the
# others run after the product, as the model's own function.
_ONEDNN_ACTIVATIONS = {
    "gelu": ("gelu", "none"),  # erf form, as BERT's checkpoints define "gelu"
    "gelu_new": ("gelu", "tanh"),
    "gelu_pytorch_tanh": ("gelu", "tanh"),
    "relu": ("relu", ""),
}


def onednn_available() -> bool:
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


def int8_engine(few_rows: bool = False) -> str | None:
    """The quantized engine for dynamic int8 products (of at most `INT8_FEW_ROWS` rows if
    `few_rows`), keeping 8-bit activations exactly, so only on CPUs with AVX512-VNNI: oneDNN,
    and fbgemm for few rows. None: no engine for that case (few rows then take the main
    engine; without VNNI int8 products are not run at all, see `PackedLinear`)."""
    if not cpu.detect().int8_products:
        return None
    engines = torch.backends.quantized.supported_engines
    if few_rows:
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
    """y = act(x @ W.T + b) (+ residual), with W packed once for `precision` on `device`.

    x is (T, in_features) - tokens already unpadded - and y is (T, out_features).
    """

    def __init__(
        self,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        precision: str,
        device: torch.device,
        activation: str | None = None,
        smoothing: torch.Tensor | None = None,
        few_rows: bool = True,
    ):
        """`smoothing`: int8 only, (in_features,) factors s; computes (x / s) @ (W * s).T.
        `few_rows`: prepare the paths for products of few rows (fp32: MKL on an (in, out)
        copy; int8: fbgemm's packing); False where something else computes such passes (the
        engine's C layer, `few_rows.py`), so no copy is kept for them."""
        self.out_features, self.in_features = weight.shape
        self.activation = activation
        self._act = ACTIVATIONS[activation] if activation else None  # the model's own functions
        weight = weight.detach().float()
        bias = None if bias is None else bias.detach().float()
        self.kind = self._choose_kind(precision, device)
        self._unsmooth = None
        self._few_rows = 0  # fp32 on CPU: rows up to which a product takes the (in, out) path
        self._weight_t = self._source = None
        if precision == "int8" and smoothing is not None:
            weight = weight * smoothing[None, :]
            self._unsmooth = (1.0 / smoothing).to(device)
        if self.kind == "int8":
            self._pack_int8(weight, bias, few_rows)
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
            if self.kind == "onednn" and dtype == torch.float32 and few_rows:
                self._few_rows = FEW_ROWS if weight.numel() <= FEW_ROWS_LARGEST_WEIGHT else 1
                self._source = weight
            if self.kind == "onednn":
                # The batch size only hints the packing layout; any row count works afterwards.
                self.weight = torch.ops.mkldnn._reorder_linear_weight(self.weight, 512)

    @staticmethod
    def _choose_kind(precision: str, device: torch.device) -> str:
        """"widened": bf16 or int8 on a CPU without exact products of that kind (`cpu.py`):
        the weights are kept bf16 / int8 (half / a quarter of the memory) and widened to
        float32 for each product, whose cost that adds only to products of few rows (0.3-0.6
        ms for a BERT-base-sized weight at 80 rows, lost in the product from ~500 rows; few
        tokens take the C layer instead), so the numbers are the stored weights' own."""
        if device.type != "cpu":
            return "plain"
        features = cpu.detect()
        if precision == "int8":
            return "int8" if features.int8_products else "widened"
        if precision == "bf16" and not features.bf16_products:
            return "widened"
        return "onednn" if onednn_available() else "plain"

    def _pack_int8(self, weight: torch.Tensor, bias: torch.Tensor | None, few_rows: bool) -> None:
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
        small = int8_engine(few_rows=True) if few_rows else None
        self._few_rows_packed = None if small in (None, engine) else self._prepack(qweight, small)
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
        if x.shape[0] <= self._few_rows:
            y = self._small_product(x)
        elif self.kind == "onednn":
            if residual is not None and self._act is None:
                return torch.ops.mkldnn._linear_pointwise.binary(x, residual, self.weight, self.bias, "add")
            if self._act is not None and self.activation in _ONEDNN_ACTIVATIONS:
                attr, algorithm = _ONEDNN_ACTIVATIONS[self.activation]
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

    def _small_product(self, x: torch.Tensor) -> torch.Tensor:  # x @ W.T + b through MKL, (in, out) weight
        if self._weight_t is None:
            self._weight_t, self._source = self._source.t().contiguous(), None
        return torch.addmm(self.bias, x, self._weight_t) if self.bias is not None else x @ self._weight_t

    def _int8(self, x: torch.Tensor) -> torch.Tensor:  # per-row scales, see the module's docstring
        if self._unsmooth is not None:
            x = x * self._unsmooth
        # max |x| of each row. Many rows: amax and amin read x twice but are ~2x faster than
        # abs().amax(), which writes a copy, and ~10x faster than a norm or aminmax (measured,
        # 1500 x 1536); few rows: abs().amax(), fewer calls (4 against 7 us at 7 x 384).
        if x.shape[0] <= INT8_FEW_ROWS:
            rows = x.abs().amax(dim=1, keepdim=True)
        else:
            rows = torch.maximum(x.amax(dim=1, keepdim=True), x.amin(dim=1, keepdim=True).neg_())
        rows.clamp_min_(1e-12)  # a row of zeros stays zero
        packed = self.packed
        if self._few_rows_packed is not None and x.shape[0] <= INT8_FEW_ROWS:
            packed = self._few_rows_packed
        y = torch.ops.quantized.linear_dynamic(x / rows, packed, False)  # exact 8-bit: VNNI
        return y.mul_(rows) if self.bias is None else torch.addcmul(self.bias, y, rows)
