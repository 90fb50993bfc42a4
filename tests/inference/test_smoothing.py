"""bertkit/inference/smoothing.py: SmoothQuant's calibration and factors for int8."""

import pytest
import torch
from test_engine import MODELS

from bertkit.inference import cpu, kernels
from bertkit.inference.smoothing import input_maxima, smoothing_factors

pytestmark = pytest.mark.emulated  # also run on an emulated AVX2-only CPU (make test-emulated)


@pytest.mark.skipif(
    not cpu.detect().int8_products,
    reason="int8 products of any size need AVX512-VNNI; "
    "the C layer's int8 smoothing is tested on every CPU in test_fused_layer.py",
)
def test_smoothing_keeps_the_product_and_shrinks_int8_error_on_outlier_channels():
    """SmoothQuant: (x / s) @ (W * s).T = x @ W.T; with a few 50x channels int8 loses far less."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(256, 64, generator=generator)
    x[:, [3, 17]] *= 50  # the outlier channels BERT-family LayerNorm outputs have
    weight, bias = torch.randn(96, 64, generator=generator) * 0.1, torch.randn(96, generator=generator)
    exact = torch.nn.functional.linear(x, weight, bias)
    cpu = torch.device("cpu")
    factors = smoothing_factors(x.abs().amax(dim=0), weight)
    assert factors[3] > 5 * factors.median()  # the outliers are divided down
    plain = kernels.PackedLinear(weight, bias, "int8", cpu)(x)
    smoothed = kernels.PackedLinear(weight, bias, "int8", cpu, smoothing=factors)(x)
    error = lambda y: ((y - exact).norm() / exact.norm()).item()  # noqa: E731
    assert error(smoothed) < 0.02 and error(smoothed) < error(plain) / 3
    fp32 = kernels.PackedLinear(weight, bias, "fp32", cpu, smoothing=factors)  # int8 only: ignored
    torch.testing.assert_close(fp32(x), exact, atol=1e-4, rtol=1e-4)


def test_int8_calibration_leaves_the_model_as_it_was():
    model = MODELS["bert"]().train()
    before = {name: p.clone() for name, p in model.state_dict().items()}
    maxima = input_maxima(model)
    assert len(maxima) == 2 and all(m.shape == (32,) and (m > 0).all() for pair in maxima for m in pair)
    assert model.training and all(not m._forward_pre_hooks for m in model.modules())
    assert all(torch.equal(before[name], p) for name, p in model.state_dict().items())
    assert all(torch.equal(a, b) for a, b in zip(maxima[0], input_maxima(model)[0]))  # seeded
