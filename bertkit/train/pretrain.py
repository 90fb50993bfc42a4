"""Pretraining from raw text on the shared loop (`bertkit pretrain`): vocabulary, model, data, MLM (+ NSP).

    vocabulary  learned from the corpus, or the tokenizer files of `vocab=DIR` / of `model=DIR`
    model       a new one from the size options or `config=FILE`, or `model=DIR` continued
    data        the corpus as shards of instances (bertkit.data.shards), reused on `resume`
    training    `PretrainingObjective` on `Trainer`; each best epoch saved with its heads, so
                `transformers` loads it as `BertForPreTraining` / `RobertaForMaskedLM`

BERT and RoBERTa differ in data, not in branches: a `Recipe` for each says how its vocabulary
is learned, whether it predicts next sentences, how it masks and how its positions count.

    >>> RECIPES["bert"].next_sentence, RECIPES["roberta"].next_sentence, RECIPES["roberta"].dynamic_masking
    (True, False, True)
    >>> options = PretrainOptions(corpus=["notes.txt"], output="my-bert", layers=2, hidden=128)
    >>> options.learning_rate, options.seed, options.save_every   # BERT's pretraining, not fine-tuning's
    (0.0001, 0, 500)
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import itertools
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import torch
from torch import nn

from bertkit import checkpoint
from bertkit.bundled import resolve_model_dir
from bertkit.data.corpus import corpus_lines
from bertkit.data.instances import DataSettings
from bertkit.data.masking import MaskingConfig
from bertkit.data.shards import PretrainingShards, has_prepared_data, open_shards, prepare_data
from bertkit.errors import InputError
from bertkit.modeling.config import BertConfig
from bertkit.modeling.pretraining import pretraining_loss
from bertkit.text import vocab_training
from bertkit.text.loading import load_text_stages
from bertkit.train.loop import Trainer
from bertkit.train.options import TrainingOptions
from bertkit.train.plots import pretraining_curves


@dataclasses.dataclass
class PretrainOptions(TrainingOptions):
    """What to pretrain on and what; how to train comes from the fields of `TrainingOptions`."""

    output: str | Path  # the model, its vocabulary, the data (data/) and the curves (training/)
    corpus: list[str | Path] | None = None  # UTF-8 text, a sentence per line; None: resume on prepared data
    # the model, from scratch unless `model`
    model: str | Path | None = None  # continue pretraining this checkpoint, with its vocabulary
    config: str | Path | None = None  # config.json of a new model (HuggingFace keys) instead of the sizes
    architecture: str = "bert"  # a key of RECIPES
    layers: int = 4
    hidden: int = 256
    heads: int = 4
    intermediate: int | None = None  # None: 4 x hidden
    dropout: float = 0.1  # hidden and attention dropout
    # the vocabulary of a new model
    vocab: str | Path | None = None  # the tokenizer files in this directory instead of learning a vocabulary
    vocab_size: int = 8000
    cased: bool = False  # keep case and accents (WordPiece)
    # the instances (`seq_length` tokens at most)
    short_seq_prob: float = 0.1
    mask_prob: float = 0.15
    max_predictions: int = 20
    whole_word_masking: bool = False
    next_sentence: bool = True  # False: full-sentence sequences, MLM only (RoBERTa's recipe always)
    dynamic_masking: bool = False  # True: new masks every epoch (RoBERTa's recipe always)
    dupe_factor: int = 5  # masked copies of the data with static masking
    # BERT's pretraining schedule, not fine-tuning's (keyword-only, as in `TrainingOptions`)
    learning_rate: float = dataclasses.field(default=1e-4, kw_only=True)
    seed: int = dataclasses.field(default=0, kw_only=True)
    save_every: int = dataclasses.field(default=500, kw_only=True)


# --- what differs between BERT and RoBERTa ----------------------------------------------------------


def _learn_wordpiece(lines: Iterable[str], size: int, lowercase: bool, directory: Path) -> int:
    tokens = vocab_training.train_wordpiece(lines, size, lowercase=lowercase)
    vocab_training.write_wordpiece_vocab(tokens, directory, lowercase=lowercase)
    return len(tokens)


def _learn_byte_level_bpe(lines: Iterable[str], size: int, lowercase: bool, directory: Path) -> int:
    vocab, merges = vocab_training.train_byte_level_bpe(lines, size)  # bytes keep case: `lowercase` unused
    vocab_training.write_byte_level_bpe(vocab, merges, directory)
    return len(vocab)


def _bert_config(sizes: dict, pad_id: int, seq_length: int) -> BertConfig:
    return BertConfig(**sizes, max_position_embeddings=max(512, seq_length))


def _roberta_config(sizes: dict, pad_id: int, seq_length: int) -> BertConfig:
    # positions count from pad_token_id + 1, as fairseq's RoBERTa
    return BertConfig(
        model_type="roberta", **sizes, pad_token_id=pad_id, bos_token_id=0, eos_token_id=2, type_vocab_size=1,
        layer_norm_eps=1e-5, max_position_embeddings=max(514, seq_length + pad_id + 1),
    )  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How an architecture is pretrained. RoBERTa's differs from BERT's (RoBERTa paper): byte-level
    BPE (4.4), full sentences without next sentence prediction (4.2), dynamic masking (4.1)."""

    vocabulary: str  # the kind of vocabulary it learns, as the run reports it
    vocab_file: str  # the file a learned vocabulary is written to
    learn: Callable[[Iterable[str], int, bool, Path], int]  # (lines, size, lowercase, directory) -> tokens
    next_sentence: bool  # sentence pairs with NSP; False: full sentences, MLM only
    dynamic_masking: bool  # masks drawn anew every epoch
    reserved_positions: int  # position embeddings used before the first token's
    new_config: Callable[[dict, int, int], BertConfig]  # (sizes, pad id, seq_length) -> a new model's config


