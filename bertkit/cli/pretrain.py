"""`bertkit pretrain --corpus F... --output DIR`: vocabulary + MLM/NSP pretraining from raw text.

    $ bertkit pretrain --corpus notes.txt --output my-bert --vocab-size 8000 --layers 4 --hidden 256
    vocabulary: 8000 WordPiece tokens learned from notes.txt -> my-bert/vocab.txt
    corpus: 1 file, 52,113 lines, 2,304 documents, 1,204,559 tokens -> 46,210 training instances ...
    epoch 1/3:  12%|█▏  | 180/1444 [00:41<04:49, loss=6.9, mlm_loss=6.1, mlm_acc=0.121, nsp_acc=0.581]
    ...
    saved my-bert (BertForPreTraining): held-out MLM loss 3.91, MLM accuracy 0.342, NSP accuracy 0.781

The corpus format is BERT's: UTF-8 text, one sentence per line, documents separated by blank
lines. From scratch (size flags or `--config config.json`), the vocabulary is learned from the
corpus first; with `--model DIR`, pretraining continues from that checkpoint and its vocabulary.
`--architecture roberta` swaps the stages for RoBERTa's: byte-level BPE, full-sentence
sequences, dynamic masking, no next sentence prediction.
"""

from __future__ import annotations

import argparse

HELP = "pretrain a BERT (MLM + NSP) or RoBERTa (MLM) from raw text, vocabulary included"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    data = parser.add_argument_group("corpus and output")
    data.add_argument("--corpus", nargs="+", metavar="FILE", help="UTF-8 text: a sentence per line, blank line between documents")
    data.add_argument("--output", required=True, metavar="DIR", help="where the model, its vocabulary, data and curves go")
    data.add_argument("--resume", action="store_true", help="continue the run in --output from its last checkpoint")

    model = parser.add_argument_group("model (from scratch unless --model)")
    model.add_argument("--model", metavar="DIR", default=None, help="continue pretraining this checkpoint (default: a new model)")
    model.add_argument("--config", metavar="FILE", help="config.json of the new model (HuggingFace keys) instead of size flags")
    model.add_argument("--architecture", choices=("bert", "roberta"), default="bert", help="default bert")
    model.add_argument("--layers", type=int, default=4, help="transformer layers (default 4)")
    model.add_argument("--hidden", type=int, default=256, help="hidden size (default 256)")
    model.add_argument("--heads", type=int, default=4, help="attention heads (default 4)")
    model.add_argument("--intermediate", type=int, default=None, help="feed-forward size (default 4 x hidden)")
    model.add_argument("--dropout", type=float, default=0.1, help="hidden and attention dropout (default 0.1)")

    vocab = parser.add_argument_group("vocabulary (from scratch)")
    vocab.add_argument("--vocab", metavar="DIR", help="use the tokenizer files in DIR instead of learning a vocabulary")
    vocab.add_argument("--vocab-size", type=int, default=8000, help="tokens to learn (default 8000)")
    vocab.add_argument("--cased", action="store_true", help="keep case and accents (WordPiece; default: lower-case)")

    instances = parser.add_argument_group("pretraining data")
    instances.add_argument("--max-seq-length", type=int, default=128, help="default 128")
    instances.add_argument("--short-seq-prob", type=float, default=0.1, help="default 0.1")
    instances.add_argument("--mask-prob", type=float, default=0.15, help="default 0.15")
    instances.add_argument("--max-predictions", type=int, default=20, help="masked tokens per sequence at most (default 20)")
    instances.add_argument("--whole-word-masking", action="store_true", help="mask whole words, never parts of them")
    instances.add_argument("--no-nsp", action="store_true", help="MLM only: full-sentence sequences, no next sentence prediction")
    instances.add_argument("--dynamic-masking", action="store_true", help="new masks every epoch instead of --dupe-factor copies")
    instances.add_argument("--dupe-factor", type=int, default=5, help="masked copies of the data, static masking (default 5)")

    train = parser.add_argument_group("training")
    train.add_argument("--epochs", type=int, default=3)
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--learning-rate", type=float, default=1e-4)
    train.add_argument("--warmup", type=float, default=0.1, help="fraction of the steps warming up (default 0.1)")
    train.add_argument("--weight-decay", type=float, default=0.01)
    train.add_argument("--accumulation", type=int, default=1, help="micro-batches per optimizer step")
    train.add_argument("--max-steps", type=int, default=None, help="stop after this many optimizer steps")
    train.add_argument("--save-every", type=int, default=500, help="steps between resumable checkpoints (default 500)")
    train.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto")
    train.add_argument("--device", default=None, help="cpu or cuda[:N] (default: cuda when there is one)")
    train.add_argument("--threads", type=int, default=None, help="CPU threads for PyTorch (default: all cores)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bertkit.errors import InputError

    output = Path(args.output)
    if not args.corpus and not args.resume:
        raise InputError("give the text to pretrain on with --corpus FILE... (or --resume a run in --output)")
    roberta = args.architecture == "roberta"
    next_sentence = not (args.no_nsp or roberta)
    output.mkdir(parents=True, exist_ok=True)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)  # on a shared machine, fewer threads than cores can be faster

    from bertkit.data.masking import MaskingConfig
    from bertkit.text.loading import load_text_stages
    from bertkit.train import pretrain

    source = _vocabulary(args, output, roberta)
    tokenizer, layout = load_text_stages(source)
    masking = MaskingConfig(
        probability=args.mask_prob, max_predictions=args.max_predictions, whole_word=args.whole_word_masking
    )
    settings = pretrain.DataSettings(
        max_seq_length=args.max_seq_length,
        short_seq_prob=args.short_seq_prob,
        next_sentence=next_sentence,
        masking=masking,
        dynamic_masking=args.dynamic_masking or roberta,
        dupe_factor=args.dupe_factor,
        seed=args.seed,
    )
    data_dir = output / "data"
    if args.resume and pretrain.has_prepared_data(data_dir):
        print(f"data: reusing the instances in {data_dir}")
    else:
        _require_corpus(args)
        summary = pretrain.prepare_data(args.corpus, tokenizer, layout, settings, data_dir)
        _print_summary(summary, settings)

    model, config = _model(args, output, source, tokenizer, roberta, next_sentence)
    return _train(args, output, source, model, config, tokenizer, layout, masking)


