"""The inference engine: the same encoder, run without compute on padding and with packed weights.

A `FastEncoder` is built from a trained backbone (`bertkit.modeling.bert.BertModel` or a
family member) and computes the same outputs, faster:

- the dense layers (QKV, attention output, feed-forward) run on the real tokens only,
  gathered into one (T, H) matrix - T = sum of the texts' lengths, not B x S;
- attention scatters Q, K, V back to (B, S) only for its own product, with the padding mask;
  with length-bucketed batches (`batching.py`) that padding is a few positions;
- Q, K and V are one product with a (3H, H) weight; bias, GELU and the residual add are fused
  into the products' epilogues (`kernels.py`), whose weights are packed once;
- on CPU a pass of at most `few_rows_limit` real tokens (one text, a typical request) runs
  each layer as one C call (`few_rows.py`) instead of ~10 PyTorch operators;
- `precision` picks fp32, bf16 or int8 (dynamic) kernels, each as this CPU runs it (`cpu.py`;
  "auto": the fastest within its accuracy guard); `device="cuda"` runs the same code
  with cuBLAS, and in bf16 attention too runs on the packed tokens: flash attention over texts
  of different lengths (`varlen_attn`), so nothing at all is computed on padding.

    >>> import torch
    >>> from bertkit.config import BertConfig
    >>> from bertkit.modeling.bert import BertModel
    >>> model = BertModel(BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
    ...                              intermediate_size=128)).eval()
    >>> fast = FastEncoder(model, precision="fp32", device="cpu")
    >>> ids = torch.tensor([[101, 2023, 102, 0], [101, 7, 8, 102]])
    >>> mask = (ids != 0).long()
    >>> out = fast(ids, mask, torch.zeros_like(ids))
    >>> ref = model(ids, mask, torch.zeros_like(ids))
    >>> bool((out.pooled - ref.pooled).abs().max() < 1e-5)
    True
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from bertkit.errors import InputError
from bertkit.inference import few_rows
from bertkit.inference.batching import length_batches
from bertkit.inference.kernels import PRECISIONS, PackedLinear, compute_dtype, resolve_precision
from bertkit.inference.threads import SINGLE_THREAD_ROWS, SmallPassThreads, set_threads, threads_for


class EncoderOutput(NamedTuple):
    sequence: torch.Tensor  # (B, S, H); zeros at padding positions
    layers: list[torch.Tensor]  # L x (B, S, H); empty unless asked for
    pooled: torch.Tensor | None  # (B, H); None for a model without a pooler


@dataclass
class _Layout:
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
    def from_mask(cls, mask: torch.Tensor, device: torch.device | None = None) -> _Layout:  # mask (B, S)
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


try:  # PyTorch >= 2.10: flash attention over texts of different lengths, packed into (T, heads, d)
    from torch.nn.attention.varlen import varlen_attn
except ImportError:
    varlen_attn = None


def uses_varlen_attention(device: torch.device, dtype: torch.dtype, head_size: int) -> bool:
    """Whether attention runs on the packed tokens with no padding at all (CUDA, bf16/fp16).

    Elsewhere it runs on (B, heads, S, d) with the padding masked: SDPA (oneDNN's flash
    kernel on CPU, the memory-efficient one for fp32 on CUDA).
    """
    return (
        varlen_attn is not None
        and device.type == "cuda"
        and dtype in (torch.bfloat16, torch.float16)
        and head_size % 8 == 0
        and head_size <= 256
    )


class _RealTokenEmbeddings:
    """A model's input embeddings (word + position + type, LayerNorm), from its own tables,
    computed for the real tokens only: (T,) ids in, (T, H) out.

    The sum `modeling/embeddings.py` computes, in the same order (bit-identical, measured),
    without its five module calls: 25 against 60 us for one sentence, on the batch-1 path.
    """

    def __init__(self, embeddings, device: torch.device):
        def table(tensor):  # float32 whatever the model holds: the passes cast after the sum
            return None if tensor is None else tensor.detach().to(device, torch.float32)

        self.word, self.position = table(embeddings.word.weight), table(embeddings.position.weight)
        self.token_type = table(None if embeddings.token_type is None else embeddings.token_type.weight)
        norm = embeddings.norm
        self.norm = (table(norm.weight), table(norm.bias), norm.eps)

    def __call__(self, word_ids: torch.Tensor, positions: torch.Tensor, type_ids: torch.Tensor | None) -> torch.Tensor:
        x = F.embedding(word_ids, self.word) + F.embedding(positions, self.position)
        if self.token_type is not None:  # no type ids: every token is segment A (type 0)
            x = x + (self.token_type[0] if type_ids is None else F.embedding(type_ids, self.token_type))
        weight, bias, eps = self.norm
        return F.layer_norm(x, weight.shape, weight, bias, eps)


class _PositionNumbering:
    """A model's `position_ids(mask)` without keeping its weights alive (it reads only the config)."""

    def __init__(self, model):
        self.config = model.config
        self._number = type(model).position_ids

    def __call__(self, mask: torch.Tensor) -> torch.Tensor:
        return self._number(self, mask)


