"""The inference engine: the same encoder, run without compute on padding and with packed weights.

A `FastEncoder` is built from a trained backbone (`bertkit.modeling.bert.BertModel` or a
family member) and computes the same outputs, faster: the dense layers run on the real tokens
only, gathered into one (T, H) matrix (`layout.py`), with packed weights and fused epilogues
(`kernels.py`); attention scatters back to (B, S) with the padding mask, or on CUDA in bf16 runs
on the packed tokens (`layer.py`); on CPU a pass of few tokens runs each layer as one C call
(`fused_layer.py`). `precision` picks fp32, bf16 or int8 kernels as this CPU runs them (`cpu.py`;
"auto": the fastest within its accuracy guard). See docs/inference.md.

    >>> import torch
    >>> from bertkit.modeling.config import BertConfig
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
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from bertkit.data.batches import length_batches
from bertkit.errors import InputError
from bertkit.inference import fused_layer
from bertkit.inference.kernels import PRECISIONS, PackedLinear, compute_dtype, resolve_precision
from bertkit.inference.layer import FastLayer
from bertkit.inference.layout import TOKEN_POOLINGS, TokenLayout
from bertkit.inference.smoothing import input_maxima
from bertkit.inference.threads import SINGLE_THREAD_ROWS, SmallPassThreads, set_threads, threads_for


class EncoderOutput(NamedTuple):
    sequence: torch.Tensor  # (B, S, H); zeros at padding positions
    layers: list[torch.Tensor]  # L x (B, S, H); empty unless asked for
    pooled: torch.Tensor | None  # (B, H); None for a model without a pooler


class _RealTokenEmbeddings:
    """A model's input embeddings (word + position + type, LayerNorm) for the real tokens only:
    (T,) ids in, (T, H) out. The sum `modeling/embeddings.py` computes, in the same order
    (bit-identical), without its five module calls (25 against 60 us for one sentence)."""

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
        self.embeddings = _RealTokenEmbeddings(model.embeddings, self.device)
        self.position_ids = _PositionNumbering(model)
        config = model.config
        maxima = input_maxima(model) if precision == "int8" else [None] * config.num_hidden_layers
        self.layers = [
            FastLayer(layer, config.num_attention_heads, config.hidden_act, precision, self.device, input_max)
            for layer, input_max in zip(model.transformer.layers, maxima)
        ]
        # Passes of few tokens take the C layer (fused_layer.py) where every layer can; larger
        # passes too, in groups of whole texts of at most MAX_ROWS rows, where that wins.
        self.uses_c_layer = bool(self.layers) and all(layer.c_layer is not None for layer in self.layers)
        self.c_layer_rows = fused_layer.rows_limits()[precision] if self.uses_c_layer else 0  # token rows
        self.c_layer_groups = self.uses_c_layer and fused_layer.groups_win(precision)
        pooler = getattr(model, "pooler", None)
        dense = getattr(pooler, "dense", None)  # None: DistilBERT's pooled output is the [CLS] state itself
        self.has_pooler = pooler is not None
        self.pooler = None if dense is None else PackedLinear(dense.weight, dense.bias, "fp32", self.device)

    @torch.inference_mode()
    def encode_tokens(
        self, word_ids: torch.Tensor, mask: torch.Tensor, type_ids: torch.Tensor | None = None, all_layers: bool = False
    ):
        """Final states of the real tokens, (T, H), and their layout: in `self.dtype`, or float32
        for passes through the C layer. The cheapest form for pooling: nothing is scattered back."""
        layout = TokenLayout.from_mask(mask, self.device)
        word_ids, mask = word_ids.to(self.device, torch.long), mask.to(self.device, torch.long)
        rows = layout.tokens if self.device.type == "cpu" else SINGLE_THREAD_ROWS
        with threads_for(rows, self.small_passes):
            positions = self.position_ids(mask).expand(word_ids.shape)  # (B, S)
            types = None if type_ids is None else layout.gather(type_ids.to(self.device, torch.long))
            x = self.embeddings(layout.gather(word_ids), layout.gather(positions), types)  # (T, H)
            grouped = self.c_layer_groups and layout.longest <= fused_layer.MAX_ROWS
            if self.uses_c_layer and 0 < layout.tokens and (layout.tokens <= self.c_layer_rows or grouped):
                x, states = self._c_layers(x.float(), layout, all_layers)  # float32 activations in every precision
                return x, layout, states
            states = []
            x = x.to(self.dtype)
            for layer in self.layers:
                x = layer(x, layout)
                if all_layers:
                    states.append(x)
        return x, layout, states

    def _c_layers(
        self, x: torch.Tensor, layout: TokenLayout, all_layers: bool
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Every layer as the C layer computes it, on consecutive groups of whole texts of at
        most MAX_ROWS rows (one group for a pass of few tokens): (T, H) final states, and each
        layer's if `all_layers`."""
        threads = torch.get_num_threads()
        outputs, states = [], [[] for _ in self.layers]
        for rows, offsets in layout.text_groups(x, fused_layer.MAX_ROWS):
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

    def pool(self, x: torch.Tensor, layout: TokenLayout) -> torch.Tensor | None:  # (T, H) -> (B, H)
        if not self.has_pooler:
            return None
        first = layout.first_tokens(x).float()
        return first if self.pooler is None else torch.tanh(self.pooler(first))

    @torch.inference_mode()
    def __call__(
        self, word_ids: torch.Tensor, mask: torch.Tensor, type_ids: torch.Tensor | None = None, all_layers: bool = False
    ) -> EncoderOutput:
        """The backbone's outputs, (B, S, H) float32, as `BertModel.forward` returns them."""
        x, layout, states = self.encode_tokens(word_ids, mask, type_ids, all_layers)
        layers = [layout.scatter(s).float() for s in states]
        sequence = layers[-1] if layers else layout.scatter(x).float()
        return EncoderOutput(sequence, layers, self.pool(x, layout))

    @torch.inference_mode()
    def embed(
        self,
        word_ids: torch.Tensor,
        mask: torch.Tensor,
        type_ids: torch.Tensor | None = None,
        pooling: str = "mean",
        skip: int = 0,
    ) -> torch.Tensor:
        """One float32 vector per text: "pooled" (the pooler's output) or one of
        `layout.TOKEN_POOLINGS` ("cls", "mean" over real tokens, "max", ...), leaving out
        `skip` leading tokens of each text (`TokenLayout.pool`)."""
        if pooling == "pooled":
            if not self.has_pooler:
                raise InputError("this model has no pooler; pool its tokens instead (pooling='cls' or 'mean')")
            x, layout, _ = self.encode_tokens(word_ids, mask, type_ids)
            return self.pool(x, layout)
        if pooling not in TOKEN_POOLINGS:
            raise InputError(f"pooling must be one of {', '.join((*TOKEN_POOLINGS, 'pooled'))}, not {pooling!r}")
        x, layout, _ = self.encode_tokens(word_ids, mask, type_ids)
        if pooling == "cls" and skip == 0:
            return layout.first_tokens(x).float()
        return layout.pool(x.float(), pooling, skip)

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

        Texts are batched by length (`bertkit.data.batches.length_batches`): at most `batch_size` texts and
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