RECIPES = {
    "bert": Recipe("WordPiece", "vocab.txt", _learn_wordpiece, True, False, 0, _bert_config),
    "roberta": Recipe("byte-level BPE", "vocab.json", _learn_byte_level_bpe, False, True, 2, _roberta_config),
}


# --- the run ------------------------------------------------------------------------------------------


def pretrain(options: PretrainOptions, say: Callable[[str], None] | None = None) -> dict:
    """Pretrain, keep the best epoch's model (with its heads) in `options.output`, return the report.

    `say(line)` receives a line as each stage ends (vocabulary learned, corpus read): the
    command prints them before training starts."""
    say = say or (lambda line: None)
    started = time.perf_counter()
    output = Path(options.output)
    if not options.corpus and not options.resume:
        raise InputError("give the text to pretrain on with --corpus FILE... (or --resume a run in --output)")
    if options.architecture not in RECIPES:
        raise InputError(f"unknown architecture {options.architecture!r}; choose {' or '.join(RECIPES)}")
    recipe = RECIPES[options.architecture]
    next_sentence = options.next_sentence and recipe.next_sentence
    output.mkdir(parents=True, exist_ok=True)

    source = _vocabulary(options, recipe, say)
    tokenizer, layout = load_text_stages(source)
    settings = DataSettings(
        max_seq_length=options.seq_length,
        short_seq_prob=options.short_seq_prob,
        next_sentence=next_sentence,
        masking=MaskingConfig(options.mask_prob, options.max_predictions, whole_word=options.whole_word_masking),
        dynamic_masking=options.dynamic_masking or recipe.dynamic_masking,
        dupe_factor=options.dupe_factor,
        seed=options.seed,
    )
    data_dir, data = output / "data", None
    if options.resume and has_prepared_data(data_dir):
        say(f"data: reusing the instances in {data_dir}")
    else:
        _require_corpus(options)
        data = prepare_data(options.corpus, tokenizer, layout, settings, data_dir)
        for line in describe_data(data, settings):
            say(line)

    model, config = _model(options, recipe, source, tokenizer, next_sentence)
    train, evaluation = open_shards(data_dir, tokenizer, layout, settings)
    objective = PretrainingObjective(train, evaluation, options.batch_size)
    save_best = lambda best: checkpoint.save_pretraining(best, output, source=source)
    trainer = Trainer(model, objective, options, "loss", output, on_improvement=save_best)
    history = trainer.fit()
    curves = pretraining_curves(dataclasses.asdict(history), output / "training" / "loss_curves.png")
    return {
        "output": str(output),
        "model_class": checkpoint.pretraining_class(config, model.nsp is not None),
        "data": data,
        **history.summary(),
        "first_step": history.steps[0] if history.steps else {},
        "precision": "bf16" if trainer.bf16 else "fp32",
        "processes": trainer.dist.world_size,
        "seconds": time.perf_counter() - started,
        "curves": str(curves),
    }


