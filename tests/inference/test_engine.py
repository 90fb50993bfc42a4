"""bertkit/inference/engine.py: the fast forward pass computes what the backbone computes.

Tiny random models of each family member, padded and unpadded batches, every output
(sequence, per-layer states, pooled) and every pooling; fp32 to 1e-5 of the backbone.
The accuracy guards of bf16 and int8 on the real bundled model are in test_accuracy.py.
"""

import pytest
import torch

from bertkit.config import BertConfig
from bertkit.errors import BertkitError
from bertkit.inference import FastEncoder
from bertkit.inference import cpu, engine, kernels
from bertkit.inference.engine import _Layout
from bertkit.modeling.bert import BertModel
from bertkit.modeling.distilbert import DistilBertModel
from bertkit.modeling.roberta import RobertaModel

pytestmark = pytest.mark.emulated  # also run on an emulated AVX2-only CPU (make test-emulated)

SMALL = {"vocab_size": 100, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
         "intermediate_size": 64, "max_position_embeddings": 40}  # fmt: skip
MODELS = {
    "bert": lambda: BertModel(BertConfig.from_dict({"model_type": "bert", **SMALL})),
    "bert-gelu_new": lambda: BertModel(BertConfig.from_dict({"model_type": "bert", "hidden_act": "gelu_new", **SMALL})),
    "bert-silu": lambda: BertModel(BertConfig.from_dict({"model_type": "bert", "hidden_act": "silu", **SMALL})),
    "roberta": lambda: RobertaModel(BertConfig.from_dict({"model_type": "roberta", **SMALL})),
    "distilbert": lambda: DistilBertModel(
        BertConfig.from_dict({"model_type": "distilbert", "vocab_size": 100, "dim": 32, "n_layers": 2,
                              "n_heads": 4, "hidden_dim": 64, "max_position_embeddings": 40})
    ),
}  # fmt: skip


def batch(lengths, seed=0, pad_id=0):
    generator = torch.Generator().manual_seed(seed)
    longest = max(lengths)
    mask = (torch.arange(longest)[None] < torch.tensor(lengths)[:, None]).long()
    ids = torch.randint(3, 100, (len(lengths), longest), generator=generator)
    ids = ids * mask + pad_id * (1 - mask)
    types = torch.randint(0, 2, ids.shape, generator=generator) * mask
    return ids, mask, types


def model_and_batch(name, lengths):
    """A seeded tiny model of family `name` and a batch of `lengths` (no type ids where it has none)."""
    torch.manual_seed(0)
    model = MODELS[name]()
    ids, mask, types = batch(lengths, pad_id=model.config.pad_token_id)
    if model.config.type_vocab_size < 2:
        types = torch.zeros_like(ids)
    return model, ids, mask, types


def reference(model, ids, mask, types):
    with torch.no_grad():
        return model.eval()(ids, mask, types)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize(
    "lengths", [[7, 3, 12, 1], [9, 9, 9], [5, 2], [6]], ids=["padded", "unpadded", "few-rows-padded", "one-short-text"]
)
def test_fp32_outputs_match_the_backbone(name, lengths):
    model, ids, mask, types = model_and_batch(name, lengths)
    ref = reference(model, ids, mask, types)
    out = FastEncoder(model, precision="fp32", device="cpu")(ids, mask, types, all_layers=True)
    real = mask.bool()
    torch.testing.assert_close(out.sequence[real], ref.sequence[real], atol=1e-5, rtol=1e-5)
    assert len(out.layers) == len(ref.layers)
    for ours, theirs in zip(out.layers, ref.layers):
        torch.testing.assert_close(ours[real], theirs[real], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.pooled, ref.pooled, atol=1e-5, rtol=1e-5)
    assert (out.sequence[~real] == 0).all()


@pytest.mark.parametrize("precision", ["fp32", "bf16", "int8"])
def test_every_pooling_matches_the_backbone(precision):
    torch.manual_seed(0)
    model = MODELS["bert"]()
    ids, mask, types = batch([5, 11, 2, 8])
    ref = reference(model, ids, mask, types)
    fast = FastEncoder(model, precision=precision, device="cpu")
    weights = mask[..., None].float()
    expected = {
        "cls": ref.sequence[:, 0],
        "mean": (ref.sequence * weights).sum(1) / weights.sum(1),
        "pooled": ref.pooled,
    }
    tolerance = 1e-5 if precision == "fp32" else 0.999
    for pooling, want in expected.items():
        got = fast.embed(ids, mask, types, pooling=pooling)
        assert got.dtype == torch.float32 and got.shape == want.shape
        if precision == "fp32":
            torch.testing.assert_close(got, want, atol=tolerance, rtol=tolerance)
        else:
            assert torch.nn.functional.cosine_similarity(got, want).min() >= tolerance


