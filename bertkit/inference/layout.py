"""Where the real tokens of a padded (B, S) batch sit once gathered into one (T, H) matrix.

The engine computes on real tokens only (T = the sum of the texts' lengths, not B x S): it
gathers them, scatters back to (B, S) where a step needs that shape (attention over padded
texts, the returned sequence), and pools each text's rows.

    >>> import torch
    >>> layout = TokenLayout.from_mask(torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0]]))
    >>> layout.tokens, layout.offsets.tolist()
    (4, [0, 3, 4])
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

# Poolings over a text's token rows: sentence-transformers' modes, as its `Pooling` computes them.
TOKEN_POOLINGS = ("cls", "mean", "max", "mean_sqrt_len_tokens", "weightedmean", "lasttoken")


@dataclass
class TokenLayout:
    """Where the real tokens of a (B, S) batch sit once gathered into (T, H).

    Worked out on the host from the mask (a few small tensors), then moved to the device
    once, so a GPU pass never waits on the device for its own bookkeeping.
    """

    batch: int
    length: int
    lengths: torch.Tensor  # (B,) int64
    tokens: int  # T, the real tokens of the batch
    token_index: torch.Tensor | None  # (T,) positions in the flattened (B*S); None: no padding
    attend: torch.Tensor | None  # (B, 1, 1, S) bool; None: no padding
    offsets: torch.Tensor  # (B + 1,) int32: where each text's rows start in (T, H), then T
    longest: int  # the longest text's length

    @classmethod
    def from_mask(cls, mask: torch.Tensor, device: torch.device | None = None) -> TokenLayout:  # mask (B, S)
        """The layout of `mask`, its tensors on `device` (default: the mask's own)."""
        device = device or mask.device
        mask = mask.cpu()
        batch, length = mask.shape
        if batch and length and bool(mask.all()):  # no padding (one text, say): 3 small tensors, not 8
            lengths = torch.full((batch,), length, dtype=torch.long, device=device)
            offsets = torch.arange(0, (batch + 1) * length, length, dtype=torch.int32, device=device)
            return cls(batch, length, lengths, batch * length, None, None, offsets, length)
        lengths = mask.sum(dim=1)
        tokens = int(lengths.sum())  # unpadded exactly when every position is real
        offsets = F.pad(lengths.cumsum(0), (1, 0)).to(torch.int32)
        longest = int(lengths.max()) if batch else 0
        lengths, offsets = lengths.to(device), offsets.to(device)
        if tokens == batch * length:
            return cls(batch, length, lengths, tokens, None, None, offsets, longest)
        token_index = mask.reshape(-1).nonzero().squeeze(1).to(device)
        attend = mask.bool()[:, None, None, :].to(device)
        return cls(batch, length, lengths, tokens, token_index, attend, offsets, longest)

    def gather(self, x: torch.Tensor) -> torch.Tensor:  # (B, S, C) -> (T, C); (B, S) -> (T,)
        x = x.reshape(self.batch * self.length, *x.shape[2:])
        return x if self.token_index is None else x.index_select(0, self.token_index)

    def scatter(self, x: torch.Tensor) -> torch.Tensor:  # (T, C) -> (B, S, C), zeros at padding
        if self.token_index is not None:
            x = x.new_zeros(self.batch * self.length, x.shape[1]).index_copy_(0, self.token_index, x)
        return x.view(self.batch, self.length, -1)

    def first_tokens(self, x: torch.Tensor) -> torch.Tensor:  # (T, C) -> (B, C), each text's [CLS]
        if self.token_index is None:
            return x.view(self.batch, self.length, -1)[:, 0]
        return x.index_select(0, self.offsets[:-1])

    def means(self, x: torch.Tensor) -> torch.Tensor:  # (T, C) -> (B, C), mean over each text
        if self.token_index is None:
            return x.view(self.batch, self.length, -1).mean(dim=1)
        owner = torch.div(self.token_index, self.length, rounding_mode="floor")  # text of each row
        sums = x.new_zeros(self.batch, x.shape[1]).index_add_(0, owner, x)
        return sums / self.lengths.to(x.dtype)[:, None]

    def pool(self, x: torch.Tensor, mode: str, skip: int = 0) -> torch.Tensor:  # (T, C) -> (B, C)
        """Each text's rows pooled as sentence-transformers' `Pooling` does (one of TOKEN_POOLINGS).

        `skip` leading rows of each text ([CLS] and a prompt, when the model pools without its
        prompt) are left out; "weightedmean" keeps the others' weights, their positions 1..n.
        """
        if mode not in TOKEN_POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(TOKEN_POOLINGS)}, not {mode!r}")
        if skip == 0 and mode == "cls":
            return self.first_tokens(x)
        if skip == 0 and mode == "mean":
            return self.means(x)
        starts = self.offsets[:-1].long()
        if mode == "lasttoken":  # each text's last real token ([SEP])
            return x.index_select(0, self.offsets[1:].long() - 1)
        if mode == "cls":  # the first row left in; sentence-transformers takes row 0 if none is
            return x.index_select(0, torch.where(self.lengths > skip, starts + skip, starts))
        owner = torch.repeat_interleave(torch.arange(self.batch, device=x.device), self.lengths.to(x.device))  # (T,)
        position = torch.arange(x.shape[0], device=x.device) - starts.to(x.device)[owner]  # (T,) 0 at [CLS]
        kept = position >= skip
        if mode == "max":
            rows = x.masked_fill(~kept[:, None], float("-inf"))
            highest = torch.full((self.batch, x.shape[1]), float("-inf"), dtype=x.dtype, device=x.device)
            return highest.scatter_reduce_(0, owner[:, None].expand_as(rows), rows, "amax")
        weights = kept.to(x.dtype) * ((position + 1).to(x.dtype) if mode == "weightedmean" else 1.0)  # (T,)
        sums = x.new_zeros(self.batch, x.shape[1]).index_add_(0, owner, x * weights[:, None])
        total = x.new_zeros(self.batch).index_add_(0, owner, weights).clamp(min=1e-9)
        return sums / (total.sqrt() if mode == "mean_sqrt_len_tokens" else total)[:, None]

    def text_groups(self, x: torch.Tensor, max_rows: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(rows, offsets within them) of consecutive groups of whole texts of at most
        `max_rows` rows each, from the (T, H) rows: one group if they all fit."""
        if self.tokens <= max_rows:
            yield x, self.offsets
            return
        offsets = self.offsets.cpu().tolist()
        ends, first = [], 0  # each group's last text + 1
        for text in range(1, len(offsets)):
            if offsets[text] - offsets[first] > max_rows:
                ends.append(text - 1)
                first = text - 1
        ends.append(len(offsets) - 1)
        start = 0
        for end in ends:
            yield (
                x[offsets[start] : offsets[end]],
                torch.tensor(offsets[start : end + 1], dtype=torch.int32) - offsets[start],
            )
            start = end
