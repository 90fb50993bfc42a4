"""bertkit/inference/layout.py: the real tokens of a padded batch, gathered, scattered, pooled and grouped."""

import doctest

import pytest
import torch

from bertkit.inference import layout as layout_module
from bertkit.inference.layout import TokenLayout

pytestmark = pytest.mark.emulated  # also run on an emulated AVX2-only CPU (make test-emulated)


def test_layout_gathers_pools_and_scatters_the_real_tokens():
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1], [1, 0, 0, 0]])
    x = torch.randn(3, 4, 6)
    layout = TokenLayout.from_mask(mask)
    assert layout.tokens == 8 and layout.token_index.tolist() == [0, 1, 2, 4, 5, 6, 7, 8]
    tokens = layout.gather(x)  # (T, 6)
    assert tokens.shape == (8, 6)
    torch.testing.assert_close(layout.first_tokens(tokens), x[:, 0])
    torch.testing.assert_close(layout.means(tokens), (x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True))
    torch.testing.assert_close(layout.scatter(tokens), x * mask[..., None])
    full = TokenLayout.from_mask(torch.ones(2, 3, dtype=torch.long))  # no padding: views, no index
    assert full.token_index is None and full.attend is None and full.tokens == 6


def test_layout_offsets_and_first_tokens():
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1]])
    layout = TokenLayout.from_mask(mask)
    assert layout.offsets.tolist() == [0, 3, 4, 8] and layout.longest == 4 and layout.tokens == 8
    x = torch.arange(8.0)[:, None]
    assert layout.first_tokens(x).squeeze(1).tolist() == [0.0, 3.0, 4.0]


def test_text_groups_hold_whole_texts_of_at_most_the_given_rows():
    lengths = [40, 3, 40, 40, 1, 40, 17, 40, 40, 2]  # 263 rows: groups of 124, 97 (no text split) and 42
    mask = (torch.arange(max(lengths))[None] < torch.tensor(lengths)[:, None]).long()
    layout = TokenLayout.from_mask(mask)
    x = torch.arange(float(layout.tokens))[:, None]
    groups = list(layout.text_groups(x, 128))
    assert [len(rows) for rows, _ in groups] == [124, 97, 42]
    assert [offsets.tolist() for _, offsets in groups] == [[0, 40, 43, 83, 123, 124], [0, 40, 57, 97], [0, 40, 42]]
    assert torch.equal(torch.cat([rows for rows, _ in groups]), x)
    ((rows, offsets),) = layout.text_groups(x, 263)  # all fit: one group, as it is
    assert rows is x and offsets is layout.offsets


def test_docstring_examples_run():
    assert doctest.testmod(layout_module).failed == 0
