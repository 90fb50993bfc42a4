"""bertkit/data/shards.py: instances on disk with static and dynamic masking, read back as batches;
a corpus prepared into train/eval shards."""

import doctest

import numpy as np
import pytest

import bertkit.data.shards as shards_module
from bertkit.bundled import default_model_dir
from bertkit.data.instances import DataSettings, InstanceMaker
from bertkit.data.masking import Masker, MaskingConfig
from bertkit.data.shards import (
    PretrainingShards,
    has_prepared_data,
    open_shards,
    prepare_data,
    write_shards,
)
from bertkit.errors import InputError
from bertkit.text.loading import load_text_stages
from bertkit.text.packing import PackingLayout

CLS, SEP, PAD, MASK = 2, 3, 0, 4
LAYOUT = PackingLayout.bert(cls_id=CLS, sep_id=SEP, pad_id=PAD)


def synthetic_documents(n_docs, rng, sentences=(3, 12), length=(4, 30)):
    return [
        [[100_000 + d * 10_000 + s * 100 + p for p in range(int(rng.integers(*length)))]
         for s in range(int(rng.integers(*sentences)))]
        for d in range(n_docs)
    ]  # fmt: skip


def test_static_masking_writes_masks_and_dupe_factor_multiplies(tmp_path):
    rng = np.random.default_rng(6)
    docs = synthetic_documents(20, rng)
    masker = Masker(MASK, [CLS, SEP, PAD], 400_000, MaskingConfig(max_predictions=10))
    maker = InstanceMaker(LAYOUT, DataSettings(max_seq_length=64), masker)
    once = list(maker.instances(iter(docs), np.random.default_rng(0), dupe_factor=1))
    thrice = list(maker.instances(iter(docs), np.random.default_rng(0), dupe_factor=3))
    assert 2.5 * len(once) < len(thrice) < 3.5 * len(once)
    meta = write_shards(thrice, tmp_path, 64, 10, pad_id=0, static_masking=True, instances_per_shard=100)
    assert meta["instances"] == len(thrice) and len(meta["shards"]) == -(-len(thrice) // 100)
    shards = PretrainingShards(tmp_path)
    assert len(shards) == len(thrice)
    plan = shards.epoch_batches(0, batch_size=16)
    assert sorted(n for b in plan for n in b) == list(range(len(thrice)))
    assert sorted(n for b in shards.epoch_batches(1, batch_size=16) for n in b)[0] == len(thrice)
    batches = [shards.collate(b) for b in plan]
    assert sum(len(b["next_sentence_labels"]) for b in batches) == len(thrice)
    for batch in batches:
        labels, ids = batch["mlm_labels"], batch["input_word_ids"]
        predicted = labels != -100
        assert (predicted.sum(1) <= 10).all() and (predicted.sum(1) >= 1).all()
        assert (ids[predicted] == MASK).float().mean() > 0.5
        assert ((batch["input_mask"] == 0) <= (ids == 0)).all()  # padding is pad_id
        assert set(batch["next_sentence_labels"].tolist()) <= {0, 1}


def test_dynamic_masking_masks_afresh_each_epoch(tmp_path):
    rng = np.random.default_rng(7)
    maker = InstanceMaker(LAYOUT, DataSettings(max_seq_length=64, next_sentence=False))
    instances = list(maker.instances(iter(synthetic_documents(20, rng)), rng))
    write_shards(instances, tmp_path, 64, 10, pad_id=1, static_masking=False)
    masker = Masker(MASK, [CLS, SEP, PAD], 400_000, MaskingConfig(max_predictions=10))
    shards = PretrainingShards(tmp_path, masker=masker)
    first = next(shards.batches(len(instances), epoch=0))
    second = next(shards.batches(len(instances), epoch=1))
    original = lambda b: b["input_word_ids"].where(b["mlm_labels"] == -100, b["mlm_labels"])
    assert (original(first) == original(second)).all()  # same instances, in order
    assert not (first["mlm_labels"] == second["mlm_labels"]).all()  # masked afresh
    assert (first["input_word_ids"][first["input_mask"] == 0] == 1).all()  # pad_id
    # the masks of an example do not depend on the batch it is in (resume, DDP)
    alone = shards.collate([3])
    assert (alone["mlm_labels"][0] == first["mlm_labels"][3, : alone["mlm_labels"].shape[1]]).all()
    with pytest.raises(InputError, match="dynamic masking needs a masker"):
        PretrainingShards(tmp_path)


def test_a_corpus_is_prepared_into_train_and_held_out_shards(tmp_path):
    corpus = tmp_path / "corpus.txt"
    documents = [[f"sentence {s} of document {d} says something." for s in range(4)] for d in range(30)]
    corpus.write_text("\n\n".join("\n".join(doc) for doc in documents) + "\n", encoding="utf-8")
    tokenizer, layout = load_text_stages(default_model_dir())
    settings = DataSettings(max_seq_length=32, dupe_factor=2, hold_out_every=10)
    summary = prepare_data([corpus], tokenizer, layout, settings, tmp_path / "data")
    assert (summary["documents"], summary["held_out_documents"]) == (30, 3)
    assert has_prepared_data(tmp_path / "data") and not has_prepared_data(tmp_path)
    train, evaluation = open_shards(tmp_path / "data", tokenizer, layout, settings)
    assert (len(train), len(evaluation)) == (summary["train_instances"], summary["eval_instances"])
    batch = next(evaluation.batches(4))
    assert (batch["input_word_ids"][:, 0] == layout.start[0]).all()
    with pytest.raises(InputError, match="holds no text"):
        (tmp_path / "blank.txt").write_text("\n\n", encoding="utf-8")
        prepare_data([tmp_path / "blank.txt"], tokenizer, layout, settings, tmp_path / "none")


def test_docstring_examples_run():
    assert doctest.testmod(shards_module).failed == 0
