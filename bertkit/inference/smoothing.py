"""SmoothQuant's calibration for int8 (Xiao et al. 2023): per-input-channel factors that move
the outlier channels of the LayerNorm-fed products' inputs (QKV, the feed-forward's first)
into their weights. Why, and what it gains: docs/inference.md ("Accuracy guards")."""

from __future__ import annotations

import torch

SMOOTHING_ALPHA = 0.5  # SmoothQuant's migration strength: s_j = max|x_j|^a / max|W_j|^(1-a)


@torch.no_grad()
def input_maxima(model, batch: int = 16, length: int = 32, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per layer, max |x_j| of each hidden channel j entering the QKV and the feed-forward products,
    from the model's own forward pass on random tokens of its vocabulary (the same every time:
    `seed`): the outlier channels of BERT-family models belong to the weights, not to the text
    (as accurate as calibrating on real text, docs/inference.md)."""
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


def smoothing_factors(input_max: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """SmoothQuant's per-input-channel factors for a product x @ weight.T."""
    weight_max = weight.detach().float().abs().amax(dim=0).clamp_min(1e-5)
    return (input_max.clamp_min(1e-5) ** SMOOTHING_ALPHA / weight_max ** (1 - SMOOTHING_ALPHA)).clamp(1e-2, 1e2)