def _require_corpus(args) -> None:
    from bertkit.errors import InputError

    if not args.corpus:
        raise InputError(f"{args.output}: no prepared data to resume from; give --corpus FILE...")


def _vocabulary(args, output, roberta: bool):
    """The directory whose tokenizer files the run uses, learning a vocabulary if need be."""
    from pathlib import Path

    from bertkit.bundled import resolve_model_dir
    from bertkit.errors import InputError

    if args.model:
        return resolve_model_dir(args.model)
    if args.vocab:
        return resolve_model_dir(args.vocab)
    learned = output / ("vocab.json" if roberta else "vocab.txt")
    if args.resume and learned.is_file():
        return output
    _require_corpus(args)
    from bertkit.data.pretraining import text_lines
    from bertkit.text import vocab_training

    def lines():
        for path in args.corpus:
            yield from text_lines(Path(path))

    names = ", ".join(args.corpus)
    try:
        if roberta:
            vocab, merges = vocab_training.train_byte_level_bpe(lines(), args.vocab_size)
            vocab_training.write_byte_level_bpe(vocab, merges, output)
            size, kind = len(vocab), "byte-level BPE"
        else:
            tokens = vocab_training.train_wordpiece(lines(), args.vocab_size, lowercase=not args.cased)
            vocab_training.write_wordpiece_vocab(tokens, output, lowercase=not args.cased)
            size, kind = len(tokens), "WordPiece"
    except InputError as e:
        if "no words" in str(e):
            raise InputError(f"{names}: the corpus holds no text to learn a vocabulary from") from None
        raise
    print(f"vocabulary: {size} {kind} tokens learned from {names} -> {learned}")
    return output


