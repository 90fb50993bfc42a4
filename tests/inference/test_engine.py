"""bertkit/inference/engine.py: the fast forward pass computes what the backbone computes.

Tiny random models of each family member, padded and unpadded batches, every output
(sequence, per-layer states, pooled) and every pooling; fp32 to 1e-5 of the backbone.
The accuracy guards of bf16 and int8 on the real bundled model are in test_accuracy.py.
"""

import pytest
import torch

from bertkit.errors import BertkitError
from bertkit.inference import FastEncoder, engine, kernels
from bertkit.inference import layer as layer_module
from bertkit.modeling.bert import BertModel
from bertkit.modeling.config import BertConfig
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
    "lengths", [[7, 3, 12, 1], [9, 9, 9], [5, 2], [6]], ids=["padded", "unpadded", "short-padded", "one-short-text"]
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
    lengths = mask.sum(1)
    positions = torch.arange(1, mask.shape[1] + 1)[None, :, None] * weights  # sentence-transformers': 1..n
    expected = {
        "cls": ref.sequence[:, 0],
        "mean": (ref.sequence * weights).sum(1) / weights.sum(1),
        "pooled": ref.pooled,
        "max": ref.sequence.masked_fill(weights == 0, float("-inf")).amax(1),
        "mean_sqrt_len_tokens": (ref.sequence * weights).sum(1) / weights.sum(1).sqrt(),
        "weightedmean": (ref.sequence * positions).sum(1) / positions.sum(1),
        "lasttoken": ref.sequence[torch.arange(len(lengths)), lengths - 1],
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
    monkeypatch.setattr(
        engine, "compute_dtype", lambda precision, device: torch.bfloat16 if precision == "bf16" else torch.float32
    )
    monkeypatch.setattr(layer_module, "compute_dtype", engine.compute_dtype)
    monkeypatch.setattr(kernels, "compute_dtype", engine.compute_dtype)
    bf16 = FastEncoder(model, precision="bf16", device="cpu")
    assert bf16.layers[0].inner.weight.dtype == torch.bfloat16
    cosine = torch.nn.functional.cosine_similarity(bf16(ids, mask, types).sequence[real], packed.sequence[real])
    assert cosine.min() > 0.999


def test_user_errors_are_bertkit_errors():
    model = MODELS["bert"]()
    with pytest.raises(BertkitError, match="precision"):
        FastEncoder(model, precision="fp8")
    with pytest.raises(BertkitError, match="pooling"):
        FastEncoder(model).embed(torch.tensor([[5, 6]]), torch.ones(1, 2, dtype=torch.long), pooling="maximum")
    with pytest.raises(BertkitError, match="no pooler"):
        FastEncoder(_no_pooler(model)).embed(
            torch.tensor([[5, 6]]), torch.ones(1, 2, dtype=torch.long), pooling="pooled"
        )


def _no_pooler(model):
    model.pooler = None
    return model


def test_docstring_examples_run():
    import doctest

    from bertkit.inference import engine, peak, threads

    for module in (engine, peak, threads):
        assert doctest.testmod(module).failed == 0, module.__name__
