"""A DistilBERT student made from a real BERT teacher, read by transformers, against the teacher in transformers.

With every layer copied, the student (DistilBERT's architecture: no token types, no pooler; the
teacher's segment-A embedding folded into the positions) must compute what the teacher computes
on single-segment text. Both sides run in `transformers`: DistilBertModel on the student's
directory, BertModel on the bundled all-MiniLM-L6-v2.
"""

from __future__ import annotations

import corpora
import torch
import transformers

from bertkit import checkpoint
from bertkit.bundled import default_model_dir
from bertkit.modeling.config import BertConfig
from bertkit.train.distill.student import make_student


def test_all_layer_distilbert_student_equals_its_bert_teacher_in_transformers(tmp_path):
    teacher = checkpoint.load_backbone(None)[0]
    student = make_student(
        teacher,
        lambda config: checkpoint.architecture(config).backbone(config),
        layers=range(6),
        model_type="distilbert",
    )
    checkpoint.save(student, student.config, tmp_path, source=default_model_dir())

    theirs_student = transformers.AutoModel.from_pretrained(tmp_path).eval()
    theirs_teacher = transformers.AutoModel.from_pretrained(default_model_dir()).eval()
    assert type(theirs_student).__name__ == "DistilBertModel"
    texts = corpora.license_paragraphs()[::50]  # 16 real paragraphs, many past 128 tokens
    tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path)
    inputs = tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
    with torch.no_grad():
        a = theirs_student(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).last_hidden_state
        b = theirs_teacher(**inputs).last_hidden_state
    real = inputs["attention_mask"].bool()
    assert (a - b)[real].abs().max() < 1e-4


def test_distilbert_masked_lm_head_round_trips_with_transformers(tmp_path):
    torch.manual_seed(0)
    config = BertConfig.from_dict(
        {"model_type": "distilbert", "vocab_size": 30522, "dim": 32, "n_layers": 2, "n_heads": 4, "hidden_dim": 64}
    )
    ours = checkpoint.build_pretraining(config, next_sentence=False).eval()
    with torch.no_grad():
        ours.mlm.bias.normal_()  # a bias that is not zero, so a dropped one shows
    checkpoint.save_pretraining(ours, tmp_path / "ours", source=default_model_dir())
    theirs = transformers.AutoModelForMaskedLM.from_pretrained(tmp_path / "ours").eval()
    assert type(theirs).__name__ == "DistilBertForMaskedLM"
    ids = torch.tensor([[101, 2023, 103, 2003, 102]])
    mask = torch.ones_like(ids)
    with torch.no_grad():
        expected = theirs(input_ids=ids, attention_mask=mask).logits
        assert torch.equal(ours(ids, mask).mlm_logits, expected)
        theirs.save_pretrained(tmp_path / "theirs")
        back = checkpoint.load_pretraining(tmp_path / "theirs")[0].eval()
        assert torch.equal(back(ids, mask).mlm_logits, expected)