SMOOTHING_ALPHA = 0.5  # SmoothQuant's migration strength: s_j = max|x_j|^a / max|W_j|^(1-a)


@torch.no_grad()
def input_maxima(model, batch: int = 16, length: int = 32, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per layer, max |x_j| of each hidden channel j entering the QKV and the feed-forward products.

    Measured with the model's own forward pass on random tokens of its vocabulary (the same
    every time: `seed`): the channels that carry outliers in BERT-family models are a property
    of the weights, not of the text (a trial on the bundled MiniLM and 972 SMS messages: worst
    int8 cosine 0.9926 calibrated this way, 0.9932 calibrated on 64 real texts).
    """
    vocab = model.config.vocab_size
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(min(1000, vocab // 2), vocab, (batch, length), generator=generator)
    maxima: list[list[torch.Tensor]] = [[None, None] for _ in model.transformer.layers]
    hooks = []
    for i, layer in enumerate(model.transformer.layers):
        for j, module in enumerate((layer.attention, layer.feed_forward)):
            def keep(module, args, i=i, j=j):
                maxima[i][j] = args[0].detach().abs().amax(dim=(0, 1)).float()
            hooks.append(module.register_forward_pre_hook(keep))
    training = model.training
    try:
        ids = ids.to(next(model.parameters()).device)
        model.eval()(ids, torch.ones_like(ids), torch.zeros_like(ids))
    finally:
        model.train(training)
        for hook in hooks:
            hook.remove()
    return [(qkv.cpu(), inner.cpu()) for qkv, inner in maxima]


def smoothing_factors(input_max: torch.Tensor, weight: torch.Tensor, alpha: float = SMOOTHING_ALPHA) -> torch.Tensor:
    """SmoothQuant's per-input-channel factors for a product x @ weight.T."""
    weight_max = weight.detach().float().abs().amax(dim=0).clamp_min(1e-5)
    return (input_max.clamp_min(1e-5) ** alpha / weight_max ** (1 - alpha)).clamp(1e-2, 1e2)