def _require_corpus(options: PretrainOptions) -> None:
    if not options.corpus:
        raise InputError(f"{options.output}: no prepared data to resume from; give --corpus FILE...")


def _vocabulary(options: PretrainOptions, recipe: Recipe, say: Callable[[str], None]) -> Path:
    """The directory whose tokenizer files the run uses, learning a vocabulary if need be."""
    if options.model or options.vocab:
        return resolve_model_dir(options.model or options.vocab)
    output = Path(options.output)
    learned = output / recipe.vocab_file
    if options.resume and learned.is_file():
        return output
    _require_corpus(options)
    names = ", ".join(map(str, options.corpus))
    try:
        size = recipe.learn(corpus_lines(options.corpus), options.vocab_size, not options.cased, output)
    except InputError as e:
        if "no words" in str(e):
            raise InputError(f"{names}: the corpus holds no text to learn a vocabulary from") from None
        raise
    say(f"vocabulary: {size} {recipe.vocabulary} tokens learned from {names} -> {learned}")
    return output


def _model(options: PretrainOptions, recipe: Recipe, source: Path, tokenizer, next_sentence: bool):
    """(model, config): `options.model` continued, or a new one of `options.config` or the sizes."""
    if options.model:
        model, config, _ = checkpoint.load_pretraining(source, next_sentence=next_sentence)
        if config.vocab_size < tokenizer.vocab_size:
            raise InputError(
                f"{source}: config.json has vocab_size {config.vocab_size} < the vocabulary's {tokenizer.vocab_size}"
            )
        if config.max_position_embeddings < options.seq_length + recipe.reserved_positions:
            raise InputError(
                f"{source}: the model takes at most {config.max_position_embeddings} positions; lower --max-seq-length"
            )
        return model, config
    if options.config:
        config = BertConfig.from_json_file(options.config)
        config.vocab_size = tokenizer.vocab_size
    else:
        sizes = dict(
            vocab_size=tokenizer.vocab_size,
            hidden_size=options.hidden,
            num_hidden_layers=options.layers,
            num_attention_heads=options.heads,
            intermediate_size=options.intermediate or 4 * options.hidden,
            hidden_dropout_prob=options.dropout,
            attention_probs_dropout_prob=options.dropout,
        )
        config = recipe.new_config(sizes, tokenizer.token_id("pad_token"), options.seq_length)
    return checkpoint.build_pretraining(config, next_sentence=next_sentence), config


def describe_data(summary: dict, settings: DataSettings) -> list[str]:
    """What `prepare_data` made, as a person reads it."""
    copies = "dynamic masking" if settings.dynamic_masking else f"dupe factor {settings.dupe_factor}"
    lines = [
        f"corpus: {summary['files']} file(s), {summary['lines']:,} lines, {summary['documents']:,} documents, "
        f"{summary['tokens']:,} tokens -> {summary['train_instances']:,} training instances ({copies}), "
        f"{summary['eval_instances']:,} held-out instances from {summary['held_out_documents']} documents"
    ]
    if summary["split_lines"]:
        lines.append(
            f"note: {summary['split_lines']:,} lines were longer than a sequence "
            f"({settings.max_seq_length - 3} tokens) and were cut into consecutive pieces"
        )
    if not summary["eval_instances"]:
        lines.append("note: fewer than 20 documents, so none is held out; evaluation uses training instances")
    return lines


