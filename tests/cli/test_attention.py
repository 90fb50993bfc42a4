"""`bertkit attention` and bertkit/tasks/attention.py: token-by-token heatmaps of one layer's
attention, one head or all, with Chinese tokens drawn in a font that has their glyphs.

The Chinese sentence is Django's zh_Hans translation of "Enter a valid date." (real text from
tests/corpora.py's catalogs); the bundled model's English vocabulary knows some of its
characters, and the labels show the others beside [UNK].
"""

from __future__ import annotations

import doctest
import io
import warnings

import corpora
import numpy as np
import pytest
from matplotlib import font_manager
from matplotlib.ft2font import FT2Font
from matplotlib.image import imread

from bertkit import Encoder, Preprocessor
from bertkit.cli import main
from bertkit.tasks import attention
from bertkit.tasks.attention import attention_maps, draw_attention

CHINESE = "输入一个有效的日期。"
SPAM, COMPUTERS = "This is a spam mail", "Computers are not unique to computers"


@pytest.fixture(scope="module")
def model():
    return Preprocessor.from_pretrained(), Encoder.from_pretrained()


def rendered_warnings(figure) -> list[str]:
    """What matplotlib warns while it draws the figure to PNG."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figure.savefig(io.BytesIO(), format="png")
    return [str(w.message) for w in caught]


def tick_labels(figure) -> list:
    """The token labels of the heatmaps (not the colour bar's numbers)."""
    heatmaps = [axes for axes in figure.axes if axes.images]
    return [label for axes in heatmaps for label in axes.get_xticklabels() + axes.get_yticklabels() if label.get_text()]


def test_the_module_example_runs():
    assert doctest.testmod(attention).failed == 0


def test_the_chinese_sentence_is_real_text():
    assert CHINESE in corpora.po_strings_by_language()["zh_Hans"]


def test_chinese_tick_labels_are_drawn_with_a_font_that_has_every_glyph(model):
    maps = attention_maps(*model, CHINESE)
    assert maps.tokens[:4] == ["[CLS]", "输 [UNK]", "入 [UNK]", "一"] and maps.tokens[-1] == "[SEP]"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figure = draw_attention(maps.tokens, maps.layers[-1], head=0)
    assert not caught  # no MissingFontWarning: a CJK font was found
    labels = tick_labels(figure)
    assert [label.get_text() for label in labels] == maps.tokens * 2  # x axis, then y axis
    for label in labels:
        path = font_manager.findfont(label.get_fontproperties(), fallback_to_default=False)
        font = FT2Font(path)
        for c in label.get_text().replace(" ", ""):
            assert font.get_char_index(ord(c)) != 0, f"{c!r} has no glyph in {path}"
    assert not [m for m in rendered_warnings(figure) if "missing from font" in m]


def test_without_the_cjk_font_matplotlib_would_draw_boxes(model):
    """The check above can fail: matplotlib's default font has no Chinese glyphs and says so."""
    maps = attention_maps(*model, CHINESE)
    figure = draw_attention(["我", "的"], maps.layers[0][:, :2, :2], head=0)
    for label in tick_labels(figure):
        label.set_fontproperties(font_manager.FontProperties())  # the default, DejaVu Sans
    assert any("missing from font" in m for m in rendered_warnings(figure))


def test_english_labels_keep_the_default_font(model):
    maps = attention_maps(*model, SPAM)
    figure = draw_attention(maps.tokens, maps.layers[0])
    default = font_manager.findfont(font_manager.FontProperties())
    assert {font_manager.findfont(label.get_fontproperties()) for label in tick_labels(figure)} == {default}


def test_one_head_or_every_head_of_the_layer(model):
    maps = attention_maps(*model, SPAM, COMPUTERS)
    assert maps.tokens == ["[CLS]", "this", "is", "a", "spa", "##m", "mail", "[SEP]",
                           "computers", "are", "not", "unique", "to", "computers", "[SEP]"]  # fmt: skip
    assert maps.type_ids == [0] * 8 + [1] * 7
    assert len(maps.layers) == 6 and all(layer.shape == (12, 15, 15) for layer in maps.layers)
    for layer in maps.layers:
        np.testing.assert_allclose(layer.sum(-1), 1.0, atol=1e-5)

    one = draw_attention(maps.tokens, maps.layers[2], head=7, layer=2)
    images = [axes.images[0] for axes in one.axes if axes.images]
    assert len(images) == 1 and one.axes[0].get_title() == "layer 2, head 7"
    np.testing.assert_array_equal(images[0].get_array(), maps.layers[2][7])

    grid = draw_attention(maps.tokens, maps.layers[2], layer=2)
    images = [axes.images[0] for axes in grid.axes if axes.images]
    assert len(images) == 12
    for h, image in enumerate(images):
        np.testing.assert_array_equal(image.get_array(), maps.layers[2][h])


def test_probabilities_that_do_not_fit_the_tokens_are_one_line_errors():
    from bertkit.errors import InputError

    with pytest.raises(InputError, match=r"shape \(2, 3, 3\) do not fit 4 tokens"):
        draw_attention(["a", "b", "c", "d"], np.zeros((2, 3, 3)))
    with pytest.raises(InputError, match="head 2 does not exist: this layer has 2 heads"):
        draw_attention(["a", "b", "c"], np.zeros((2, 3, 3)), head=2)


def test_command_writes_a_grid_and_one_head(tmp_path, capsys):
    grid, head = tmp_path / "grid.png", tmp_path / "head.png"
    assert main(["attention", SPAM, "--pair", COMPUTERS, "--output", str(grid)]) == 0
    assert main(["attention", CHINESE, "--layer", "0", "--head", "3", "--output", str(head)]) == 0
    out, err = capsys.readouterr()
    assert f"wrote {grid}: layer 5, 12 heads, 15 tokens: [CLS] this is a spa ##m mail [SEP] computers" in out
    assert f"wrote {head}: layer 0, head 3, 12 tokens: [CLS] 输 [UNK]" in out
    assert "warning" not in err
    big, small = imread(grid), imread(head)
    assert big.shape[0] > 2 * small.shape[0] and big.shape[1] > 2 * small.shape[1]  # 3 x 4 panels against 1


def test_without_any_cjk_font_it_still_draws_and_warns_once(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(attention, "cjk_font_file", lambda: None)
    target = tmp_path / "zh.png"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["attention", CHINESE, "--output", str(target)]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("warning: no installed font has glyphs for ")
    assert "pip install mplfonts" in err
    assert not [w for w in caught if "missing from font" in str(w.message)]  # no warning per glyph
    assert imread(target).shape[0] > 100


def test_errors_are_one_line_and_exit_1(tmp_path, capsys):
    png = str(tmp_path / "a.png")
    for argv, message in (
        (["attention", "hello", "--head", "12", "--output", png], "--head 12 does not exist: this model has 12 heads"),
        (["attention", "hello", "--layer", "6", "--output", png], "--layer 6 does not exist: this model has 6 layers"),
        (["attention", "hello", "--head", "first", "--output", png], "--head takes a head number"),
        (["attention", "  ", "--output", png], "attention needs a non-empty text"),
        (["attention", "hello", "--output", str(tmp_path / "no" / "a.png")], "cannot write"),
        (["attention", "hello", "--model", str(tmp_path / "nope"), "--output", png], str(tmp_path / "nope")),
    ):
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert err.startswith("bertkit attention: error: ") and err.count("\n") == 1, err
        assert message in err