class _FastLayer:
    """One post-LN transformer layer on unpadded tokens (same maths as `modeling/layer.py`).

    `input_max` (int8 only): the calibrated channel maxima of the inputs of the QKV and the
    feed-forward products, both LayerNorm outputs, for smoothing (see kernels.py).
    """

    def __init__(self, layer, heads: int, activation: str, precision: str, device: torch.device, input_max=None):
        attention, feed_forward = layer.attention, layer.feed_forward
        self.heads = heads
        self.varlen = uses_varlen_attention(device, compute_dtype(precision, device), attention.query.weight.shape[0] // heads)
        qkv_weight = torch.cat([attention.query.weight, attention.key.weight, attention.value.weight])
        qkv_bias = torch.cat([attention.query.bias, attention.key.bias, attention.value.bias])
        qkv_smoothing = inner_smoothing = None
        if input_max is not None:
            qkv_smoothing = smoothing_factors(input_max[0], qkv_weight)
            inner_smoothing = smoothing_factors(input_max[1], feed_forward.inner.weight)
        self.smoothing = (qkv_smoothing, inner_smoothing)  # int8: SmoothQuant's factors; else None
        # Passes of few tokens on CPU: the whole layer as one C call (few_rows.py), packed now
        # so that no request pays for it (MiniLM ~50 ms, bert-base int8 ~0.5 s).
        linears = [
            (qkv_weight, qkv_bias, qkv_smoothing),
            (attention.output.weight, attention.output.bias, None),
            (feed_forward.inner.weight, feed_forward.inner.bias, inner_smoothing),
            (feed_forward.outer.weight, feed_forward.outer.bias, None),
        ]
        norms = [(norm.weight, norm.bias, norm.eps) for norm in (layer.attention_norm, layer.output_norm)]
        self.c_layer = None
        if device.type == "cpu" and few_rows.library() is not None and few_rows.FewRowsLayer.supports(linears, heads, activation, precision):
            self.c_layer = few_rows.FewRowsLayer(linears, norms, heads, activation, precision)
        # The products for larger passes; their own few-rows paths only where the C layer is not.
        small = self.c_layer is None
        self.qkv = PackedLinear(qkv_weight, qkv_bias, precision, device, smoothing=qkv_smoothing, few_rows=small)  # H -> 3H
        self.attention_output = PackedLinear(attention.output.weight, attention.output.bias, precision, device, few_rows=small)
        self.inner = PackedLinear(
            feed_forward.inner.weight, feed_forward.inner.bias, precision, device, activation=activation,
            smoothing=inner_smoothing, few_rows=small,
        )  # fmt: skip
        self.outer = PackedLinear(feed_forward.outer.weight, feed_forward.outer.bias, precision, device, few_rows=small)
        dtype = compute_dtype(precision, device)
        self.norms = [
            (norm.weight.detach().to(device, dtype), norm.bias.detach().to(device, dtype), norm.eps)
            for norm in (layer.attention_norm, layer.output_norm)
        ]

    def attention(self, x: torch.Tensor, layout: _Layout) -> torch.Tensor:  # (T, H) -> (T, H)
        tokens, hidden = x.shape
        head_size = hidden // self.heads
        if self.varlen:  # no scatter to (B, S): each text attends within its own rows
            q, k, v = self.qkv(x).view(tokens, 3, self.heads, head_size).unbind(1)  # each (T, heads, d)
            context = varlen_attn(q, k, v, layout.offsets, layout.offsets, layout.longest, layout.longest)
            return context.reshape(tokens, hidden)
        qkv = layout.scatter(self.qkv(x))  # (B, S, 3H)
        qkv = qkv.view(layout.batch, layout.length, 3, self.heads, head_size).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # each (B, heads, S, d)
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=layout.attend)
        context = context.transpose(1, 2).reshape(layout.batch, layout.length, hidden)  # (B, S, H)
        return layout.gather(context)

    def __call__(self, x: torch.Tensor, layout: _Layout) -> torch.Tensor:  # (T, H) -> (T, H)
        (w1, b1, eps1), (w2, b2, eps2) = self.norms
        x = self.attention_output(self.attention(x, layout), residual=x)
        x = F.layer_norm(x, w1.shape, w1, b1, eps1)
        x = self.outer(self.inner(x), residual=x)
        return F.layer_norm(x, w2.shape, w2, b2, eps2)


