"""bertkit/inference/fused_layer.py: a whole layer in one C call for passes of few tokens.

The C layer against the engine's PyTorch layer on the same rows: fp32 to 1e-5; bf16 and int8
weights to 1e-5 of the PyTorch layer run on the same rounded weights (activations stay
float32, so the weights' rounding is the only difference); every row count it takes, several
texts in one pass, each activation; and what happens when it cannot be built or loaded.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bertkit.inference import FastEncoder, cpu, fused_layer
from bertkit.inference.layout import TokenLayout
from bertkit.modeling.activations import ACTIVATIONS
from bertkit.modeling.bert import BertModel
from bertkit.modeling.config import BertConfig

VARIANT = cpu.detect().c_layer_variant  # "avx512", "avx2" or None
needs_library = pytest.mark.skipif(VARIANT is None, reason="the C layer needs AVX-512F, or AVX2 and FMA")


def tiny_model(activation="gelu", hidden=64, heads=4, inner=128, layers=2, seed=0):
    torch.manual_seed(seed)
    config = BertConfig.from_dict({
        "model_type": "bert", "vocab_size": 100, "hidden_size": hidden, "num_hidden_layers": layers,
        "num_attention_heads": heads, "intermediate_size": inner, "max_position_embeddings": 40,
        "hidden_act": activation,
    })  # fmt: skip
    model = BertModel(config).eval()
    with torch.no_grad():  # LayerNorms away from their initial 1 and 0, so their weights count
        for name, parameter in model.named_parameters():
            if "norm" in name:
                parameter.add_(0.1 * torch.randn_like(parameter))
    return model


def rounded_like(model, precision):
    """A copy of `model` whose dense weights are what `precision` stores: bf16, or int8 with
    one symmetric scale per output row (the int8 codes fused_layer.py packs, without smoothing)."""
    copy = tiny_model(model.config.hidden_act, model.config.hidden_size, model.config.num_attention_heads,
                      model.config.intermediate_size, model.config.num_hidden_layers)  # fmt: skip
    copy.load_state_dict(model.state_dict())
    with torch.no_grad():
        for layer in copy.transformer.layers:
            a, f = layer.attention, layer.feed_forward
            products = [a.output, f.inner, f.outer]
            qkv = torch.cat([a.query.weight, a.key.weight, a.value.weight])
            if precision == "bf16":
                for p in (a.query, a.key, a.value, *products):
                    p.weight.copy_(p.weight.bfloat16().float())
            else:

                def int8(weight):
                    scale = (weight.abs().amax(dim=1, keepdim=True) / 127).clamp_min(1e-12)
                    return torch.round(weight / scale).clamp(-127, 127) * scale

                for p, w in zip((a.query, a.key, a.value), int8(qkv).split(a.query.weight.shape[0])):
                    p.weight.copy_(w)
                for p in products:
                    p.weight.copy_(int8(p.weight))
    return copy


def int8_product(x, weight, bias, smoothing):
    """What fused_layer.c's int8 product computes, in float32: x times 1/s (smoothing), each row
    rounded to 8 bits of its own max, against int8 weights (W * s) with one scale per row."""
    if smoothing is not None:
        x, weight = x * (1.0 / smoothing), weight * smoothing
    scale = (weight.abs().amax(dim=1, keepdim=True) / 127).clamp_min(1e-12)
    weight = torch.round(weight / scale).clamp(-127, 127) * scale
    rows = x.abs().amax(dim=1, keepdim=True) / 127
    rows[rows == 0] = 1
    x = torch.round(x * (1.0 / rows)).clamp(-127, 127) * rows
    return x @ weight.T + bias


def packing_inputs(layer, smoothing):
    """(linears, norms) of a model layer, as the engine hands them to FusedLayer."""
    a, f = layer.attention, layer.feed_forward
    qkv = torch.cat([a.query.weight, a.key.weight, a.value.weight]), torch.cat([a.query.bias, a.key.bias, a.value.bias])
    linears = [(*qkv, smoothing[0]), (a.output.weight, a.output.bias, None), (f.inner.weight, f.inner.bias, smoothing[1]),
               (f.outer.weight, f.outer.bias, None)]  # fmt: skip
    return linears, [(n.weight, n.bias, n.eps) for n in (layer.attention_norm, layer.output_norm)]


def bf16_product(x, weight, bias, smoothing):
    """What fused_layer.c's AMX product computes: x and the weights rounded to bfloat16, float32 sums."""
    return x.bfloat16().float() @ weight.bfloat16().float().T + bias


