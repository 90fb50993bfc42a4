"""Distillation (Hinton et al. 2015; DistilBERT, Sanh et al. 2019): a small student learns from a teacher.

    losses.py   the loss terms as pure functions: soft targets at a temperature, masked-LM
                cross-entropy, cosine alignment of hidden states, hard labels
    student.py  a student initialised from its teacher: embeddings and a chosen subset of the
                layers, in the teacher's architecture or in DistilBERT's

The training itself (general distillation on raw text, task distillation of a fine-tuned
classifier) runs on the shared loop, in `bertkit/train/distill.py`.
"""