def format_report(report: dict) -> str:
    """The final report as a person reads it."""
    best, first = report["best"] or {}, report["first_step"]
    nsp = f", NSP accuracy {best['nsp_accuracy']:.3f}" if "nsp_accuracy" in best else ""
    where = "held-out" if best.get("held_out") else "training-sample"
    return (
        f"saved {report['output']} ({report['model_class']}): {where} MLM loss "
        f"{best.get('mlm_loss', float('nan')):.3f} (first training step {first.get('mlm_loss', float('nan')):.3f}), "
        f"MLM accuracy {best.get('mlm_accuracy', float('nan')):.3f}{nsp}; curves in {report['curves']}"
    )


# --- the objective ------------------------------------------------------------------------------------


class ShardsObjective:
    """What an objective on pretraining shards shares (pretraining, general distillation): the
    training batches of an epoch, and the batches it is evaluated on: the held-out shards, or
    the first training batches, in order, with their fixed masks, when none is held out."""

    def __init__(self, train: PretrainingShards, evaluation: PretrainingShards | None, batch_size: int,
                 max_eval_batches: int = 50):  # fmt: skip
        self.train, self.evaluation = train, evaluation
        self.batch_size, self.max_eval_batches = batch_size, max_eval_batches

    def train_batches(self, epoch: int) -> list[list[int]]:
        return self.train.epoch_batches(epoch, self.batch_size)

    def evaluation_batches(self) -> Iterator[dict]:
        return itertools.islice((self.evaluation or self.train).batches(self.batch_size), self.max_eval_batches)


class PretrainingObjective(ShardsObjective):
    """The loop's objective for MLM (+ NSP) pretraining from shards: the joint loss, running MLM
    loss / MLM accuracy / NSP accuracy for the progress bar, the held-out metrics every epoch."""

    @functools.cached_property
    def running(self) -> dict[str, float]:
        return {}

    def _average(self, name: str, value: float, decay: float = 0.95) -> None:
        """An exponential moving average of a training metric, for the progress bar."""
        old = self.running.get(name)
        self.running[name] = value if old is None else decay * old + (1 - decay) * value

    def _run(self, model: nn.Module, batch: dict):
        device = next(model.parameters()).device
        batch = {k: v.to(device) for k, v in batch.items()}
        out = model(
            batch["input_word_ids"], batch["input_mask"], batch["input_type_ids"], mlm_labels=batch["mlm_labels"]
        )
        nsp = batch["next_sentence_labels"] if self.train.next_sentence else None
        return pretraining_loss(out, batch["mlm_labels"], nsp)

    def loss(self, model: nn.Module, batch: list[int]) -> tuple[torch.Tensor, int]:
        """The joint loss (mean MLM loss over predicted tokens + mean NSP loss) times the batch
        size: the loop sums over micro-batches and processes and divides by the items."""
        result = self._run(model, self.train.collate(batch))
        self._average("mlm_loss", result.mlm_loss.item())
        self._average("mlm_acc", result.mlm_correct / max(1, result.mlm_count))
        if result.nsp_loss is not None:
            self._average("nsp_acc", result.nsp_correct / max(1, result.nsp_count))
        return result.loss * len(batch), len(batch)

    def progress(self) -> dict[str, float]:
        return dict(self.running)

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        sums = collections.Counter()
        for batch in self.evaluation_batches():
            r = self._run(model, batch)
            sums.update(mlm_loss=float(r.mlm_loss) * r.mlm_count, mlm_correct=r.mlm_correct, mlm_count=r.mlm_count)
            if r.nsp_loss is not None:
                sums.update(nsp_loss=float(r.nsp_loss) * r.nsp_count, nsp_correct=r.nsp_correct, nsp_count=r.nsp_count)
        metrics = {
            "mlm_loss": sums["mlm_loss"] / max(1, sums["mlm_count"]),
            "mlm_accuracy": sums["mlm_correct"] / max(1, sums["mlm_count"]),
        }
        metrics["loss"] = metrics["mlm_loss"]
        if sums["nsp_count"]:
            metrics["nsp_loss"] = sums["nsp_loss"] / sums["nsp_count"]
            metrics["nsp_accuracy"] = sums["nsp_correct"] / sums["nsp_count"]
            metrics["loss"] += metrics["nsp_loss"]
        metrics["held_out"] = float(self.evaluation is not None)
        return metrics