def test_embed_many_returns_input_order_and_matches_one_batch():
    torch.manual_seed(0)
    model = MODELS["bert"]()
    fast = FastEncoder(model, device="cpu")
    generator = torch.Generator().manual_seed(1)
    texts = [torch.randint(3, 100, (n,), generator=generator).tolist() for n in [4, 30, 2, 17, 9, 30, 1]]
    many = fast.embed_many(texts, pooling="mean", batch_size=3)
    for i, ids in enumerate(texts):
        one = fast.embed(torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long), pooling="mean")
        torch.testing.assert_close(many[i], one[0], atol=1e-5, rtol=1e-5)
    assert fast.embed_many([]).shape[0] == 0


def test_layout_gathers_pools_and_scatters_the_real_tokens():
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1], [1, 0, 0, 0]])
    x = torch.randn(3, 4, 6)
    layout = _Layout.from_mask(mask)
    assert layout.tokens == 8 and layout.token_index.tolist() == [0, 1, 2, 4, 5, 6, 7, 8]
    tokens = layout.gather(x)  # (T, 6)
    assert tokens.shape == (8, 6)
    torch.testing.assert_close(layout.first_tokens(tokens), x[:, 0])
    torch.testing.assert_close(layout.means(tokens), (x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True))
    torch.testing.assert_close(layout.scatter(tokens), x * mask[..., None])
    full = _Layout.from_mask(torch.ones(2, 3, dtype=torch.long))  # no padding: views, no index
    assert full.token_index is None and full.attend is None and full.tokens == 6


def test_the_device_agnostic_path_matches(monkeypatch):
    """What runs on CUDA (plain F.linear in the weight's dtype) computes the same on CPU."""
    torch.manual_seed(0)
    model = MODELS["bert"]()
    ids, mask, types = batch([6, 3, 10])
    packed = FastEncoder(model, precision="fp32", device="cpu")(ids, mask, types)
    monkeypatch.setattr(kernels.PackedLinear, "_choose_kind", staticmethod(lambda precision, device: "plain"))
    plain = FastEncoder(model, precision="fp32", device="cpu")
    assert plain.layers[0].inner.kind == "plain"
    out = plain(ids, mask, types)
    real = mask.bool()
    torch.testing.assert_close(out.sequence[real], packed.sequence[real], atol=1e-5, rtol=1e-5)
    # bf16 activations, as on CUDA (on a CPU without bf16 products PyTorch's own kernels run them)
    monkeypatch.setattr(engine, "compute_dtype", lambda precision, device: torch.bfloat16 if precision == "bf16" else torch.float32)
    monkeypatch.setattr(kernels, "compute_dtype", engine.compute_dtype)
    bf16 = FastEncoder(model, precision="bf16", device="cpu")
    assert bf16.layers[0].inner.weight.dtype == torch.bfloat16
    cosine = torch.nn.functional.cosine_similarity(bf16(ids, mask, types).sequence[real], packed.sequence[real])
    assert cosine.min() > 0.999


