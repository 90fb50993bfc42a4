"""Training: one loop (`loop.py`, `options.py`, `state.py`) and the runs on it, each with its entry
point (`finetune.finetune`, `pretrain.pretrain`, `distill.distill`); their metrics and plots.
Nothing is imported here, so `bertkit --help` reads `options.py` without loading torch."""
