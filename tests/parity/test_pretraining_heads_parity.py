"""Our MLM and NSP heads against `transformers`' BertForPreTraining / BertForMaskedLM /
RobertaForMaskedLM on the same random weights, and checkpoints both ways."""

import pytest
import torch
import transformers

from bertkit import checkpoint
from bertkit.modeling.config import BertConfig
from bertkit.modeling.pretraining import IGNORE_INDEX, pretraining_loss

SIZES = dict(vocab_size=500, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128)
TOLERANCE = 1e-4


def inputs(vocab_size, pad_id=0, batch=3, length=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab_size, (batch, length), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 17:] = 0  # padding in one row
    ids[mask == 0] = pad_id
    types = torch.zeros_like(ids)
    types[:, 10:] = 1
    return ids, mask, types


def randomised(model):
    """Random non-trivial head weights (fresh heads start at zero biases and unit LayerNorms)."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm" in name or "layer_norm" in name or name.endswith("bias"):
                p.copy_(p + 0.1 * torch.randn(p.shape, generator=g))
    return model


@pytest.fixture(scope="module")
def hf_pretraining_dir(tmp_path_factory):
    torch.manual_seed(0)
    model = randomised(transformers.BertForPreTraining(transformers.BertConfig(**SIZES))).eval()
    directory = tmp_path_factory.mktemp("hf_bert_pretraining")
    model.save_pretrained(directory)
    return model, directory


def test_our_heads_match_bert_for_pretraining_on_its_checkpoint(hf_pretraining_dir):
    reference, directory = hf_pretraining_dir
    ours, config, _ = checkpoint.load_pretraining(directory)
    ours.eval()
    assert ours.nsp is not None  # the file has cls.seq_relationship.*
    ids, mask, types = inputs(config.vocab_size)
    with torch.no_grad():
        theirs = reference(input_ids=ids, attention_mask=mask, token_type_ids=types)
        out = ours(ids, mask, types)
    real = mask.bool()
    assert (out.mlm_logits[real] - theirs.prediction_logits[real]).abs().max() < TOLERANCE
    assert (out.nsp_logits - theirs.seq_relationship_logits).abs().max() < TOLERANCE
    assert ours.mlm.decoder_weight is ours.backbone.embeddings.word.weight


def test_our_heads_match_bert_for_masked_lm_on_its_checkpoint(tmp_path):
    torch.manual_seed(6)
    reference = randomised(transformers.BertForMaskedLM(transformers.BertConfig(**SIZES))).eval()
    reference.save_pretrained(tmp_path)
    ours, config, _ = checkpoint.load_pretraining(tmp_path)
    ours.eval()
    assert ours.nsp is None and ours.backbone.pooler is None  # BertForMaskedLM has neither
    ids, mask, types = inputs(config.vocab_size, seed=7)
    with torch.no_grad():
        theirs = reference(input_ids=ids, attention_mask=mask, token_type_ids=types).logits
        out = ours(ids, mask, types)
    real = mask.bool()
    assert (out.mlm_logits[real] - theirs[real]).abs().max() < TOLERANCE


def test_joint_loss_matches_the_reference(hf_pretraining_dir):
    reference, directory = hf_pretraining_dir
    ours, config, _ = checkpoint.load_pretraining(directory)
    ours.eval()
    ids, mask, types = inputs(config.vocab_size, seed=3)
    labels = torch.full_like(ids, IGNORE_INDEX)
    labels[:, [2, 5, 11]] = ids[:, [2, 5, 11]]
    nsp = torch.tensor([0, 1, 1])
    with torch.no_grad():
        theirs = reference(
            input_ids=ids, attention_mask=mask, token_type_ids=types, labels=labels, next_sentence_label=nsp
        )
        loss = pretraining_loss(ours(ids, mask, types, mlm_labels=labels), labels, nsp)
    assert abs(loss.loss.item() - theirs.loss.item()) < TOLERANCE
    assert loss.mlm_count == 9 and loss.nsp_count == 3


@pytest.mark.parametrize("next_sentence", [True, False])
def test_transformers_reads_our_checkpoints(tmp_path, next_sentence):
    torch.manual_seed(2)
    config = BertConfig(**SIZES)
    ours = randomised(checkpoint.build_pretraining(config, next_sentence=next_sentence)).eval()
    checkpoint.save_pretraining(ours, tmp_path)
    ids, mask, types = inputs(config.vocab_size, seed=4)
    with torch.no_grad():
        out = ours(ids, mask, types)
    real = mask.bool()
    classes = [transformers.BertForMaskedLM] + ([transformers.BertForPreTraining] if next_sentence else [])
    for cls in classes:
        reference, info = cls.from_pretrained(tmp_path, output_loading_info=True)
        assert info["missing_keys"] == set() or not info["missing_keys"], (cls, info)
        reference.eval()
        with torch.no_grad():
            theirs = reference(input_ids=ids, attention_mask=mask, token_type_ids=types)
        logits = theirs.prediction_logits if cls is transformers.BertForPreTraining else theirs.logits
        assert (out.mlm_logits[real] - logits[real]).abs().max() < TOLERANCE, cls
        if cls is transformers.BertForPreTraining:
            assert (out.nsp_logits - theirs.seq_relationship_logits).abs().max() < TOLERANCE
    auto = transformers.AutoModelForMaskedLM.from_pretrained(tmp_path)
    assert type(auto).__name__ == "BertForMaskedLM"


def test_roberta_lm_head_both_ways(tmp_path):
    torch.manual_seed(5)
    hf_config = transformers.RobertaConfig(**SIZES, max_position_embeddings=40, type_vocab_size=1)
    reference = randomised(transformers.RobertaForMaskedLM(hf_config)).eval()
    reference.save_pretrained(tmp_path / "theirs")
    ours, config, _ = checkpoint.load_pretraining(tmp_path / "theirs")
    ours.eval()
    assert ours.nsp is None
    ids, mask, _ = inputs(config.vocab_size, pad_id=1)
    types = torch.zeros_like(ids)
    with torch.no_grad():
        theirs = reference(input_ids=ids, attention_mask=mask).logits
        out = ours(ids, mask, types)
    real = mask.bool()
    assert (out.mlm_logits[real] - theirs[real]).abs().max() < TOLERANCE
    checkpoint.save_pretraining(ours, tmp_path / "ours")
    back = transformers.AutoModelForMaskedLM.from_pretrained(tmp_path / "ours").eval()
    assert type(back).__name__ == "RobertaForMaskedLM"
    with torch.no_grad():
        again = back(input_ids=ids, attention_mask=mask).logits
    assert (again[real] - theirs[real]).abs().max() < TOLERANCE