@pytest.mark.parametrize("activation", [None, "gelu", "silu"])
def test_products_of_few_rows_equal_the_packed_products(activation):
    """At most FEW_ROWS rows take MKL on the (in, out) weight; more take oneDNN's packed one."""
    generator = torch.Generator().manual_seed(0)
    weight, bias = torch.randn(48, 32, generator=generator), torch.randn(48, generator=generator)
    x, residual = torch.randn(40, 32, generator=generator), torch.randn(40, 48, generator=generator)
    linear = kernels.PackedLinear(weight, bias, "fp32", torch.device("cpu"), activation=activation)
    few = kernels.FEW_ROWS
    for rows in (1, few):
        assert linear._weight_t is None or rows > 1  # made when first needed
        torch.testing.assert_close(linear(x[:rows]), linear(x)[:rows], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(
            linear(x[:rows], residual=residual[:rows]), linear(x, residual=residual)[:rows], atol=1e-5, rtol=1e-5
        )
    assert linear._weight_t.shape == (32, 48)
    expected = torch.nn.functional.linear(x[:few + 1], weight, bias)
    if activation:
        expected = kernels.ACTIVATIONS[activation](expected)
    torch.testing.assert_close(linear(x[:few + 1]), expected, atol=1e-5, rtol=1e-5)  # packed path


def test_large_weights_take_the_transposed_path_for_one_row_only(monkeypatch):
    monkeypatch.setattr(kernels, "FEW_ROWS_LARGEST_WEIGHT", 48 * 32 - 1)  # this weight is "large"
    generator = torch.Generator().manual_seed(1)
    weight, bias, x = torch.randn(48, 32, generator=generator), torch.randn(48), torch.randn(8, 32)
    linear = kernels.PackedLinear(weight, bias, "fp32", torch.device("cpu"))
    linear(x[:4])
    assert linear._weight_t is None  # 4 rows: packed
    expected = torch.nn.functional.linear(x, weight, bias)
    torch.testing.assert_close(linear(x[:1]), expected[:1], atol=1e-5, rtol=1e-5)
    assert linear._weight_t is not None  # 1 row: transposed
    assert kernels.PackedLinear(weight, bias, "int8", torch.device("cpu"))._few_rows == 0


@pytest.mark.skipif(not cpu.detect().int8_products, reason="int8 products of any size need AVX512-VNNI; "
                    "the C layer's int8 smoothing is tested on every CPU in test_few_rows.py")
def test_smoothing_keeps_the_product_and_shrinks_int8_error_on_outlier_channels():
    """SmoothQuant: (x / s) @ (W * s).T = x @ W.T; with a few 50x channels int8 loses far less."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(256, 64, generator=generator)
    x[:, [3, 17]] *= 50  # the outlier channels BERT-family LayerNorm outputs have
    weight, bias = torch.randn(96, 64, generator=generator) * 0.1, torch.randn(96, generator=generator)
    exact = torch.nn.functional.linear(x, weight, bias)
    cpu = torch.device("cpu")
    factors = engine.smoothing_factors(x.abs().amax(dim=0), weight)
    assert factors[3] > 5 * factors.median()  # the outliers are divided down
    plain = kernels.PackedLinear(weight, bias, "int8", cpu)(x)
    smoothed = kernels.PackedLinear(weight, bias, "int8", cpu, smoothing=factors)(x)
    error = lambda y: ((y - exact).norm() / exact.norm()).item()  # noqa: E731
    assert error(smoothed) < 0.02 and error(smoothed) < error(plain) / 3
    fp32 = kernels.PackedLinear(weight, bias, "fp32", cpu, smoothing=factors)  # int8 only: ignored
    torch.testing.assert_close(fp32(x), exact, atol=1e-4, rtol=1e-4)


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
        assert kernels.int8_engine(few_rows=True) in ("fbgemm", "x86")
    else:
        assert kernels.int8_engine() is None and kernels.int8_engine(few_rows=True) is None
    generator = torch.Generator().manual_seed(0)
    weight, bias = torch.randn(48, 32, generator=generator) * 0.2, torch.randn(48, generator=generator)
    linear = kernels.PackedLinear(weight, bias, "int8", torch.device("cpu"))
    assert linear.kind == ("int8" if vnni else "widened")
    x = torch.randn(40, 32, generator=generator)
    exact = torch.nn.functional.linear(x, weight, bias)
    for rows in (1, kernels.INT8_FEW_ROWS, 40):  # the few-rows engine and the main one agree
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
    cosine = torch.nn.functional.cosine_similarity(fast(ids, mask, types).sequence[real], reference(model, ids, mask, types).sequence[real])
    assert cosine.min() > 0.999


def _stand_in_varlen_attn(q, k, v, cu_q, cu_k, max_q, max_k):
    """What flash attention over packed texts computes, text by text (the kernel is CUDA-only)."""
    assert cu_q.dtype == torch.int32 and cu_q.tolist() == cu_k.tolist() and max_q == max_k
    assert max_q == max(b - a for a, b in zip(cu_q.tolist(), cu_q.tolist()[1:]))
    out = torch.empty_like(q)
    for start, end in zip(cu_q.tolist(), cu_q.tolist()[1:]):
        part = [t[start:end].transpose(0, 1) for t in (q, k, v)]  # (heads, n, d)
        out[start:end] = torch.nn.functional.scaled_dot_product_attention(*part).transpose(0, 1)
    return out


@pytest.mark.parametrize("name", ["bert", "distilbert"])
@pytest.mark.parametrize("lengths", [[7, 3, 12, 1], [9, 9, 9]], ids=["padded", "unpadded"])
def test_packed_attention_path_matches_the_backbone(monkeypatch, name, lengths):
    """The GPU's varlen attention path (offsets, packing, head split) with a stand-in kernel."""
    monkeypatch.setattr(engine, "varlen_attn", _stand_in_varlen_attn)
    model, ids, mask, types = model_and_batch(name, lengths)
    ref = reference(model, ids, mask, types)
    fast = FastEncoder(model, precision="fp32", device="cpu")
    for layer in fast.layers:
        layer.varlen = True
    out = fast(ids, mask, types)
    real = mask.bool()
    torch.testing.assert_close(out.sequence[real], ref.sequence[real], atol=1e-5, rtol=1e-5)
    if ref.pooled is not None:
        torch.testing.assert_close(out.pooled, ref.pooled, atol=1e-5, rtol=1e-5)


def test_packed_attention_is_chosen_for_cuda_half_precision_only(monkeypatch):
    monkeypatch.setattr(engine, "varlen_attn", _stand_in_varlen_attn)
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert engine.uses_varlen_attention(cuda, torch.bfloat16, 64)
    assert engine.uses_varlen_attention(cuda, torch.float16, 32)
    assert not engine.uses_varlen_attention(cuda, torch.float32, 64)  # fp32: SDPA over (B, S)
    assert not engine.uses_varlen_attention(cpu, torch.bfloat16, 64)
    assert not engine.uses_varlen_attention(cuda, torch.bfloat16, 12)  # flash needs d % 8 == 0
    monkeypatch.setattr(engine, "varlen_attn", None)  # an older PyTorch
    assert not engine.uses_varlen_attention(cuda, torch.bfloat16, 64)


def test_layout_offsets_and_first_tokens():
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1]])
    layout = _Layout.from_mask(mask)
    assert layout.offsets.tolist() == [0, 3, 4, 8] and layout.longest == 4 and layout.tokens == 8
    x = torch.arange(8.0)[:, None]
    assert layout.first_tokens(x).squeeze(1).tolist() == [0.0, 3.0, 4.0]


