"""Masking statistics over many sequences: BERT's 15% and 80/10/10, specials never masked,
whole words kept whole, the prediction budget respected."""

import doctest

import numpy as np
import pytest

import bertkit.data.masking as masking
from bertkit.bundled import default_model_dir
from bertkit.data.masking import Masker, MaskingConfig
from bertkit.errors import InputError
from bertkit.text.loading import load_text_stages

PAD, UNK, CLS, SEP, MASK = 0, 1, 2, 3, 4
SPECIALS = [PAD, UNK, CLS, SEP]
VOCAB = 1000
# ids 500..999 continue a word ("##x"), ids 5..499 start one
CONTINUATION = [i >= 500 for i in range(VOCAB)]


def random_sequences(n, rng, length=(20, 126)):
    for _ in range(n):
        body = rng.integers(5, VOCAB, size=int(rng.integers(*length))).tolist()
        cut = int(rng.integers(1, len(body)))
        yield [CLS, *body[:cut], SEP, *body[cut:], SEP, PAD, PAD]


def candidates(ids):
    return [i for i, t in enumerate(ids) if t not in SPECIALS]


def test_budget_is_15_percent_of_the_ordinary_tokens_capped_by_max_predictions():
    rng = np.random.default_rng(0)
    masker = Masker(MASK, SPECIALS, VOCAB, MaskingConfig(max_predictions=15))
    total_candidates = total_predicted = 0
    for ids in random_sequences(500, rng):
        m = masker(ids, rng)
        n = len(candidates(ids))
        assert len(m.positions) == min(15, max(1, round(0.15 * n)))
        assert m.positions == sorted(set(m.positions))
        total_candidates += n
        total_predicted += len(m.positions)
    uncapped = Masker(MASK, SPECIALS, VOCAB, MaskingConfig(max_predictions=200))
    rates = [len(uncapped(ids, rng).positions) / len(candidates(ids)) for ids in random_sequences(500, rng)]
    assert abs(np.mean(rates) - 0.15) < 0.005


def test_80_10_10_and_no_special_token_is_ever_touched():
    rng = np.random.default_rng(1)
    masker = Masker(MASK, SPECIALS, VOCAB, MaskingConfig(max_predictions=200))
    masked = random_replaced = kept = 0
    for ids in random_sequences(3000, rng):
        m = masker(ids, rng)
        assert all(ids[p] not in SPECIALS for p in m.positions)
        assert m.labels == [ids[p] for p in m.positions]
        # outside the chosen positions nothing changes; specials stay where they were
        for i, (before, after) in enumerate(zip(ids, m.input_ids)):
            if i not in m.positions:
                assert before == after
        for p in m.positions:
            new = m.input_ids[p]
            if new == MASK:
                masked += 1
            elif new == ids[p]:
                kept += 1
            else:
                assert new not in SPECIALS  # random replacements are ordinary tokens
                random_replaced += 1
    total = masked + random_replaced + kept
    assert total > 30_000
    assert abs(masked / total - 0.8) < 0.01
    assert abs(random_replaced / total - 0.1) < 0.01  # minus the 1/995 chance of drawing the same id
    assert abs(kept / total - 0.1) < 0.01


def test_whole_word_masking_masks_words_entirely():
    rng = np.random.default_rng(2)
    config = MaskingConfig(max_predictions=20, whole_word=True)
    masker = Masker(MASK, SPECIALS, VOCAB, config, continuation=CONTINUATION)
    multi_piece_words_masked = 0
    for ids in random_sequences(500, rng):
        m = masker(ids, rng)
        chosen = set(m.positions)
        assert len(chosen) <= 20
        for group in masker.word_groups(np.asarray(ids)):
            inside = [p in chosen for p in group]
            assert all(inside) or not any(inside), (ids, group, m.positions)
            multi_piece_words_masked += len(group) > 1 and all(inside)
        assert all(ids[p] not in SPECIALS for p in chosen)
    assert multi_piece_words_masked > 100


def test_word_groups_follow_continuations_and_stop_at_specials():
    masker = Masker(MASK, SPECIALS, VOCAB, MaskingConfig(whole_word=True), continuation=CONTINUATION)
    ids = np.array([CLS, 10, 600, 601, 11, SEP, 700, 12, SEP])
    # 700 continues nothing: after [SEP] it starts a word of its own
    assert masker.word_groups(ids) == [[1, 2, 3], [4], [6], [7]]


def test_a_sequence_of_specials_only_gets_no_predictions():
    m = Masker(MASK, SPECIALS, VOCAB)([CLS, SEP, PAD], np.random.default_rng(0))
    assert m.positions == [] and m.input_ids == [CLS, SEP, PAD]


def test_settings_are_checked():
    with pytest.raises(InputError):
        MaskingConfig(probability=0)
    with pytest.raises(InputError):
        MaskingConfig(mask_fraction=0.9, random_fraction=0.2)
    with pytest.raises(InputError, match="whole-word"):
        Masker(MASK, SPECIALS, VOCAB, MaskingConfig(whole_word=True))


def test_a_masker_for_a_tokenizer_and_its_layout():
    tokenizer, layout = load_text_stages(default_model_dir())
    masker = Masker.for_text(tokenizer, layout, MaskingConfig(whole_word=True))
    specials = [tokenizer.token_id(name) for name in ("cls_token", "sep_token", "pad_token", "mask_token")]
    assert masker.mask_id == specials[3] and masker.special[specials].all() and masker.special.sum() == 4
    word = tokenizer.encode("unaffable")  # several pieces, the later ones "##"
    assert len(word) > 1 and masker.continuation[word[1:]].all() and not masker.continuation[word[0]]


def test_docstring_examples_run():
    assert doctest.testmod(masking).failed == 0
