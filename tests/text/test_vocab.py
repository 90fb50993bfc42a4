import pytest

from bertkit.errors import BertkitError, VocabError
from bertkit.text.vocab import read_settings, read_vocab


def test_line_number_is_the_id_and_only_newline_ends_a_line(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("[PAD]\n[UNK]\na\u2028b\nc\n", encoding="utf-8")
    assert read_vocab(path) == {"[PAD]": 0, "[UNK]": 1, "a\u2028b": 2, "c": 3}


def test_missing_empty_binary_vocab_name_the_file(tmp_path):
    cases = {
        "missing.txt": None,
        "empty.txt": b"",
        "binary.txt": b"\x89PNG\r\n\x1a\n\xff\xfe\x00",
        "nul.txt": b"\x00\x00\x00\n",
    }
    for name, content in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        with pytest.raises(VocabError, match=name):
            read_vocab(path)
    with pytest.raises(BertkitError, match="directory"):
        read_vocab(tmp_path)


def test_settings_default_without_config(tmp_path):
    settings = read_settings(tmp_path / "tokenizer_config.json")
    assert settings.lowercase is True and settings.strip_accents is None and settings.cjk_chars is True
    assert settings.special_tokens["cls_token"] == "[CLS]"


def test_settings_read_flags_and_token_objects(tmp_path):
    path = tmp_path / "tokenizer_config.json"
    path.write_text(
        '{"do_lower_case": false, "strip_accents": true, "tokenize_chinese_chars": false,'
        ' "unk_token": {"content": "<unk>", "lstrip": false}, "cls_token": "<cls>"}'
    )
    settings = read_settings(path)
    assert (settings.lowercase, settings.strip_accents, settings.cjk_chars) == (False, True, False)
    assert settings.special_tokens["unk_token"] == "<unk>"
    assert settings.special_tokens["cls_token"] == "<cls>"
    assert settings.special_tokens["sep_token"] == "[SEP]"


def test_malformed_config_names_the_file(tmp_path):
    path = tmp_path / "tokenizer_config.json"
    for content in ["{not json", "[1, 2]", '{"do_lower_case": "yes"}']:
        path.write_text(content)
        with pytest.raises(VocabError, match="tokenizer_config.json"):
            read_settings(path)
