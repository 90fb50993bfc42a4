"""bertkit/pretraining.py: pretraining checkpoints (save/load, tied decoder, heads kept or new) and FillMask."""

import doctest
import logging

import pytest
import torch

import bertkit.checkpoint.pretraining as pretraining_module
import bertkit.modeling.pretraining as heads_module
import bertkit.train.pretrain as pretrain_task_module
from bertkit import checkpoint
from bertkit.errors import CheckpointError, InputError
from bertkit.modeling.config import BertConfig
from bertkit.modeling.pretraining import IGNORE_INDEX, pretraining_loss
from bertkit.preprocessing import Preprocessor
from bertkit.tasks.encoder import Encoder
from bertkit.tasks.fill_mask import FillMask
from bertkit.text.vocab_training import train_wordpiece, write_wordpiece_vocab

TEXTS = ["the cat sat on the mat.", "the dog ate the bone.", "a cat and a dog."] * 5


@pytest.fixture
def tiny(tmp_path):
    vocab = train_wordpiece(TEXTS, vocab_size=60)
    write_wordpiece_vocab(vocab, tmp_path)
    config = BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64)  # fmt: skip
    torch.manual_seed(0)
    return checkpoint.build_pretraining(config), tmp_path


def test_save_and_load_keep_heads_and_the_tie(tiny):
    model, directory = tiny
    with torch.no_grad():
        model.mlm.bias.normal_()
    checkpoint.save_pretraining(model, directory)
    assert checkpoint.has_mlm_head(directory)
    loaded, config, _ = checkpoint.load_pretraining(directory)
    assert loaded.nsp is not None and config.extra["architectures"] == ["BertForPreTraining"]
    assert loaded.mlm.decoder_weight is loaded.backbone.embeddings.word.weight
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name
    mlm_only, _, _ = checkpoint.load_pretraining(directory, next_sentence=False)
    assert mlm_only.nsp is None and mlm_only.backbone.pooler is None


def test_a_pretraining_checkpoint_loads_as_an_encoder_without_warnings(tiny, caplog):
    model, directory = tiny
    checkpoint.save_pretraining(model, directory)
    with caplog.at_level(logging.WARNING, logger="bertkit"):
        encoder = Encoder.from_pretrained(directory)
        checkpoint.load_pretraining(directory, next_sentence=False)  # the NSP head is left out quietly too
    assert caplog.text == ""  # its MLM and NSP heads are expected, as in transformers
    assert torch.equal(encoder.backbone.embeddings.word.weight, model.backbone.embeddings.word.weight)


def test_a_plain_encoder_gets_new_heads_unless_they_are_required(tiny, tmp_path):
    model, directory = tiny
    from bertkit import checkpoint

    checkpoint.save(model.backbone, model.config, tmp_path / "encoder", source=directory)
    assert not checkpoint.has_mlm_head(tmp_path / "encoder")
    fresh, _, _ = checkpoint.load_pretraining(tmp_path / "encoder", next_sentence=True)
    assert torch.equal(fresh.backbone.embeddings.word.weight, model.backbone.embeddings.word.weight)
    assert fresh.mlm.decoder_weight is fresh.backbone.embeddings.word.weight
    assert (fresh.mlm.bias == 0).all()
    with pytest.raises(CheckpointError, match="no masked-LM head"):
        checkpoint.load_pretraining(tmp_path / "encoder", require_heads=True)


def test_loss_counts_and_masked_positions_only(tiny):
    model, _ = tiny
    ids = torch.tensor([[2, 10, 11, 12, 3, 0]])
    labels = torch.full_like(ids, IGNORE_INDEX)
    labels[0, 2] = 11
    out = model(ids, (ids != 0).long(), torch.zeros_like(ids), mlm_labels=labels)
    assert out.mlm_logits.shape == (1, model.config.vocab_size)
    loss = pretraining_loss(out, labels, torch.tensor([1]))
    assert loss.mlm_count == 1 and loss.nsp_count == 1 and loss.loss > 0


def test_fill_mask_gives_top_k_words_for_each_mask(tiny):
    model, directory = tiny
    checkpoint.save_pretraining(model, directory)
    fill = FillMask.from_pretrained(directory)
    answers = fill("the [MASK] sat on the [MASK].", top_k=4)
    assert len(answers) == 2 and all(len(a) == 4 for a in answers)
    for fillers in answers:
        scores = [f["score"] for f in fillers]
        assert scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1.0001
        assert not {f["token"] for f in fillers} & {"[CLS]", "[SEP]", "[PAD]", "[MASK]"}
    with pytest.raises(InputError, match=r"^no \[MASK\] in 'nothing to fill'; write \[MASK\] where"):
        fill("nothing to fill")
    # the mask token is matched exactly: a lower-cased one is named, not silently a word
    with pytest.raises(InputError, match=r"no \[MASK\] in 'the \[mask\] sat.': the mask token is case-sensitive"):
        fill("the [mask] sat.")
    with pytest.raises(InputError, match="top_k"):
        fill("a [MASK]", top_k=0)
    # a mask past the sequence length cannot be filled
    short = FillMask(fill.model, Preprocessor.from_pretrained(directory, seq_length=8))
    with pytest.raises(InputError, match="past the first 8 tokens"):
        short("the cat sat on the mat and the dog [MASK]")


def test_the_high_level_object_fills_masks(tiny):
    import bertkit

    model, directory = tiny
    checkpoint.save_pretraining(model, directory)
    answers = bertkit.load(directory).fill_mask("a [MASK] and a dog.", top_k=2)
    assert len(answers) == 1 and [f["score"] >= 0 for f in answers[0]] == [True, True]


def test_docstring_examples_run():
    for module in (pretraining_module, heads_module, pretrain_task_module):
        assert doctest.testmod(module).failed == 0, module.__name__
