import pytest

from bertkit.bundled import default_model_dir
from bertkit.errors import VocabError
from bertkit.text.bert_tokenizer import BertTokenizer
from bertkit.text.loading import load_text_stages, load_tokenizer
from bertkit.text.packing import PackingLayout


def test_vocab_txt_means_wordpiece_and_bert_layout():
    tokenizer, layout = load_text_stages(default_model_dir())
    assert isinstance(tokenizer, BertTokenizer)
    assert layout == PackingLayout.bert(cls_id=101, sep_id=102, pad_id=0)
    assert isinstance(load_tokenizer(default_model_dir()), BertTokenizer)


def test_directory_without_tokenizer_files(tmp_path):
    with pytest.raises(VocabError, match="no tokenizer files"):
        load_text_stages(tmp_path)


def test_vocab_without_required_special_tokens_names_the_file(tmp_path):
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\nhello\n")
    with pytest.raises(VocabError, match=r"vocab\.txt.*cls_token"):
        load_text_stages(tmp_path)


def test_cased_vocab_from_tokenizer_config(tmp_path):
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nHello\nhello\n")
    (tmp_path / "tokenizer_config.json").write_text('{"do_lower_case": false}')
    assert load_tokenizer(tmp_path).encode("Hello hello HELLO") == [5, 6, 1]