def test_int8_calibration_leaves_the_model_as_it_was():
    model = MODELS["bert"]().train()
    before = {name: p.clone() for name, p in model.state_dict().items()}
    maxima = engine.input_maxima(model)
    assert len(maxima) == 2 and all(m.shape == (32,) and (m > 0).all() for pair in maxima for m in pair)
    assert model.training and all(not m._forward_pre_hooks for m in model.modules())
    assert all(torch.equal(before[name], p) for name, p in model.state_dict().items())
    assert all(torch.equal(a, b) for a, b in zip(maxima[0], engine.input_maxima(model)[0]))  # seeded


def test_kernel_choice_per_device():
    cpu_device, cuda = torch.device("cpu"), torch.device("cuda")
    assert kernels.PackedLinear._choose_kind("bf16", cuda) == "plain"
    assert kernels.PackedLinear._choose_kind("fp32", cuda) == "plain"
    vnni = cpu.detect().int8_products
    assert kernels.PackedLinear._choose_kind("int8", cpu_device) == ("int8" if vnni else "widened")
    assert kernels.compute_dtype("bf16", cuda) == torch.bfloat16
    assert kernels.compute_dtype("int8", cpu_device) == torch.float32


def test_user_errors_are_bertkit_errors():
    model = MODELS["bert"]()
    with pytest.raises(BertkitError, match="precision"):
        FastEncoder(model, precision="fp8")
    with pytest.raises(BertkitError, match="pooling"):
        FastEncoder(model).embed(torch.tensor([[5, 6]]), torch.ones(1, 2, dtype=torch.long), pooling="max")
    with pytest.raises(BertkitError, match="no pooler"):
        FastEncoder(_no_pooler(model)).embed(torch.tensor([[5, 6]]), torch.ones(1, 2, dtype=torch.long), pooling="pooled")


def _no_pooler(model):
    model.pooler = None
    return model


def test_docstring_examples_run():
    import doctest

    from bertkit.inference import batching, engine, peak, threads

    for module in (engine, batching, peak, threads):
        assert doctest.testmod(module).failed == 0, module.__name__