class FastEncoder:
    """A backbone's forward pass for inference: unpadded, packed, in the chosen precision."""

    def __init__(
        self, model, precision: str = "fp32", device: str | torch.device | None = None, threads: int | None = None
    ):
        if precision not in (*PRECISIONS, "auto"):
            raise InputError(f"precision must be one of {', '.join(PRECISIONS)} or auto, not {precision!r}")
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        precision = resolve_precision(precision, self.device)
        if self.device.type == "cuda" and precision == "int8":
            raise InputError("int8 runs on CPU only; use precision='bf16' on a GPU")
        self.precision = precision
        self.dtype = compute_dtype(precision, self.device)
        if self.device.type == "cpu":
            set_threads(threads)  # intra-op threads: all the cores this process may use, no more
        self.small_passes = SmallPassThreads()  # one thread or all for passes of few rows, as measured
        # The model's own embedding tables, and its own numbering of positions.
        self.embeddings = _RealTokenEmbeddings(model.embeddings, self.device)
        self.position_ids = _PositionNumbering(model)
        config = model.config
        maxima = input_maxima(model) if precision == "int8" else [None] * config.num_hidden_layers
        self.layers = [
            _FastLayer(layer, config.num_attention_heads, config.hidden_act, precision, self.device, input_max)
            for layer, input_max in zip(model.transformer.layers, maxima)
        ]
        # Passes of few tokens take the C layer (few_rows.py) where every layer can.
        self.few_rows = bool(self.layers) and all(layer.c_layer is not None for layer in self.layers)
        self.few_rows_limit = few_rows.rows_limits()[precision] if self.few_rows else 0  # token rows
        # Larger passes too, in groups of whole texts of at most MAX_ROWS rows, where that beat
        # the PyTorch path (the AVX2 build: 320 mixed texts, MiniLM, 2 threads: fp32 1.18x,
        # int8 1.10x; on AVX-512 oneDNN's products win from ~64 rows): `few_rows.groups_win()`.
        self.c_layer_groups = self.few_rows and few_rows.groups_win(precision)
        pooler = getattr(model, "pooler", None)
        dense = getattr(pooler, "dense", None)  # None: DistilBERT's pooled output is the [CLS] state itself
        self.has_pooler = pooler is not None
        self.pooler = None if dense is None else PackedLinear(dense.weight, dense.bias, "fp32", self.device)

    @torch.inference_mode()
    def encode_tokens(self, word_ids: torch.Tensor, mask: torch.Tensor, type_ids: torch.Tensor | None = None, all_layers: bool = False):
        """Final states of the real tokens, (T, H), and their layout: in `self.dtype`, or float32
        for passes of few tokens through the C layer (`few_rows.py`), in every precision.

        The cheapest form for pooling: nothing is scattered back to (B, S, H).
        """
        layout = _Layout.from_mask(mask, self.device)
        word_ids, mask = word_ids.to(self.device, torch.long), mask.to(self.device, torch.long)
        if type_ids is not None:
            type_ids = type_ids.to(self.device, torch.long)
        rows = layout.tokens if self.device.type == "cpu" else SINGLE_THREAD_ROWS
        with threads_for(rows, self.small_passes):
            positions = self.position_ids(mask).expand(word_ids.shape)  # (B, S)
            types = None if type_ids is None else layout.gather(type_ids)
            x = self.embeddings(layout.gather(word_ids), layout.gather(positions), types)  # (T, H)
            states = []
            if self.few_rows and 0 < layout.tokens and (
                layout.tokens <= self.few_rows_limit or (self.c_layer_groups and layout.longest <= few_rows.MAX_ROWS)
            ):
                x, states = self._c_layers(x.float(), layout, all_layers)  # float32 activations in every precision
                return x, layout, states
            x = x.to(self.dtype)
            for layer in self.layers:
                x = layer(x, layout)
                if all_layers:
                    states.append(x)
        return x, layout, states

    def _c_layers(self, x: torch.Tensor, layout: _Layout, all_layers: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Every layer as the C layer computes it, on consecutive groups of whole texts of at
        most MAX_ROWS rows (one group for a pass of few tokens): (T, H) final states, and each
        layer's if `all_layers`."""
        groups = [(x, layout.offsets)] if layout.tokens <= few_rows.MAX_ROWS else _text_groups(x, layout.offsets)
        threads = torch.get_num_threads()
        outputs, states = [], [[] for _ in self.layers]
        for rows, offsets in groups:
            rows = rows.contiguous()
            workspace = torch.empty(self.layers[0].c_layer.workspace(rows.shape[0]))  # the same for every layer
            for i, layer in enumerate(self.layers):
                rows = layer.c_layer(rows, offsets, workspace, threads)
                if all_layers:
                    states[i].append(rows)
            outputs.append(rows)
        if len(outputs) == 1:  # no copy on the path of one request
            return outputs[0], [s[0] for s in states] if all_layers else []
        return torch.cat(outputs), [torch.cat(s) for s in states] if all_layers else []

    def pool(self, x: torch.Tensor, layout: _Layout) -> torch.Tensor | None:  # (T, H) -> (B, H)
        if not self.has_pooler:
            return None
        first = layout.first_tokens(x).float()
        return first if self.pooler is None else torch.tanh(self.pooler(first))

    @torch.inference_mode()
    def __call__(self, word_ids: torch.Tensor, mask: torch.Tensor, type_ids: torch.Tensor | None = None, all_layers: bool = False) -> EncoderOutput:
        """The backbone's outputs, (B, S, H) float32, as `BertModel.forward` returns them."""
        x, layout, states = self.encode_tokens(word_ids, mask, type_ids, all_layers)
        layers = [layout.scatter(s).float() for s in states]
        sequence = layers[-1] if layers else layout.scatter(x).float()
        return EncoderOutput(sequence, layers, self.pool(x, layout))

    @torch.inference_mode()
    def embed(self, word_ids: torch.Tensor, mask: torch.Tensor, type_ids: torch.Tensor | None = None, pooling: str = "mean") -> torch.Tensor:
        """One float32 vector per text: "cls", "mean" (over real tokens) or "pooled"."""
        x, layout, _ = self.encode_tokens(word_ids, mask, type_ids)
        if pooling == "cls":
            return layout.first_tokens(x).float()
        if pooling == "mean":
            return layout.means(x.float())
        if pooling == "pooled":
            if not self.has_pooler:
                raise InputError("this model has no pooler; use pooling='cls' or 'mean'")
            return self.pool(x, layout)
        raise InputError(f"pooling must be 'cls', 'mean' or 'pooled', not {pooling!r}")

    @torch.inference_mode()
    def embed_many(
        self,
        token_ids: list[list[int]],
        type_ids: list[list[int]] | None = None,
        pooling: str = "mean",
        batch_size: int = 32,
        max_tokens: int | None = None,
        progress=None,
    ) -> torch.Tensor:
        """(N, H) float32 vectors for N packed texts (ids with their special tokens), in input order.

        Texts are batched by length (`batching.length_batches`): at most `batch_size` texts and
        `max_tokens` padded positions per batch. `progress(n)` is called after each batch. On a
        GPU the vectors stay there until the last batch is queued: the host prepares the next
        batch while the device computes, and waits once.
        """
        lengths = [len(ids) for ids in token_ids]
        if len(token_ids) == 1 and lengths[0] > 0:  # one text (a request): nothing to batch or pad
            word = torch.as_tensor(np.asarray(token_ids[0], dtype=np.int64)).view(1, -1)
            types = None if type_ids is None else torch.as_tensor(np.asarray(type_ids[0], dtype=np.int64)).view(1, -1)
            vectors = self.embed(word, torch.ones_like(word), types, pooling=pooling)
            if progress is not None:
                progress(1)
            return vectors.cpu()
        budget = max_tokens or batch_size * max(lengths, default=1)
        out = None
        for batch in length_batches(lengths, max_tokens=budget, max_texts=batch_size):
            mask = _padding_mask([lengths[i] for i in batch])
            word = _padded(token_ids, batch, mask)
            types = None if type_ids is None else _padded(type_ids, batch, mask)
            vectors = self.embed(word, torch.from_numpy(mask), types, pooling=pooling)
            if len(batch) == len(token_ids) and batch == sorted(batch):  # all in one batch, in order
                out = vectors
            else:
                if out is None:
                    out = vectors.new_empty(len(token_ids), vectors.shape[1])
                out[torch.as_tensor(batch).to(out.device)] = vectors
            if progress is not None:
                progress(len(batch))
        return out.cpu() if out is not None else torch.empty(0, 0)


def _text_groups(x: torch.Tensor, offsets: torch.Tensor):
    """(rows, offsets within them) of consecutive groups of whole texts of at most
    few_rows.MAX_ROWS rows each, from the (T, H) rows and the texts' (B + 1,) offsets."""
    offsets = offsets.cpu().tolist()
    ends, first = [], 0  # each group's last text + 1
    for text in range(1, len(offsets)):
        if offsets[text] - offsets[first] > few_rows.MAX_ROWS:
            ends.append(text - 1)
            first = text - 1
    ends.append(len(offsets) - 1)
    start = 0
    for end in ends:
        yield x[offsets[start] : offsets[end]], torch.tensor(offsets[start : end + 1], dtype=torch.int32) - offsets[start]
        start = end


def _padding_mask(lengths: list[int]) -> np.ndarray:  # (B, longest) int64, 1 on real tokens
    lengths = np.asarray(lengths)
    return (np.arange(lengths.max()) < lengths[:, None]).astype(np.int64)


def _padded(rows, batch: list[int], mask: np.ndarray) -> torch.Tensor:
    """The rows `batch` of `rows` (lists or arrays of ids) as one (B, longest) int64 tensor,
    zeros after each row's end: one pass over the ids, whatever the batch size."""
    flat = np.fromiter(itertools.chain.from_iterable(rows[i] for i in batch), dtype=np.int64, count=int(mask.sum()))
    padded = np.zeros(mask.shape, dtype=np.int64)
    padded[mask.astype(bool)] = flat  # row-major: each row's ids in order, then its padding
    return torch.from_numpy(padded)
