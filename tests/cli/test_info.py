"""bertkit/cli/info.py and the CPU classes: what each CPU gets, and every precision running on
every class this machine can act as (BERTKIT_CPU), within its accuracy guard, never a traceback."""

from __future__ import annotations

import json

import numpy as np
import pytest

import bertkit
from bertkit.cli import main
from bertkit.inference import cpu

TEXTS = ["A man is eating food.", "Das ist ein Satz über Äpfel.", "这是一个句子", "ok " * 100]
CLASSES = ["native", "avx2", "generic"]  # never more than the CPU has: on AVX2 "avx2" is native


@pytest.mark.emulated
def test_info_names_the_cpu_its_instruction_sets_and_every_precision(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    features = cpu.detect()
    assert features.name in out and f"auto  = {features.auto_precision()} here" in out
    for precision in ("fp32", "bf16", "int8"):
        assert f"  {precision:5s} runs  " in out
    variant = features.c_layer_variant
    assert (f"fused C layer: {variant} build" if variant else "fused C layer: off") in out
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["auto"] == features.auto_precision() and set(info["precisions"]) == {"fp32", "bf16", "int8"}
    assert set(info["instruction_sets"]) <= features.features


def test_acting_as_a_class_keeps_only_its_features(cpu_class, capsys):
    real = cpu.detect().features
    generic = cpu_class("generic")
    assert generic.forced == "generic" and generic.c_layer_variant is None and generic.auto_precision() == "fp32"
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "[acting as BERTKIT_CPU=generic]" in out and "fused C layer: off" in out
    avx2 = cpu_class("avx2")
    assert avx2.features == real & cpu.CLASSES["avx2"] and not avx2.bf16_products and not avx2.int8_products
    assert avx2.c_layer_variant == ("avx2" if {"avx2", "fma"} <= real else None)


def test_an_unknown_class_is_one_line_and_exit_1(cpu_class, monkeypatch, capsys):
    monkeypatch.setenv("BERTKIT_CPU", "avx1024")
    cpu.detect.cache_clear()
    assert main(["info"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "BERTKIT_CPU='avx1024': choose one of generic, avx2" in err


@pytest.mark.emulated
def test_the_auto_choice_follows_the_instruction_sets():
    base = cpu.CLASSES
    assert cpu.Cpu("x", "x86_64", base["amx"]).auto_precision() == "bf16"
    assert cpu.Cpu("x", "x86_64", base["avx512-vnni"]).auto_precision() == "int8"
    assert cpu.Cpu("x", "x86_64", base["avx2"]).auto_precision() == "int8"  # the C layer's exact int8
    assert cpu.Cpu("x", "aarch64", frozenset({"neon", "bf16"})).auto_precision() == "fp32"
    assert cpu.Cpu("x", "x86_64", base["avx2"]).c_layer_variant == "avx2"
    assert cpu.Cpu("x", "x86_64", base["avx512"]).c_layer_variant == "avx512"
    assert not cpu.Cpu("x", "x86_64", base["avx2"] | {"avx512f"}).bf16_products  # oneDNN wants BW, VL, DQ
    assert cpu.Cpu("x", "x86_64", base["avx2"] | {"avx_ne_convert"}).bf16_products


@pytest.mark.parametrize("acting_as", CLASSES)
def test_every_precision_runs_on_every_class_within_its_guard(cpu_class, acting_as):
    """No kernel library's RuntimeError for any precision on any CPU: each runs, and stays
    within cosine 0.999 (bf16) / 0.99 (int8) of fp32; "auto" is one of them."""
    features = cpu_class(acting_as)
    fp32 = bertkit.load(precision="fp32").embed(TEXTS, pooling="mean", normalize=True)
    for precision, floor in (("bf16", 0.999), ("int8", 0.99)):
        for batch_size in (1, 32):  # one text: the C layer where there is one; all: the batch path
            vectors = bertkit.load(precision=precision).embed(
                TEXTS, pooling="mean", normalize=True, batch_size=batch_size
            )
            cosines = (vectors * fp32).sum(axis=1)
            assert cosines.min() >= floor, f"{precision} on {features.isa_line()}, batch {batch_size}: {cosines}"
    auto = bertkit.load(precision="auto")
    assert auto.precision == features.auto_precision()
    assert np.isfinite(auto.embed(TEXTS)).all()