def emulated_layer(product, source, heads, activation, x, lengths):
    """One layer as fused_layer.c computes it with `product`, from an engine layer's packing inputs."""
    (qkv, qkv_bias, qkv_s), (out, out_bias, _), (inner, inner_bias, inner_s), (outer, outer_bias, _) = source[0]
    (w1, b1, eps1), (w2, b2, eps2) = source[1]
    hidden = x.shape[1]
    q, k, v = product(x, qkv, qkv_bias, qkv_s).split(hidden, dim=1)
    context = []
    for text in zip(*(t.split(lengths) for t in (q, k, v))):
        tq, tk, tv = (t.view(len(t), heads, -1).transpose(0, 1) for t in text)
        context.append(
            torch.nn.functional.scaled_dot_product_attention(tq, tk, tv).transpose(0, 1).reshape(len(tq[0]), hidden)
        )
    a = torch.nn.functional.layer_norm(product(torch.cat(context), out, out_bias, None) + x, (hidden,), w1, b1, eps1)
    h = ACTIVATIONS[activation].function(product(a, inner, inner_bias, inner_s))
    return torch.nn.functional.layer_norm(product(h, outer, outer_bias, None) + a, (hidden,), w2, b2, eps2)


def rounding_precisions():
    found = []
    if fused_layer.int8_supported():
        found.append(pytest.param("int8", int8_product, id=f"int8-{VARIANT}"))
    if fused_layer.amx_supported():
        found.append(pytest.param("bf16", bf16_product, id="bf16-amx"))
    return found or [pytest.param(None, None, marks=pytest.mark.skip(reason="no C layer on this CPU"))]


@pytest.mark.emulated
@needs_library
@pytest.mark.parametrize("activation", ["gelu", "gelu_new", "relu"])
@pytest.mark.parametrize("precision, product", rounding_precisions())
def test_c_layers_that_round_their_inputs_compute_that_rounding_exactly(precision, product, activation):
    """int8 (8-bit rows: VNNI, or 16-bit pairs on AVX2) and bf16 on AMX (bfloat16 rows) against `emulated_layer`, their
    float32 emulation. Rounding the inputs moves the result by ~1e-3 here; the C layer and the
    emulation agree to ~1e-6 (only an input within float rounding of a rounding boundary can
    differ, by one step)."""
    model = tiny_model(activation, layers=1)
    layer = FastEncoder(model, precision=precision, device="cpu").layers[0]
    source = packing_inputs(model.transformer.layers[0], layer.smoothing)
    if precision == "int8":
        assert all(s is not None for s in layer.smoothing)  # QKV and inner smoothed
    kernel = layer.c_layer
    assert kernel.kind == ("int8" if precision == "int8" else "bf16-amx")
    unrounded = FastEncoder(rounded_like(model, precision), device="cpu").layers[0]
    for lengths in ([1], [7], [16], [3, 9, 4], [30, 34]):
        x = 3 * torch.randn(sum(lengths), 64, generator=torch.Generator().manual_seed(len(lengths)))
        with torch.no_grad():
            expected = emulated_layer(product, source, layer.heads, activation, x, lengths)
        offsets = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32)
        with torch.inference_mode():
            found = kernel(x, offsets, torch.empty(kernel.workspace(len(x))), 2)
            weights_only = unrounded(x, TokenLayout.from_mask(texts(lengths)[1]))
        off = (found - expected).abs()
        assert (off > 1e-4).float().mean() < 0.01 and off.max() < 0.05, f"{off.max():.2e}"
        assert off.mean() < 1e-5 and 100 * off.mean() < (found - weights_only).abs().mean()


def texts(lengths, seed=0):
    generator = torch.Generator().manual_seed(seed)
    longest = max(lengths)
    mask = (torch.arange(longest)[None] < torch.tensor(lengths)[:, None]).long()
    ids = torch.randint(3, 100, (len(lengths), longest), generator=generator) * mask
    types = torch.randint(0, 2, ids.shape, generator=generator) * mask
    return ids, mask, types


