"""RoBERTa's backbone: BERT's, with positions that start after the padding id (Liu et al. 2019).

RoBERTa changed BERT's pretraining (more data, dynamic masking, no next-sentence task,
byte-level BPE), not its layers. The one difference in the network is where positions are
counted from: fairseq numbers real tokens `pad_token_id + 1, pad_token_id + 2, ...` and gives
padding the position `pad_token_id`, which is why roberta-base has 514 position embeddings
for 512 tokens. Everything else (LayerNorm epsilon 1e-5, one token type, the pooler) is
configuration, read from config.json.

    >>> import torch
    >>> from bertkit.modeling.config import BertConfig
    >>> config = BertConfig(model_type="roberta", pad_token_id=1, type_vocab_size=1, vocab_size=50,
    ...                     hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
    ...                     intermediate_size=64, max_position_embeddings=10)
    >>> model = RobertaModel(config).eval()
    >>> model.position_ids(torch.tensor([[1, 1, 1, 0, 0]])).tolist()
    [[2, 3, 4, 1, 1]]
"""

from __future__ import annotations

import torch

from bertkit.errors import InputError
from bertkit.modeling.bert import BertModel


class RobertaModel(BertModel):
    def position_ids(self, mask: torch.Tensor) -> torch.Tensor:  # (B, S) -> (B, S)
        """Real tokens count from `pad_token_id + 1`; padding sits at `pad_token_id`.

        Counted over the mask, so a token's position does not depend on padding before it;
        the reference counts the ids that are not `<pad>`, which is the same for any input
        the preprocessor makes (it writes `<pad>` only where the mask is 0).
        """
        longest = self.config.max_position_embeddings - self.config.pad_token_id - 1  # roberta-base: 512
        if mask.shape[1] > longest:
            raise InputError(
                f"sequences of {mask.shape[1]} tokens are longer than this RoBERTa model's {longest} "
                "positions; use a smaller seq_length"
            )
        mask = mask.long()
        return torch.cumsum(mask, dim=1) * mask + self.config.pad_token_id
