"""Pretraining throughput: our loop vs a `transformers` BertForPreTraining loop, in one run.

Both train the same model (same initial weights: ours are saved and loaded into
`transformers.BertForPreTraining`) on the same batches (the same MLM + NSP instances made from
real text by `bertkit.data.shards.prepare_data`), with AdamW, a linear schedule and gradient
clipping, in fp32. Ours runs on the shared `bertkit.train.loop.Trainer` (the loop `bertkit
pretrain` uses); the reference is the plain loop a `transformers` user writes. Rounds alternate
(ours, theirs, ours, theirs ...) and the best round of each counts, because other processes
share the cores. Tokens are real (non-padding) tokens.

    python benchmarks/pretrain.py                      # L4 H256, seq 128, batch 32
    python benchmarks/pretrain.py --layers 12 --hidden 768 --heads 12 --steps 5

The achieved rate is also given as a fraction of this machine's measured fp32 matmul peak
(`benchmarks/peak.py`), counting 3x the forward FLOPs (forward + backward).
"""

import argparse
import tempfile
import time
from pathlib import Path

import torch
import transformers

from bertkit import checkpoint
from bertkit.bundled import default_model_dir
from bertkit.data.instances import DataSettings
from bertkit.data.masking import MaskingConfig
from bertkit.data.shards import PretrainingShards, prepare_data
from bertkit.inference.peak import fp32_peak, measure_matmul_peak
from bertkit.modeling.config import BertConfig
from bertkit.text.loading import load_text_stages
from bertkit.train.loop import Trainer
from bertkit.train.options import TrainingOptions
from bertkit.train.pretrain import PretrainingObjective


def forward_flops_per_token(config: BertConfig, seq_length: int, mask_fraction: float) -> float:
    """Dense layers, attention scores, and the MLM head at the predicted positions."""
    h, i, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    per_layer = 2 * (4 * h * h + 2 * h * i) + 2 * 2 * seq_length * h
    head = mask_fraction * 2 * (h * h + h * config.vocab_size)
    return layers * per_layer + head


class OurRound:
    """`steps` optimizer steps of the shared Trainer; the time of the steps after the first."""

    def __init__(self, model, train, batch_size):
        self.model, self.train, self.batch_size = model, train, batch_size

    def __call__(self, batches: list[list[int]], steps: int) -> tuple[float, int]:
        objective = PretrainingObjective(self.train, None, self.batch_size, max_eval_batches=0)
        objective.train_batches = lambda epoch: batches[: steps + 1]
        options = TrainingOptions(
            epochs=1, learning_rate=1e-4, warmup=0.1, precision="fp32", progress=False, max_steps=steps + 1, seed=0
        )
        times = []
        Trainer(self.model, objective, options, on_step=lambda step: times.append(time.perf_counter())).fit()
        tokens = sum(int(self.train.collate(b)["input_mask"].sum()) for b in batches[1 : steps + 1])
        return times[-1] - times[0], tokens


class TheirRound:
    """The same steps as a plain `transformers` loop: forward with labels, backward, clip, step."""

    def __init__(self, model, train):
        self.model, self.train = model, train

    def __call__(self, batches: list[list[int]], steps: int) -> tuple[float, int]:
        model = self.model.train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
        schedule = transformers.get_linear_schedule_with_warmup(optimizer, 1, steps + 1)
        tokens, start = 0, None
        for n, numbers in enumerate(batches[: steps + 1]):
            if n == 1:
                start = time.perf_counter()
            batch = self.train.collate(numbers)
            out = model(
                input_ids=batch["input_word_ids"],
                attention_mask=batch["input_mask"],
                token_type_ids=batch["input_type_ids"],
                labels=batch["mlm_labels"],
                next_sentence_label=batch["next_sentence_labels"],
            )
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            if n >= 1:
                tokens += int(batch["input_mask"].sum())
        return time.perf_counter() - start, tokens


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--seq-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--megabytes", type=float, default=0.5, help="real text to make instances from")
    args = parser.parse_args(argv)

    from pretraining_corpus import write_corpus

    work = Path(tempfile.mkdtemp(prefix="bertkit-bench-pretrain-"))
    write_corpus(work / "corpus.txt", args.megabytes)
    vocab_dir = default_model_dir()  # the bundled uncased vocabulary (30,522 tokens), as BERT's
    tokenizer, layout = load_text_stages(vocab_dir)
    settings = DataSettings(max_seq_length=args.seq_length, dupe_factor=1, masking=MaskingConfig())
    summary = prepare_data([work / "corpus.txt"], tokenizer, layout, settings, work / "data")
    train = PretrainingShards(work / "data" / "train")
    batches = train.epoch_batches(0, args.batch_size)
    batches = [b for b in batches if len(b) == args.batch_size]
    needed = args.steps + 1
    if len(batches) < needed:
        raise SystemExit(f"only {len(batches)} full batches; raise --megabytes")

    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=args.hidden, num_hidden_layers=args.layers,
        num_attention_heads=args.heads, intermediate_size=4 * args.hidden,
    )  # fmt: skip
    torch.manual_seed(0)
    ours = checkpoint.build_pretraining(config)
    checkpoint.save_pretraining(ours, work / "init")
    theirs = transformers.BertForPreTraining.from_pretrained(work / "init", attn_implementation="sdpa")
    runners = {"bertkit": OurRound(ours, train, args.batch_size), "transformers": TheirRound(theirs, train)}

    rates: dict[str, list[float]] = {name: [] for name in runners}
    for r in range(args.rounds):
        chunk = batches[(r * needed) % max(1, len(batches) - needed) :][:needed]
        for name, runner in runners.items():
            seconds, tokens = runner(chunk, args.steps)
            rates[name].append(tokens / seconds)
    best = {name: max(values) for name, values in rates.items()}
    flops = 3 * forward_flops_per_token(config, args.seq_length, 0.15)
    peak = fp32_peak(measure_matmul_peak(4096, args.hidden, 4 * args.hidden, seconds=0.5))
    report = {
        "model": f"L{args.layers} H{args.hidden} A{args.heads}, vocab {config.vocab_size}",
        "batch": f"{args.batch_size} x {args.seq_length}",
        "instances": summary["train_instances"],
        "tokens_per_second": best,
        "ratio": best["bertkit"] / best["transformers"],
        "fraction_of_peak": {name: rate * flops / (peak * 1e9) for name, rate in best.items()},
        "peak_gflops": peak,
        "threads": torch.get_num_threads(),
    }
    print(f"pretraining throughput, {report['model']}, batch {report['batch']}, fp32, {report['threads']} threads")
    for name, rate in best.items():
        print(
            f"  {name:13s} {rate:9.0f} tokens/s  ({report['fraction_of_peak'][name]:.1%} of the measured "
            f"{peak:.0f} GFLOP/s fp32 peak)   rounds: {', '.join(f'{v:.0f}' for v in rates[name])}"
        )
    print(f"  ratio bertkit / transformers: {report['ratio']:.2f}x")
    return report


if __name__ == "__main__":
    main()
