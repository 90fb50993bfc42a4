"""`bertkit pretrain` and `bertkit fill-mask` end to end on tiny models and small real text,
and the one-line errors for bad corpora."""

import json

import corpora
import pytest

from bertkit.cli import main

TINY = [
    "--layers", "1", "--hidden", "32", "--heads", "2", "--vocab-size", "300", "--max-seq-length", "32",
    "--batch-size", "8", "--max-steps", "3", "--epochs", "1", "--dupe-factor", "1", "--no-progress",
    "--precision", "fp32",
]  # fmt: skip


def write_corpus(path, documents):
    path.write_text("\n\n".join("\n".join(doc) for doc in documents) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def real_documents():
    """Changelog entries of real Debian packages: a document each, a line per sentence."""
    docs = []
    for entry in corpora.changelog_entries(max_files=40, per_file=10):
        lines = [line.strip(" *-") for line in entry.splitlines()[1:] if line.strip() and not line.startswith(" --")]
        if len(lines) >= 2:
            docs.append(lines)
    return docs[:200]


def error_line(capsys):
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    return err


def test_pretrain_then_fill_mask(tmp_path, capsys, real_documents):
    corpus = write_corpus(tmp_path / "corpus.txt", real_documents)
    output = tmp_path / "model"
    assert main(["pretrain", "--corpus", str(corpus), "--output", str(output), *TINY]) == 0
    out = capsys.readouterr().out
    assert "vocabulary: 300 WordPiece tokens" in out and "held-out instances from" in out
    assert "saved" in out and "(BertForPreTraining)" in out
    for name in ("config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json", "training/loss_curves.png"):
        assert (output / name).is_file(), name
    history = json.loads((output / "training" / "history.json").read_text())
    assert {"mlm_loss", "mlm_acc", "nsp_acc"} <= set(history["steps"][-1])  # what the progress bar showed
    assert {"mlm_accuracy", "nsp_accuracy"} <= set(history["epochs"][-1])

    assert main(["fill-mask", "--model", str(output), "new upstream [MASK] .", "--top-k", "3", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert len(answer["masks"]) == 1 and len(answer["masks"][0]) == 3
    assert all(f["token"] not in ("[CLS]", "[SEP]", "[PAD]", "[MASK]") for f in answer["masks"][0])

    # resume: the data and vocabulary of the run are reused, training goes on to --max-steps
    assert main(["pretrain", "--output", str(output), "--resume", *TINY, "--max-steps", "5"]) == 0
    assert "reusing the instances" in capsys.readouterr().out


def test_roberta_style_pretraining_and_fill_mask(tmp_path, capsys, real_documents):
    corpus = write_corpus(tmp_path / "corpus.txt", real_documents)
    output = tmp_path / "roberta"
    args = ["pretrain", "--architecture", "roberta", "--corpus", str(corpus), "--output", str(output), *TINY]
    args[args.index("--vocab-size") + 1] = "400"
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "byte-level BPE" in out and "(RobertaForMaskedLM)" in out and "dynamic masking" in out
    assert (output / "vocab.json").is_file() and (output / "merges.txt").is_file()
    assert main(["fill-mask", "--model", str(output), "Update the <mask>."]) == 0
    assert "<mask> 1:" in capsys.readouterr().out


def test_whole_word_masking_without_nsp(tmp_path, capsys, real_documents):
    corpus = write_corpus(tmp_path / "corpus.txt", real_documents[:40])
    output = tmp_path / "wwm"
    assert (
        main(["pretrain", "--corpus", str(corpus), "--output", str(output), "--whole-word-masking", "--no-nsp", *TINY])
        == 0
    )
    assert "(BertForMaskedLM)" in capsys.readouterr().out


def test_empty_corpus(tmp_path, capsys):
    corpus = tmp_path / "empty.txt"
    corpus.write_text("\n\n  \n")
    assert main(["pretrain", "--corpus", str(corpus), "--output", str(tmp_path / "out"), *TINY]) == 1
    assert "no text" in error_line(capsys)


def test_single_document_corpus_needs_two_for_nsp(tmp_path, capsys, real_documents):
    corpus = write_corpus(tmp_path / "one.txt", [sum(real_documents[:10], [])])
    assert main(["pretrain", "--corpus", str(corpus), "--output", str(tmp_path / "out"), *TINY]) == 1
    err = error_line(capsys)
    assert "one.txt" in err and "single document" in err and "at least two" in err and "--no-nsp" in err
    # without NSP one document is enough
    assert main(["pretrain", "--corpus", str(corpus), "--output", str(tmp_path / "out"), "--no-nsp", *TINY]) == 0


def test_lines_longer_than_a_sequence_are_cut_and_reported(tmp_path, capsys, real_documents):
    long_line = " ".join(" ".join(doc) for doc in real_documents[:5])  # hundreds of tokens on one line
    corpus = write_corpus(tmp_path / "long.txt", [[long_line], [long_line[::-1]], *real_documents[5:10]])
    assert main(["pretrain", "--corpus", str(corpus), "--output", str(tmp_path / "out"), *TINY]) == 0
    assert "lines were longer than a sequence (29 tokens) and were cut" in capsys.readouterr().out


@pytest.mark.parametrize(
    "content, message",
    [(b"\x7fELF\x02\x01\x01\x00\x00\x00binary", "binary file"), (b"caf\xe9 au lait\n", "not UTF-8")],
)
def test_binary_and_non_utf8_corpora(tmp_path, capsys, content, message):
    corpus = tmp_path / "data.bin"
    corpus.write_bytes(content)
    assert main(["pretrain", "--corpus", str(corpus), "--output", str(tmp_path / "out"), *TINY]) == 1
    err = error_line(capsys)
    assert "data.bin" in err and message in err


def test_missing_corpus_and_model_without_mlm_head(tmp_path, capsys):
    assert main(["pretrain", "--corpus", str(tmp_path / "nope.txt"), "--output", str(tmp_path / "o"), *TINY]) == 1
    assert "not found" in error_line(capsys)
    assert main(["pretrain", "--output", str(tmp_path / "o")]) == 1
    assert "--corpus" in error_line(capsys)
    assert main(["fill-mask", "a [MASK] here"]) == 1  # the bundled model is a sentence encoder
    assert "no masked-LM head" in error_line(capsys)
