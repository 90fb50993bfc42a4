"""The transformer, one file per part, in the order of the BERT paper.

    embeddings.py    word + position + token type, LayerNorm, dropout
    attention.py     multi-head self-attention with the padding mask (scaled_dot_product_attention;
                     explicit softmax when the probabilities are asked for)
    feed_forward.py  H -> intermediate -> H with the configured activation
    layer.py         post-LN transformer layer, and the stack of L of them
    pooler.py        tanh dense layer on the first token
    bert.py          BertModel: the backbone those parts compose, and BERT's initialisation
    roberta.py       RobertaModel: BERT's backbone, positions counted from pad_token_id + 1
    distilbert.py    DistilBertModel: no token types, no pooler (first token), sinusoidal positions

Task heads (MLM, NSP, classifier, tagger) go in files of their own beside these.
"""
