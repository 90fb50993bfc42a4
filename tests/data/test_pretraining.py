"""Pretraining instances: BERT's sentence pairs and NSP sampling, RoBERTa's full sentences,
streaming, disk shards with static and dynamic masking, and bad corpora."""

import doctest

import numpy as np
import pytest

import bertkit.data.pretraining as pretraining_data
from bertkit.data.masking import Masker, MaskingConfig
from bertkit.data.pretraining import (
    IS_NEXT,
    IS_RANDOM,
    NO_NSP_LABEL,
    CorpusStats,
    InstanceConfig,
    InstanceMaker,
    PretrainingShards,
    Specials,
    read_documents,
    write_shards,
)
from bertkit.errors import InputError

SPECIALS = Specials(cls=2, sep=3, pad=0, mask=4)


def token(doc, sentence, position):
    """Token ids that say where they came from: document, sentence, position."""
    return 100_000 + doc * 10_000 + sentence * 100 + position


def where(t):
    t -= 100_000
    return t // 10_000, (t % 10_000) // 100, t % 100


def synthetic_documents(n_docs, rng, sentences=(3, 12), length=(4, 30)):
    return [
        [
            [token(d, s, p) for p in range(int(rng.integers(*length)))]
            for s in range(int(rng.integers(*sentences)))
        ]
        for d in range(n_docs)
    ]


def segments(instance):
    ids = instance.input_ids
    assert ids[0] == SPECIALS.cls and ids[-1] == SPECIALS.sep
    first_sep = ids.index(SPECIALS.sep)
    return ids[1:first_sep], ids[first_sep + 1 : -1]


def test_pairs_are_framed_and_fit():
    rng = np.random.default_rng(0)
    maker = InstanceMaker(SPECIALS, InstanceConfig(max_seq_length=64))
    instances = list(maker.instances(iter(synthetic_documents(50, rng)), rng))
    assert len(instances) > 100
    for instance in instances:
        a, b = segments(instance)
        assert a and b
        assert len(instance.input_ids) <= 64
        assert instance.type_ids == [0] * (len(a) + 2) + [1] * (len(b) + 1)
        assert SPECIALS.sep not in a + b


