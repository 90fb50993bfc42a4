"""`bertkit explain TEXT...`: the TF Hub notebook's 输出结果解读 ("reading the output") as a command.

$ bertkit explain "This is a spam mail" "Computers are not unique to computers"
$ bertkit explain "Is this spam?" --pair "No, it is not." --lang zh
$ LANG=zh_CN.UTF-8 bertkit explain "This is a spam mail"       # Chinese from the locale

Each token beside its input_word_ids, input_type_ids and input_mask values, then the shape of
every encoder output with one line on what it holds, in English or Chinese (`--lang`, default
from the locale: LC_ALL, LC_MESSAGES or LANG starting with "zh").
"""

from __future__ import annotations

import argparse
import os
import unicodedata

from bertkit.cli import add_flavor_argument, add_model_argument, add_text_arguments, check_texts, say_flavor
from bertkit.errors import InputError

HELP = "each token with its id, type id and mask, and what every encoder output's shape means (en / zh)"

MESSAGES = {
    "en": {
        "bundled": "the bundled all-MiniLM-L6-v2",
        "model": "model: {name} ({kind}, {layers} layers, hidden size {hidden}, {heads} attention heads), "
        "seq_length {seq}",
        "inputs": "== Preprocessing: three input arrays, each of shape {shape} ==",
        "input_word_ids": "each token's id in the vocabulary; {cls} ({cls_id}) opens the text, {sep} ({sep_id}) "
        "closes each segment, {pad} ({pad_id}) fills the rest up to {seq} positions",
        "input_type_ids": "which sentence a token belongs to: 0 for the first text (A), 1 for its pair (B); "
        "a single text is 0 at every position",
        "input_type_ids_one": "this model has one token type: every position is 0, even in a pair",
        "input_type_ids_none": "this model has no token types (DistilBERT): 0 everywhere, kept for TF Hub's "
        "contract and ignored by the model",
        "input_mask": "which tokens are real text and which are padding: 1 on real tokens, 0 on padding; "
        "the encoder attends only where it is 1",
        "text": 'text {n}: "{text}"',
        "pair": 'pair {n}: "{text}"',
        "counts": "the first {real} tokens are real (mask 1), the {padding} after them are padding (mask 0)",
        "cut": "longer than {seq} tokens: cut to fit",
        "columns": ("position", "token", "input_word_ids", "input_type_ids", "input_mask"),
        "padding_rows": "({count} padding positions)",
        "outputs": "== Encoder outputs ==",
        "sequence_output": "a context-aware vector for each input token (values at padding positions mean nothing)",
        "pooled_output": "one vector for the whole text: the first token's ({cls}) final vector through "
        "the pooler (dense layer + tanh)",
        "pooled_output_first": "one vector for the whole text: the first token's ({cls}) final vector as it is "
        "(DistilBERT has no pooler)",
        "default": "the same as pooled_output (TF Hub's name for a model's main output)",
        "encoder_outputs": "the output of each of the {layers} encoder layers, first to last; "
        "the last one is sequence_output",
        "layers": "{layers} x {shape}",
        "reading": "sequence_output has the shape {shape}:",
        "batch": "{b}: the batch size, the number of texts that went in (one row each);",
        "batch_pairs": "{b}: the batch size, the number of text pairs that went in (one row each);",
        "length": "{s}: the sequence length, every text padded (or cut) to {s} tokens even when it is shorter;",
        "hidden": "{h}: the model's hidden size, the length of each token's vector.",
        "gist": "Put simply: for each text the model gives every position a {h}-dimensional vector that carries "
        'its meaning in context; "{text}" becomes a ({s}, {h}) tensor, with {pad} filling the unused positions.',
    },
    "zh": {
        "bundled": "内置的 all-MiniLM-L6-v2",
        "model": "模型：{name}（{kind}，{layers} 层，隐藏层大小 {hidden}，{heads} 个注意力头），序列长度 {seq}",
        "inputs": "== 预处理：三个输入数组，形状都是 {shape} ==",
        "input_word_ids": "每个词在词汇表中的 ID；{cls}（{cls_id}）表示句子的开头，{sep}（{sep_id}）表示每个片段的结束，"
        "{pad}（{pad_id}）把序列填充到 {seq} 个位置",
        "input_type_ids": "用于区分句子 A 和句子 B：第一段文本为 0，与之配对的第二段为 1；对于单句输入，每个位置的值都为 0",
        "input_type_ids_one": "这个模型只有一种句子类型：每个位置都为 0，句子对也一样",
        "input_type_ids_none": "这个模型没有句子类型（DistilBERT）：全部为 0，只是为了与 TF Hub 的接口一致，模型并不使用",
        "input_mask": "表示哪些词是实际文本中的，哪些是填充的：实际文本为 1，填充部分为 0；编码器只关注值为 1 的位置",
        "text": "第 {n} 句：“{text}”",
        "pair": "第 {n} 句的配对句：“{text}”",
        "counts": "前面 {real} 个词是有效词（掩码为 1），后面的 {padding} 个都是填充（掩码为 0）",
        "cut": "超过 {seq} 个词，已截断",
        "columns": ("位置", "词", "input_word_ids", "input_type_ids", "input_mask"),
        "padding_rows": "（共 {count} 个填充位置）",
        "outputs": "== 编码器输出 ==",
        "sequence_output": "每个输入词的上下文感知表示：每个位置一个向量（填充位置上的值没有意义）",
        "pooled_output": "句子的全局表示：第一个词（{cls}）的最终向量再经过池化层（全连接层 + tanh），每句一个向量",
        "pooled_output_first": "句子的全局表示：DistilBERT 没有池化层，直接取第一个词（{cls}）的最终向量",
        "default": "与 pooled_output 相同（TF Hub 对模型主输出的叫法）",
        "encoder_outputs": "每一层编码器的输出，共 {layers} 层，从第一层到最后一层；最后一层就是 sequence_output",
        "layers": "{layers} 个 {shape}",
        "reading": "sequence_output 的形状是 {shape}：",
        "batch": "{b}：表示输入的批次大小。这里输入了 {b} 句话，因此批次大小为 {b}；",
        "batch_pairs": "{b}：表示输入的批次大小。这里输入了 {b} 对句子，每对占一行，因此批次大小为 {b}；",
        "length": "{s}：表示每个输入序列的最大长度。即便实际句子的长度不足 {s} 个词，也会用填充符补齐到 {s}；",
        "hidden": "{h}：表示模型的隐藏层大小，即每个词的向量维度。",
        "gist": "可以这么理解：对于每一句话，模型为每个位置的词输出一个 {h} 维的向量，这些向量携带了上下文感知的语义信息。"
        "例如“{text}”这句话得到一个 ({s}, {h}) 的张量，未使用的部分用 {pad} 填充。",
    },
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_text_arguments(parser, "explain")
    parser.add_argument(
        "--lang", choices=("en", "zh"), default=None,
        help="language of the explanations (default: zh when LC_ALL, LC_MESSAGES or LANG starts with zh, else en)",
    )  # fmt: skip
    parser.add_argument("--seq-length", type=int, default=128, metavar="N", help="padded length (default 128)")
    add_model_argument(parser)
    add_flavor_argument(parser)


def locale_language(environ=os.environ) -> str:
    """ "zh" or "en", from the first locale variable set, in POSIX's order of precedence."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        if environ.get(name):
            return "zh" if environ[name].lower().startswith("zh") else "en"
    return "en"


def run(args: argparse.Namespace) -> int:
    check_texts(args, "explain")
    if any(not text.strip() for text in args.texts + (args.pair or [])):
        raise InputError("a TEXT is empty; give each text some words")
    import torch  # here: `bertkit --help` skips torch

    from bertkit import Encoder, Preprocessor

    pre = Preprocessor.from_pretrained(args.model, seq_length=args.seq_length, flavor=args.flavor)
    say_flavor(pre)
    encoder = Encoder.from_pretrained(args.model)
    batch = pre(args.texts, args.pair)
    with torch.inference_mode():
        out = encoder(batch)
    lines = explain(pre, encoder, batch, out, args.texts, args.pair, args.model, args.lang or locale_language())
    print("\n".join(lines))
    return 0


def explain(pre, encoder, batch, out, texts, pairs, model, lang: str) -> list[str]:
    """The lines `bertkit explain` prints."""
    say = MESSAGES[lang]
    config, tokenizer = encoder.config, pre.tokenizer
    special = {role: tokenizer.token_id(role) for role in ("cls_token", "sep_token", "pad_token")}
    names = {
        "cls": tokenizer.id_to_token(special["cls_token"]), "cls_id": special["cls_token"],
        "sep": tokenizer.id_to_token(special["sep_token"]), "sep_id": special["sep_token"],
        "pad": tokenizer.id_to_token(special["pad_token"]), "pad_id": special["pad_token"],
    }  # fmt: skip
    seq = pre.seq_length
    lines = [
        say["model"].format(
            name=say["bundled"] if model is None else model,
            kind=config.model_type,
            layers=config.num_hidden_layers,
            hidden=config.hidden_size,
            heads=config.num_attention_heads,
            seq=seq,
        ),  # fmt: skip
        "",
        say["inputs"].format(shape=tuple(batch["input_word_ids"].shape)),
    ]
    types = {0: "input_type_ids_none", 1: "input_type_ids_one"}.get(config.type_vocab_size, "input_type_ids")
    for name, key in (("input_word_ids", "input_word_ids"), ("input_type_ids", types), ("input_mask", "input_mask")):
        lines.append(f"  {name:<15} {say[key].format(**names, seq=seq)}")
    whole = pre.tokenize(list(texts) + list(pairs or []))  # untruncated, to say when a text was cut
    for n, text in enumerate(texts):
        lines += ["", say["text"].format(n=n + 1, text=text)]
        if pairs is not None:
            lines.append(say["pair"].format(n=n + 1, text=pairs[n]))
        ids = batch["input_word_ids"][n].tolist()
        type_ids, mask = batch["input_type_ids"][n].tolist(), batch["input_mask"][n].tolist()
        real = sum(mask)
        lines.append("  " + say["counts"].format(real=real, padding=len(mask) - real))
        segments = len(whole[n]) + (0 if pairs is None else len(whole[len(texts) + n]))
        if segments > pre.budget(1 if pairs is None else 2):
            lines.append("  " + say["cut"].format(seq=seq))
        rows = [(str(p), tokenizer.id_to_token(ids[p]), ids[p], type_ids[p], mask[p]) for p in range(real)]
        if real < len(ids):
            padding = ids[real], type_ids[real], mask[real]
            span = f"{real}-{len(ids) - 1}" if len(ids) - real > 1 else str(real)
            rows.append((span, tokenizer.id_to_token(padding[0]), *padding))
        lines += table(say["columns"], rows)
        if real < len(ids):
            lines[-1] += "  " + say["padding_rows"].format(count=len(ids) - real)
    sequence = tuple(out["sequence_output"].shape)
    pooled = "pooled_output_first" if config.model_type == "distilbert" else "pooled_output"
    shapes = [
        ("sequence_output", str(sequence), say["sequence_output"]),
        ("pooled_output", str(tuple(out["pooled_output"].shape)), say[pooled].format(**names)),
        ("default", str(tuple(out["default"].shape)), say["default"]),
        (
            "encoder_outputs",
            say["layers"].format(layers=len(out["encoder_outputs"]), shape=tuple(out["encoder_outputs"][0].shape)),
            say["encoder_outputs"].format(layers=len(out["encoder_outputs"])),
        ),
    ]
    width = max(display_width(shape) for _, shape, _ in shapes)
    lines += ["", say["outputs"]]
    lines += [f"  {name:<15} {pad_to(shape, width)}  {meaning}" for name, shape, meaning in shapes]
    b, s, h = sequence
    lines += [
        "",
        say["reading"].format(shape=sequence),
        f"  1. {say['batch' if pairs is None else 'batch_pairs'].format(b=b)}",
        f"  2. {say['length'].format(s=s)}",
        f"  3. {say['hidden'].format(h=h)}",
        say["gist"].format(h=h, s=s, text=texts[0], pad=names["pad"]),
    ]
    return lines


def table(columns, rows) -> list[str]:
    """Left-aligned text columns, right-aligned numbers, by display width (a CJK character takes two)."""
    cells = [list(columns)] + [[str(cell) for cell in row] for row in rows]
    widths = [max(display_width(row[i]) for row in cells) for i in range(len(columns))]
    numeric = [isinstance(cell, int) for cell in rows[0]] if rows else [False] * len(columns)
    numeric[0] = True  # positions
    return [
        "  " + "  ".join(pad_to(cell, w, right=r) for cell, w, r in zip(row, widths, numeric)).rstrip() for row in cells
    ]


def display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def pad_to(text: str, width: int, right: bool = False) -> str:
    fill = " " * (width - display_width(text))
    return fill + text if right else text + fill
