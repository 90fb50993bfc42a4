"""bertkit/data/instances.py: BERT's sentence pairs and NSP sampling, RoBERTa's full sentences,
framed by the packing layout, streamed a buffer of documents at a time."""

import doctest

import numpy as np
import pytest

import bertkit.data.instances as instances_module
from bertkit.data.instances import IS_NEXT, IS_RANDOM, NO_NSP_LABEL, DataSettings, InstanceMaker
from bertkit.errors import InputError
from bertkit.text.packing import PackingLayout

CLS, SEP, PAD, MASK = 2, 3, 0, 4
LAYOUT = PackingLayout.bert(cls_id=CLS, sep_id=SEP, pad_id=PAD)


def token(doc, sentence, position):
    """Token ids that say where they came from: document, sentence, position."""
    return 100_000 + doc * 10_000 + sentence * 100 + position


def where(t):
    t -= 100_000
    return t // 10_000, (t % 10_000) // 100, t % 100


def synthetic_documents(n_docs, rng, sentences=(3, 12), length=(4, 30)):
    return [
        [[token(d, s, p) for p in range(int(rng.integers(*length)))] for s in range(int(rng.integers(*sentences)))]
        for d in range(n_docs)
    ]


def segments(instance):
    ids = instance.input_ids
    assert ids[0] == CLS and ids[-1] == SEP
    first_sep = ids.index(SEP)
    return ids[1:first_sep], ids[first_sep + 1 : -1]


def test_pairs_are_framed_and_fit():
    rng = np.random.default_rng(0)
    maker = InstanceMaker(LAYOUT, DataSettings(max_seq_length=64))
    instances = list(maker.instances(iter(synthetic_documents(50, rng)), rng))
    assert len(instances) > 100
    for instance in instances:
        a, b = segments(instance)
        assert a and b
        assert len(instance.input_ids) <= 64
        assert instance.type_ids == [0] * (len(a) + 2) + [1] * (len(b) + 1)
        assert SEP not in a + b


def test_next_sentence_sampling_is_half_random_and_never_from_the_same_document():
    rng = np.random.default_rng(1)
    config = DataSettings(max_seq_length=128, short_seq_prob=0.0, buffer_documents=40)
    maker = InstanceMaker(LAYOUT, config)
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
    maker = InstanceMaker(LAYOUT, DataSettings(max_seq_length=32, short_seq_prob=0.0))
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
    long_only = InstanceMaker(LAYOUT, DataSettings(max_seq_length=128, short_seq_prob=0.0))
    mixed = InstanceMaker(LAYOUT, DataSettings(max_seq_length=128, short_seq_prob=0.5))
    mean_len = lambda maker: np.mean([len(i.input_ids) for i in maker.instances(iter(docs), rng)])
    assert mean_len(mixed) < 0.8 * mean_len(long_only)


def test_long_sentences_are_truncated_into_the_pair():
    rng = np.random.default_rng(3)
    docs = [[[token(d, s, p) for p in range(90)] for s in range(3)] for d in range(3)]
    maker = InstanceMaker(LAYOUT, DataSettings(max_seq_length=32))
    for instance in maker.instances(iter(docs), rng):
        assert len(instance.input_ids) == 32


def test_full_sentences_pack_across_documents_without_nsp():
    rng = np.random.default_rng(4)
    docs = synthetic_documents(30, rng)
    maker = InstanceMaker(LAYOUT, DataSettings(max_seq_length=64, next_sentence=False, buffer_documents=7))
    instances = list(maker.instances(iter(docs), rng))
    assert all(i.next_sentence_label == NO_NSP_LABEL for i in instances)
    assert all(len(i.input_ids) <= 64 and set(i.type_ids) == {0} for i in instances)
    packed = sorted(t for i in instances for t in i.input_ids[1:-1] if t != SEP)
    assert packed == sorted(t for d in docs for s in d for t in s)  # every token, once
    # a document boundary inside a sequence is marked by an extra separator
    assert any(SEP in i.input_ids[1:-1] for i in instances)
    assert np.mean([len(i.input_ids) for i in instances]) > 50  # sequences are filled


def test_roberta_sequences_are_framed_by_its_layout():
    rng = np.random.default_rng(9)
    roberta = PackingLayout.roberta(cls_id=0, sep_id=2, pad_id=1)
    docs = synthetic_documents(12, rng)
    full = InstanceMaker(roberta, DataSettings(max_seq_length=64, next_sentence=False))
    for instance in full.instances(iter(docs), rng):
        assert instance.input_ids[0] == 0 and instance.input_ids[-1] == 2 and set(instance.type_ids) == {0}
    pairs = InstanceMaker(roberta, DataSettings(max_seq_length=64))
    for instance in pairs.instances(iter(docs), rng):
        ids = instance.input_ids
        assert len(ids) <= 64 and ids.count(2) == 3 and ids[ids.index(2) + 1] == 2  # <s> A </s></s> B </s>
        assert set(instance.type_ids) == {0}  # RoBERTa has no segment embedding to feed


def test_documents_are_pulled_one_buffer_at_a_time():
    rng = np.random.default_rng(5)
    pulled = []

    def documents():
        for d, doc in enumerate(synthetic_documents(100, np.random.default_rng(0))):
            pulled.append(d)
            yield doc

    maker = InstanceMaker(LAYOUT, DataSettings(buffer_documents=10))
    stream = maker.instances(documents(), rng)
    next(stream)
    assert len(pulled) == 10  # a corpus larger than memory is never read whole
    list(stream)
    assert len(pulled) == 100


def test_empty_and_single_document_corpora():
    maker = InstanceMaker(LAYOUT)
    rng = np.random.default_rng(0)
    with pytest.raises(InputError, match="no text"):
        list(maker.instances(iter([]), rng))
    with pytest.raises(InputError, match="single document.*at least two"):
        list(maker.instances(iter([[[10, 11], [12, 13]]]), rng))


def test_docstring_examples_run():
    assert doctest.testmod(instances_module).failed == 0
