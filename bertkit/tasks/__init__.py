"""What a loaded model does: encode (TF Hub's outputs), predict (classify, tag), fill masks.

encoder.py    Encoder: the TF Hub input dict in, the TF Hub output dict out
prediction.py labels and scores of a fine-tuned classifier or tagger, in input order
fill_mask.py  FillMask: top-k fillers of each mask token from an MLM head
compact.py    compact vectors: the first k dimensions, int8 / uint8 / binary output (sentence-transformers' numbers)
attention.py  attention pictures: each layer's probabilities for a text, drawn as token-by-token heatmaps
"""