def pytorch_path(model, precision="fp32"):
    engine = FastEncoder(model, precision=precision, device="cpu")
    engine.uses_c_layer = False
    return engine


@pytest.mark.emulated
@needs_library
def test_the_library_builds_and_is_used_on_this_machine():
    assert fused_layer.library() is not None, fused_layer.unavailable_reason()
    assert fused_layer.unavailable_reason() is None
    assert FastEncoder(tiny_model(), device="cpu").uses_c_layer


@pytest.mark.emulated
@needs_library
@pytest.mark.parametrize("activation", ["gelu", "gelu_new", "relu"])
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_c_layer_matches_the_pytorch_layer_on_the_weights_it_stores(precision, activation, monkeypatch):
    """bf16 weights widened to float32 FMAs (AMX off: its tiles also round the inputs, below)."""
    monkeypatch.setenv("BERTKIT_AMX", "0")
    model = tiny_model(activation)
    fast = FastEncoder(model, precision=precision, device="cpu")
    assert fast.uses_c_layer
    fast.c_layer_rows = fused_layer.MAX_ROWS  # the C layer at every length below, whatever the precision's limit
    reference = pytorch_path(model if precision == "fp32" else rounded_like(model, precision))
    for lengths in ([1], [5], [12], [13], [16], [3, 9, 4], [1, 1, 1, 1], [8, 8], [25], [40, 3, 2, 3]):
        ids, mask, types = texts(lengths)
        ours = fast(ids, mask, types, all_layers=True)
        theirs = reference(ids, mask, types, all_layers=True)
        real = mask.bool()
        for a, b in zip(ours.layers, theirs.layers):
            torch.testing.assert_close(a[real], b[real], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(ours.pooled, theirs.pooled, atol=1e-5, rtol=1e-5)
        assert (ours.sequence[~real] == 0).all()


@needs_library
@settings(max_examples=40, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 40), min_size=1, max_size=6).filter(lambda ls: sum(ls) <= fused_layer.MAX_ROWS),
    seed=st.integers(0, 2**16),
    scale=st.sampled_from([0.01, 1.0, 30.0]),
)
def test_any_split_of_up_to_128_rows_matches(lengths, seed, scale):
    """One layer on random rows of any magnitude, split into texts any way: the C layer
    against the engine's PyTorch layer."""
    fast = _shared_engine()
    layout = TokenLayout.from_mask(texts(lengths)[1])
    generator = torch.Generator().manual_seed(seed)
    x = scale * torch.randn(layout.tokens, 64, generator=generator)
    layer = fast.layers[0]
    ours = layer.c_layer(x, layout.offsets, torch.empty(layer.c_layer.workspace(layout.tokens)), 2)
    with torch.inference_mode():
        theirs = layer(x, layout)
    torch.testing.assert_close(ours, theirs, atol=2e-5, rtol=1e-5)


_ENGINE = []


def _shared_engine():
    if not _ENGINE:
        _ENGINE.append(FastEncoder(tiny_model(), precision="fp32", device="cpu"))
    return _ENGINE[0]


