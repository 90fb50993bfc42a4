"""Training: one loop (`loop.py`) and the tasks built on it (fine-tuning now; pretraining and
distillation reuse the loop), with their metrics and plots."""