def _model(args, output, source, tokenizer, roberta: bool, next_sentence: bool):
    from bertkit import pretraining
    from bertkit.config import BertConfig
    from bertkit.errors import InputError

    if args.model:
        model, config, _ = pretraining.load(source, next_sentence=next_sentence)
        if config.vocab_size < tokenizer.vocab_size:
            raise InputError(f"{source}: config.json has vocab_size {config.vocab_size} < the vocabulary's {tokenizer.vocab_size}")
        if config.max_position_embeddings < args.max_seq_length + (2 if roberta else 0):
            raise InputError(f"{source}: the model takes at most {config.max_position_embeddings} positions; lower --max-seq-length")
        return model, config
    if args.config:
        config = BertConfig.from_json_file(args.config)
        config.vocab_size = tokenizer.vocab_size
    else:
        sizes = dict(
            vocab_size=tokenizer.vocab_size,
            hidden_size=args.hidden,
            num_hidden_layers=args.layers,
            num_attention_heads=args.heads,
            intermediate_size=args.intermediate or 4 * args.hidden,
            hidden_dropout_prob=args.dropout,
            attention_probs_dropout_prob=args.dropout,
        )
        if roberta:  # positions count from pad_token_id + 1
            pad = tokenizer.token_id("pad_token")
            config = BertConfig(
                model_type="roberta", **sizes, pad_token_id=pad, bos_token_id=0, eos_token_id=2,
                type_vocab_size=1, layer_norm_eps=1e-5, max_position_embeddings=max(514, args.max_seq_length + pad + 1),
            )  # fmt: skip
        else:
            config = BertConfig(**sizes, max_position_embeddings=max(512, args.max_seq_length))
    return pretraining.build(config, next_sentence=next_sentence), config


def _print_summary(summary: dict, settings) -> None:
    copies = "dynamic masking" if settings.dynamic_masking else f"dupe factor {settings.dupe_factor}"
    print(
        f"corpus: {summary['files']} file(s), {summary['lines']:,} lines, {summary['documents']:,} documents, "
        f"{summary['tokens']:,} tokens -> {summary['train_instances']:,} training instances ({copies}), "
        f"{summary['eval_instances']:,} held-out instances from {summary['held_out_documents']} documents"
    )
    if summary["split_lines"]:
        print(
            f"note: {summary['split_lines']:,} lines were longer than a sequence "
            f"({settings.max_seq_length - 3} tokens) and were cut into consecutive pieces"
        )
    if not summary["eval_instances"]:
        print("note: fewer than 20 documents, so none is held out; evaluation uses training instances")


def _train(args, output, source, model, config, tokenizer, layout, masking) -> int:
    import dataclasses

    from bertkit import pretraining
    from bertkit.data.pretraining import PretrainingShards
    from bertkit.train import pretrain
    from bertkit.train.loop import Trainer, TrainConfig
    from bertkit.train.plots import pretraining_curves

    data_dir = output / "data"
    masker = pretrain.make_masker(tokenizer, layout, masking)
    train = PretrainingShards(data_dir / pretrain.TRAIN_DIR, masker=masker, seed=args.seed)
    evaluation = PretrainingShards(data_dir / pretrain.EVAL_DIR) if (data_dir / pretrain.EVAL_DIR).is_dir() else None
    task = pretrain.PretrainingTask(train, evaluation, args.batch_size)
    train_config = TrainConfig(
        epochs=args.epochs,
        learning_rate=args.learning_rate,
        weight_decay=args.weight_decay,
        warmup=args.warmup,
        accumulation=args.accumulation,
        precision=args.precision,
        seed=args.seed,
        metric="loss",
        higher_is_better=False,
        save_every=args.save_every,
        max_steps=args.max_steps,
        output_dir=output,
        device=args.device,
        progress=not args.no_progress,
    )

    def save_best(model, metrics):
        pretraining.save(model, output, source=source)

    history = Trainer(model, task, train_config, on_improvement=save_best).fit(resume=args.resume)
    curves = pretraining_curves(dataclasses.asdict(history), output / "training" / "loss_curves.png")
    best = history.best or {}
    first = history.steps[0] if history.steps else {}
    nsp = f", NSP accuracy {best['nsp_accuracy']:.3f}" if "nsp_accuracy" in best else ""
    where = "held-out" if best.get("held_out") else "training-sample"
    print(
        f"saved {output} ({pretraining.hf_class(config, model.nsp is not None)}): {where} MLM loss "
        f"{best.get('mlm_loss', float('nan')):.3f} (first training step {first.get('mlm_loss', float('nan')):.3f}), "
        f"MLM accuracy {best.get('mlm_accuracy', float('nan')):.3f}{nsp}; curves in {curves}"
    )
    return 0