def test_next_sentence_sampling_is_half_random_and_never_from_the_same_document():
    rng = np.random.default_rng(1)
    config = InstanceConfig(max_seq_length=128, short_seq_prob=0.0, buffer_documents=40)
    maker = InstanceMaker(SPECIALS, config)
    docs = synthetic_documents(120, rng, sentences=(8, 20))
    instances = list(maker.instances(iter(docs), rng, dupe_factor=2))
    labels = [i.next_sentence_label for i in instances]
    assert len(instances) > 500
    assert abs(np.mean(labels) - 0.5) < 0.05
    for instance in instances:
        a, b = segments(instance)
        a_docs = {where(t)[0] for t in a}
        b_docs = {where(t)[0] for t in b}
        assert len(a_docs) == 1 and len(b_docs) == 1
        if instance.next_sentence_label == IS_RANDOM:
            assert a_docs != b_docs
            # random B comes from the same buffer of documents (streaming)
            assert {d // 40 for d in a_docs} == {d // 40 for d in b_docs}
        else:
            assert instance.next_sentence_label == IS_NEXT
            assert a_docs == b_docs
            # B follows A: its first sentence comes after A's last (truncation may trim ends)
            assert where(b[0])[1] > where(a[-1])[1]


def test_labels_stay_balanced_when_single_sentences_fill_a_sequence():
    rng = np.random.default_rng(8)
    # every sentence is longer than the target: each chunk holds one sentence
    docs = [[[token(d, s, p) for p in range(40)] for s in range(6)] for d in range(80)]
    maker = InstanceMaker(SPECIALS, InstanceConfig(max_seq_length=32, short_seq_prob=0.0))
    instances = list(maker.instances(iter(docs), rng, dupe_factor=3))
    # Google's rule would make all of them random; only a document's last sentence must be now
    assert 0.45 < np.mean([i.next_sentence_label for i in instances]) < 0.62
    for instance in instances:
        a, b = segments(instance)
        if instance.next_sentence_label == IS_NEXT:
            assert where(a[0])[0] == where(b[0])[0] and where(b[0])[1] == where(a[-1])[1] + 1


def test_short_sequences_appear_at_short_seq_prob():
    rng = np.random.default_rng(2)
    docs = synthetic_documents(60, rng, sentences=(20, 30))
    long_only = InstanceMaker(SPECIALS, InstanceConfig(max_seq_length=128, short_seq_prob=0.0))
    mixed = InstanceMaker(SPECIALS, InstanceConfig(max_seq_length=128, short_seq_prob=0.5))
    mean_len = lambda maker: np.mean([len(i.input_ids) for i in maker.instances(iter(docs), rng)])
    assert mean_len(mixed) < 0.8 * mean_len(long_only)


def test_long_sentences_are_truncated_into_the_pair():
    rng = np.random.default_rng(3)
    docs = [[[token(d, s, p) for p in range(90)] for s in range(3)] for d in range(3)]
    maker = InstanceMaker(SPECIALS, InstanceConfig(max_seq_length=32))
    for instance in maker.instances(iter(docs), rng):
        assert len(instance.input_ids) == 32


def test_full_sentences_pack_across_documents_without_nsp():
    rng = np.random.default_rng(4)
    docs = synthetic_documents(30, rng)
    maker = InstanceMaker(SPECIALS, InstanceConfig(max_seq_length=64, next_sentence=False, buffer_documents=7))
    instances = list(maker.instances(iter(docs), rng))
    assert all(i.next_sentence_label == NO_NSP_LABEL for i in instances)
    assert all(len(i.input_ids) <= 64 and set(i.type_ids) == {0} for i in instances)
    packed = sorted(t for i in instances for t in i.input_ids[1:-1] if t != SPECIALS.sep)
    assert packed == sorted(t for d in docs for s in d for t in s)  # every token, once
    # a document boundary inside a sequence is marked by an extra separator
    assert any(SPECIALS.sep in i.input_ids[1:-1] for i in instances)
    assert np.mean([len(i.input_ids) for i in instances]) > 50  # sequences are filled


def test_documents_are_pulled_one_buffer_at_a_time():
    rng = np.random.default_rng(5)
    pulled = []

    def documents():
        for d, doc in enumerate(synthetic_documents(100, np.random.default_rng(0))):
            pulled.append(d)
            yield doc

    maker = InstanceMaker(SPECIALS, InstanceConfig(buffer_documents=10))
    stream = maker.instances(documents(), rng)
    next(stream)
    assert len(pulled) == 10  # a corpus larger than memory is never read whole
    list(stream)
    assert len(pulled) == 100


def test_static_masking_writes_masks_and_dupe_factor_multiplies(tmp_path):
    rng = np.random.default_rng(6)
    docs = synthetic_documents(20, rng)
    masker = Masker(SPECIALS.mask, SPECIALS.ids, 400_000, MaskingConfig(max_predictions=10))
    maker = InstanceMaker(SPECIALS, InstanceConfig(max_seq_length=64), masker)
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
        assert (ids[predicted] == SPECIALS.mask).float().mean() > 0.5
        assert ((batch["input_mask"] == 0) <= (ids == 0)).all()  # padding is pad_id
        assert set(batch["next_sentence_labels"].tolist()) <= {0, 1}


def test_dynamic_masking_masks_afresh_each_epoch(tmp_path):
    rng = np.random.default_rng(7)
    maker = InstanceMaker(SPECIALS, InstanceConfig(max_seq_length=64, next_sentence=False))
    instances = list(maker.instances(iter(synthetic_documents(20, rng)), rng))
    write_shards(instances, tmp_path, 64, 10, pad_id=1, static_masking=False)
    masker = Masker(SPECIALS.mask, SPECIALS.ids, 400_000, MaskingConfig(max_predictions=10))
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


def test_read_documents_splits_on_blank_lines_and_cuts_long_lines(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("one two\nthree\n\n\nfour\n" + "x " * 50 + "\n")
    stats = CorpusStats()
    tokenize = lambda line: [len(w) for w in line.split()]
    docs = list(read_documents([corpus], tokenize, max_sentence_tokens=20, stats=stats))
    assert docs == [[[3, 3], [5]], [[4], [1] * 20, [1] * 20, [1] * 10]]
    assert (stats.documents, stats.split_lines, stats.tokens) == (2, 1, 54)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"text\x00\x01\x02binary", "binary"),
        (b"caf\xe9 latin-1\n", "not UTF-8"),
    ],
)
def test_binary_and_non_utf8_files_are_refused(tmp_path, content, message):
    path = tmp_path / "bad.bin"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        list(read_documents([path], str.split, 10))


def test_empty_and_single_document_corpora(tmp_path):
    maker = InstanceMaker(SPECIALS)
    rng = np.random.default_rng(0)
    with pytest.raises(InputError, match="no text"):
        list(maker.instances(iter([]), rng))
    with pytest.raises(InputError, match="single document.*at least two"):
        list(maker.instances(iter([[[10, 11], [12, 13]]]), rng))
    with pytest.raises(InputError, match="not found"):
        list(read_documents([tmp_path / "missing.txt"], str.split, 10))


def test_docstring_examples_run():
    assert doctest.testmod(pretraining_data).failed == 0
