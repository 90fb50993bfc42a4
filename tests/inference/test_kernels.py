"""bertkit/inference/kernels.py: PackedLinear's paths per precision, device and row count
compute the same products; which activations oneDNN fuses."""

import pytest
import torch
from test_engine import MODELS, batch, reference

from bertkit.inference import FastEncoder, cpu, kernels
from bertkit.modeling.activations import ACTIVATIONS

pytestmark = pytest.mark.emulated  # also run on an emulated AVX2-only CPU (make test-emulated)


@pytest.mark.parametrize("activation", [None, "gelu", "silu"])
def test_small_products_on_the_transposed_weight_equal_the_packed_products(activation):
    """At most TRANSPOSED_WEIGHT_ROWS rows take MKL on the (in, out) weight; more take oneDNN's packed one."""
    generator = torch.Generator().manual_seed(0)
    weight, bias = torch.randn(48, 32, generator=generator), torch.randn(48, generator=generator)
    x, residual = torch.randn(40, 32, generator=generator), torch.randn(40, 48, generator=generator)
    linear = kernels.PackedLinear(weight, bias, "fp32", torch.device("cpu"), activation=activation)
    few = kernels.TRANSPOSED_WEIGHT_ROWS
    for rows in (1, few):
        assert linear._weight_t is None or rows > 1  # made when first needed
        torch.testing.assert_close(linear(x[:rows]), linear(x)[:rows], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(
            linear(x[:rows], residual=residual[:rows]), linear(x, residual=residual)[:rows], atol=1e-5, rtol=1e-5
        )
    assert linear._weight_t.shape == (32, 48)
    expected = torch.nn.functional.linear(x[: few + 1], weight, bias)
    if activation:
        expected = ACTIVATIONS[activation].function(expected)
    torch.testing.assert_close(linear(x[: few + 1]), expected, atol=1e-5, rtol=1e-5)  # packed path


def test_large_weights_take_the_transposed_path_for_one_row_only(monkeypatch):
    monkeypatch.setattr(kernels, "TRANSPOSED_WEIGHT_MAX_ELEMENTS", 48 * 32 - 1)  # this weight is "large"
    generator = torch.Generator().manual_seed(1)
    weight, bias, x = torch.randn(48, 32, generator=generator), torch.randn(48), torch.randn(8, 32)
    linear = kernels.PackedLinear(weight, bias, "fp32", torch.device("cpu"))
    linear(x[:4])
    assert linear._weight_t is None  # 4 rows: packed
    expected = torch.nn.functional.linear(x, weight, bias)
    torch.testing.assert_close(linear(x[:1]), expected[:1], atol=1e-5, rtol=1e-5)
    assert linear._weight_t is not None  # 1 row: transposed
    assert kernels.PackedLinear(weight, bias, "int8", torch.device("cpu"))._transposed_rows == 0


def test_int8_rows_keep_their_own_scale_beside_a_row_of_large_activations():
    """The [CLS] row of BERT-family models is ~10x the others: with one scale for the whole
    batch the other rows would keep ~4 bits; per-row scales keep every row's error small."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(16, 64, generator=generator)
    x[0] *= 30
    weight, bias = torch.randn(96, 64, generator=generator) * 0.1, torch.randn(96, generator=generator)
    exact = torch.nn.functional.linear(x, weight, bias)
    got = kernels.PackedLinear(weight, bias, "int8", torch.device("cpu"))(x)
    per_row = ((got - exact).norm(dim=1) / exact.norm(dim=1)).max().item()
    assert per_row < 0.02, per_row
    zero = kernels.PackedLinear(weight, None, "int8", torch.device("cpu"))(torch.zeros(2, 64))
    assert torch.equal(zero, torch.zeros(2, 96))  # an all-zero row stays zero, no division by 0


@pytest.mark.parametrize("acting_as", ["native", "avx2", "generic"])
def test_int8_products_are_exact_8_bit_or_widened_weights(cpu_class, acting_as):
    """On VNNI: oneDNN for every product, fbgemm for few rows, 8-bit activations kept exactly.
    Without VNNI no int8 product is run (they saturate or keep 7 bits): the int8 weights are
    widened to float32, so the product is exactly x @ dequantised(W).T."""
    features = cpu_class(acting_as)
    vnni = features.int8_products
    engines = torch.backends.quantized.supported_engines
    if vnni:
        assert kernels.int8_engine() == "onednn" if "onednn" in engines else kernels.int8_engine() in engines
        assert kernels.int8_engine(small_products=True) in ("fbgemm", "x86")
    else:
        assert kernels.int8_engine() is None and kernels.int8_engine(small_products=True) is None
    generator = torch.Generator().manual_seed(0)
    weight, bias = torch.randn(48, 32, generator=generator) * 0.2, torch.randn(48, generator=generator)
    linear = kernels.PackedLinear(weight, bias, "int8", torch.device("cpu"))
    assert linear.kind == ("int8" if vnni else "widened")
    x = torch.randn(40, 32, generator=generator)
    exact = torch.nn.functional.linear(x, weight, bias)
    for rows in (1, kernels.FBGEMM_ROWS, 40):  # fbgemm's rows and the main engine's agree
        torch.testing.assert_close(linear(x[:rows]), exact[:rows], atol=0.05, rtol=0.05)
    if not vnni:
        assert linear.weight.dtype == torch.int8  # a quarter of the memory
        scale = weight.abs().amax(dim=1, keepdim=True) / 127
        dequantised = torch.round(weight / scale).clamp(-127, 127) * scale
        torch.testing.assert_close(linear(x), torch.nn.functional.linear(x, dequantised, bias), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("acting_as", ["native", "avx2", "generic"])
def test_bf16_without_bf16_products_keeps_bf16_weights_and_float32_activations(cpu_class, acting_as):
    """No oneDNN bf16 call on a CPU that cannot run it: bf16 weights (half the memory), widened
    to float32 for each product, so the numbers are the bf16 weights' own, to float32 rounding."""
    features = cpu_class(acting_as)
    generator = torch.Generator().manual_seed(0)
    weight, bias = torch.randn(48, 32, generator=generator) * 0.2, torch.randn(48, generator=generator)
    linear = kernels.PackedLinear(weight, bias, "bf16", torch.device("cpu"), activation="gelu")
    x = torch.randn(40, 32, generator=generator)
    if features.bf16_products:
        assert linear.kind == "onednn" and kernels.compute_dtype("bf16", torch.device("cpu")) == torch.bfloat16
        return
    assert linear.kind == "widened" and linear.weight.dtype == torch.bfloat16
    assert kernels.compute_dtype("bf16", torch.device("cpu")) == torch.float32
    expected = torch.nn.functional.gelu(torch.nn.functional.linear(x, weight.bfloat16().float(), bias))
    torch.testing.assert_close(linear(x), expected, atol=1e-5, rtol=1e-5)
    model = MODELS["bert"]()
    ids, mask, types = batch([6, 3, 10])
    fast = FastEncoder(model, precision="bf16", device="cpu")
    assert fast.dtype == torch.float32
    real = mask.bool()
    cosine = torch.nn.functional.cosine_similarity(
        fast(ids, mask, types).sequence[real], reference(model, ids, mask, types).sequence[real]
    )
    assert cosine.min() > 0.999


def test_kernel_choice_per_device():
    cpu_device, cuda = torch.device("cpu"), torch.device("cuda")
    assert kernels.PackedLinear._choose_kind("bf16", cuda) == "plain"
    assert kernels.PackedLinear._choose_kind("fp32", cuda) == "plain"
    vnni = cpu.detect().int8_products
    assert kernels.PackedLinear._choose_kind("int8", cpu_device) == ("int8" if vnni else "widened")
    assert kernels.compute_dtype("bf16", cuda) == torch.bfloat16
    assert kernels.compute_dtype("int8", cpu_device) == torch.float32


def test_onednn_fuses_the_activations_whose_form_it_knows():
    """The post-op comes from the activation's form in the one table; the others (gelu_fast,
    SiLU, tanh) run after the product as the model's own function."""
    weight, bias = torch.randn(48, 32), torch.randn(48)
    post_ops = {name: kernels.PackedLinear(weight, bias, "fp32", torch.device("cpu"), activation=name)._post_op
                for name in ACTIVATIONS}  # fmt: skip
    assert post_ops == {"gelu": ("gelu", "none"), "gelu_new": ("gelu", "tanh"), "gelu_pytorch_tanh": ("gelu", "tanh"),
                        "relu": ("relu", ""), "gelu_fast": None, "silu": None, "swish": None, "tanh": None}  # fmt: skip