@pytest.mark.emulated
@needs_library
def test_more_rows_than_it_takes_take_the_pytorch_path():
    model = tiny_model()
    fast = FastEncoder(model, device="cpu")
    fast.c_layer_groups = False  # larger passes in groups: the next test
    calls = []

    class Counted:
        def __init__(self, kernel):
            self.kernel, self.workspace = kernel, kernel.workspace

        def __call__(self, *args):
            calls.append(1)
            return self.kernel(*args)

    for layer in fast.layers:
        kernel = layer.c_layer
        layer.c_layer = Counted(kernel)
    limit = fast.c_layer_rows
    assert limit == fused_layer.rows_limits()["fp32"] and 16 <= limit <= fused_layer.MAX_ROWS
    ids, mask, types = texts([limit // 2, limit - limit // 2 + 1])  # one row too many
    out = fast(ids, mask, types)
    assert calls == []
    torch.testing.assert_close(out.sequence, pytorch_path(model)(ids, mask, types).sequence, atol=1e-5, rtol=1e-5)
    fast(*texts([limit // 2, limit - limit // 2]))
    assert len(calls) == len(fast.layers)
    rows = fused_layer.MAX_ROWS + 1
    with pytest.raises(ValueError, match="1 to 128 rows"):
        kernel(
            torch.zeros(rows, 64), torch.tensor([0, rows], dtype=torch.int32), torch.empty(kernel.workspace(rows)), 1
        )


def test_the_activation_codes_come_from_the_forms_of_the_one_activation_table():
    """The C layer computes GELU (erf and tanh forms) and ReLU; gelu_fast, SiLU and tanh have no
    form it knows, so their layers take the PyTorch path (and so would a name it has not met)."""
    codes = {name: fused_layer.activation_code(name) for name in ACTIVATIONS}
    assert codes == {"gelu": 1, "gelu_new": 2, "gelu_pytorch_tanh": 2, "relu": 3,
                     "gelu_fast": None, "silu": None, "swish": None, "tanh": None}  # fmt: skip
    assert fused_layer.activation_code(None) == 0 and fused_layer.activation_code("no-such-act") is None


def test_shapes_and_activations_it_cannot_compute_take_the_pytorch_path():
    for activation in ("silu", "gelu_fast", "tanh"):
        assert not FastEncoder(tiny_model(activation), device="cpu").uses_c_layer, activation
    assert not FastEncoder(tiny_model(hidden=40, heads=4, inner=80), device="cpu").uses_c_layer  # 40 columns: not 16s
    assert not FastEncoder(tiny_model(hidden=64, heads=8), device="cpu").uses_c_layer  # heads of 8 columns
    assert FastEncoder(tiny_model(hidden=64, heads=4), device="cpu").c_layer_rows == fused_layer.rows_limits()["fp32"]


def _in_a_fresh_process(code: str, **env) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **env}, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


WHY = "from bertkit.inference import fused_layer; print(fused_layer.unavailable_reason())"


def test_it_can_be_turned_off():
    assert _in_a_fresh_process(WHY, BERTKIT_FUSED_LAYER="0") == "turned off by BERTKIT_FUSED_LAYER=0"
    assert _in_a_fresh_process(WHY, BERTKIT_FEW_ROWS="0") == "turned off by BERTKIT_FEW_ROWS=0"  # its former name


@needs_library
def test_without_a_compiler_passes_take_the_pytorch_path(tmp_path):
    code = WHY + (
        "\nimport torch\nfrom bertkit.inference import FastEncoder\nimport test_fused_layer as t"
        "\nm = t.tiny_model(); f = FastEncoder(m, device='cpu'); ids, mask, types = t.texts([4])"
        "\nprint(f.uses_c_layer, float((f(ids, mask, types).sequence - t.pytorch_path(m)(ids, mask, types).sequence).abs().max()))"
    )
    out = _in_a_fresh_process(code, CC=str(tmp_path / "no-such-compiler"), BERTKIT_CACHE=str(tmp_path),
                              PYTHONPATH=str(Path(__file__).parent))  # fmt: skip
    reason, last = out.splitlines()
    assert reason.startswith("cannot build or load fused_layer.c")
    flag, diff = last.split()
    assert flag == "False" and float(diff) < 1e-5


@needs_library
def test_a_failing_compiler_says_what_it_printed(tmp_path):
    compiler = tmp_path / "cc"
    compiler.write_text("#!/bin/sh\necho 'cc: fatal error: out of disk' >&2\nexit 1\n")
    compiler.chmod(0o755)
    out = _in_a_fresh_process(WHY, CC=str(compiler), BERTKIT_CACHE=str(tmp_path))
    assert out == "compiling fused_layer.c failed: cc: fatal error: out of disk"


@needs_library
def test_a_corrupt_cached_library_is_built_again(tmp_path):
    path = fused_layer.build(tmp_path)
    path.write_bytes(b"\x7fELF not really")
    assert _in_a_fresh_process(WHY, BERTKIT_CACHE=str(tmp_path)) == "None"
    assert path.stat().st_size > 1000


@needs_library
def test_the_cache_holds_one_file_per_source_version(tmp_path):
    first = fused_layer.build(tmp_path)
    assert fused_layer.build(tmp_path) == first and first.parent == tmp_path
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no scratch left behind


@needs_library
def test_a_change_to_any_file_of_the_source_is_a_new_build(tmp_path, monkeypatch):
    """The cache key covers fused_layer.c and every file it includes."""
    csrc = tmp_path / "csrc"
    shutil.copytree(fused_layer.SOURCE.parent, csrc)
    monkeypatch.setattr(fused_layer, "SOURCE", csrc / "fused_layer.c")
    first = fused_layer.build(tmp_path / "cache")
    with (csrc / "int8_products.h").open("a") as header:
        header.write("/* changed */\n")
    assert fused_layer.build(tmp_path / "cache") != first


@needs_library
def test_threads_calling_one_engine_at_once_get_what_one_thread_gets():
    """Eight Python threads embed through one engine (every call its own workspace and
    output; the OpenMP regions of different threads run side by side)."""
    from concurrent.futures import ThreadPoolExecutor

    model = tiny_model()
    token_ids = [texts([n], seed=n)[0][0].tolist() for n in (3, 9, 16, 30, 5, 12, 7, 20)]
    expected = [pytorch_path(model).embed_many([ids]) for ids in token_ids]
    fast = FastEncoder(model, device="cpu")
    with ThreadPoolExecutor(8) as pool:
        found = list(pool.map(lambda i: fast.embed_many([token_ids[i % 8]]), range(64)))
    for i, vectors in enumerate(found):
        torch.testing.assert_close(vectors, expected[i % 8], atol=1e-5, rtol=1e-5)


@needs_library
def test_processes_building_the_library_at_once_leave_one_working_file(tmp_path):
    code = f"from pathlib import Path; from bertkit.inference import fused_layer; print(fused_layer.build(Path({str(tmp_path)!r})))"
    processes = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(4)]
    paths = {p.communicate(timeout=300)[0].strip() for p in processes}
    assert all(p.returncode == 0 for p in processes) and len(paths) == 1
    assert [p.name for p in tmp_path.iterdir()] == [Path(paths.pop()).name]
    assert _in_a_fresh_process(WHY, BERTKIT_CACHE=str(tmp_path)) == "None"


@needs_library
def test_a_cache_folder_that_cannot_be_made_falls_back_to_the_temporary_directory(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code = WHY + "\nprint(fused_layer.build().parent)"
    reason, folder = _in_a_fresh_process(code, BERTKIT_CACHE=str(blocker / "cache"), TMPDIR=str(tmp_path)).splitlines()
    assert reason == "None" and folder == str(tmp_path / f"bertkit-{os.getuid()}")


@needs_library
def test_a_model_held_in_bf16_packs_float32_copies_of_its_weights():
    """The C layer (and the engine's embedding tables) read float32 copies in CPU memory,
    whatever dtype (or device) the model holds: the same outputs as the PyTorch path on the
    model widened back to float32 (before, the tables stayed bf16 and so did the embeddings)."""
    model = tiny_model().to(torch.bfloat16)
    fast = FastEncoder(model, precision="fp32", device="cpu")
    assert fast.uses_c_layer
    ids, mask, types = texts([5, 3])
    expected = pytorch_path(model.float())(ids, mask, types).sequence
    torch.testing.assert_close(fast(ids, mask, types).sequence, expected, atol=1e-5, rtol=1e-5)


def builds_this_cpu_runs():
    """The C layer's builds this CPU can run, each as the class that selects it: on an AVX-512
    machine both (BERTKIT_CPU=avx2 runs the AVX2 build natively), on an AVX2 one the AVX2 build."""
    found = cpu.detect().c_layer_variant
    classes = {"avx512": ["native", "avx2"], "avx2": ["native"]}.get(found, [])
    return [pytest.param(c, id=f"{c}-{found if c == 'native' else c}") for c in classes] or [
        pytest.param(None, marks=pytest.mark.skip(reason="no build of the C layer runs on this CPU"))
    ]


@pytest.mark.emulated
@pytest.mark.parametrize("acting_as", builds_this_cpu_runs())
@pytest.mark.parametrize("precision", ["fp32", "bf16", "int8"])
def test_every_build_this_cpu_runs_computes_each_precision(cpu_class, monkeypatch, acting_as, precision):
    """Each build in every precision: fp32 and bf16 (weights widened in registers) against the
    PyTorch layer on the weights it stores, to 1e-5; int8 against its float32 emulation (exact
    8-bit codes and int32 sums in both builds, so the same tolerance as above), on 1 to 3 texts."""
    monkeypatch.setenv("BERTKIT_AMX", "0")  # bf16 widened to FMAs in both builds
    features = cpu_class(acting_as)
    model = tiny_model("gelu", layers=1)
    fast = FastEncoder(model, precision=precision, device="cpu")
    layer = fast.layers[0]
    assert layer.c_layer is not None and layer.c_layer._lib.variant == (
        features.c_layer_variant if precision != "int8" or features.int8_products else "avx2"
    )
    if precision == "int8":
        source = packing_inputs(model.transformer.layers[0], layer.smoothing)
    else:
        reference = pytorch_path(model if precision == "fp32" else rounded_like(model, precision)).layers[0]
    for lengths in ([1], [7], [13], [3, 9, 4], [30, 34]):
        x = 3 * torch.randn(sum(lengths), 64, generator=torch.Generator().manual_seed(len(lengths)))
        layout = TokenLayout.from_mask(texts(lengths)[1])
        with torch.inference_mode():
            found = layer.c_layer(x, layout.offsets, torch.empty(layer.c_layer.workspace(len(x))), 2)
            if precision == "int8":
                expected = emulated_layer(int8_product, source, layer.heads, "gelu", x, lengths)
            else:
                expected = reference(x, layout)
        off = (found - expected).abs()
        if precision == "int8":
            assert (off > 1e-4).float().mean() < 0.01 and off.mean() < 1e-5, f"{off.max():.2e}"
        else:
            torch.testing.assert_close(found, expected, atol=2e-5, rtol=1e-5)


@pytest.mark.emulated
@needs_library
@pytest.mark.parametrize("precision", ["fp32", "bf16", "int8"])
def test_larger_passes_take_the_c_layer_in_groups_of_whole_texts_where_that_wins(precision):
    """Where `groups_win` (the AVX2 build), a pass over the precision's limit runs through the
    C layer in consecutive groups of whole texts of at most MAX_ROWS rows: the same outputs as
    one group each (int8's rows are quantised each on its own scale, so even int8 agrees), each
    layer called once a group; a text longer than MAX_ROWS sends the pass to the PyTorch path."""
    model = tiny_model(layers=2)
    fast = FastEncoder(model, precision=precision, device="cpu")
    assert (
        fast.c_layer_groups
        == fused_layer.groups_win(precision)
        == (VARIANT == "avx2" or (precision == "int8" and not cpu.detect().int8_products))
    )
    fast.c_layer_groups = True
    lengths = [40, 3, 40, 40, 1, 40, 17, 40, 40, 2]  # 263 rows: groups of 124, 97 (no text split) and 42
    calls = []
    for layer in fast.layers:
        kernel = layer.c_layer
        layer.c_layer = lambda x, offsets, workspace, threads, kernel=kernel: (
            calls.append(len(x)) or kernel(x, offsets, workspace, threads)
        )
        layer.c_layer.workspace = kernel.workspace
    ids, mask, types = texts(lengths)
    grouped = fast(ids, mask, types, all_layers=True)
    assert calls == [124, 124, 97, 97, 42, 42]
    real = mask.bool()
    for i, length in enumerate(lengths):  # each text alone: one group
        alone = fast(ids[i : i + 1, :length], mask[i : i + 1, :length], types[i : i + 1, :length], all_layers=True)
        torch.testing.assert_close(grouped.sequence[i, :length], alone.sequence[0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(grouped.layers[0][i, :length], alone.layers[0][0], atol=1e-5, rtol=1e-5)
    if precision == "fp32":
        reference = pytorch_path(model)(ids, mask, types)
        torch.testing.assert_close(grouped.sequence[real], reference.sequence[real], atol=1e-5, rtol=1e-5)
    long_model = BertModel(BertConfig.from_dict({**model.config.to_dict(), "max_position_embeddings": 200})).eval()
    long_fast = FastEncoder(long_model, precision=precision, device="cpu")
    long_fast.c_layer_groups = True
    for layer in long_fast.layers:
        kernel = layer.c_layer
        layer.c_layer = lambda *args, kernel=kernel: calls.append("long") or kernel(*args)
        layer.c_layer.workspace = kernel.workspace
    calls.clear()
    long_fast(*texts([fused_layer.MAX_ROWS + 1, 3]))
    assert calls == []  # no group can hold the long text: the PyTorch path
    long_fast(*texts([fused_layer.MAX_ROWS, 3]))
    assert calls == ["long", "long", "long", "long"]  # two groups, two layers
