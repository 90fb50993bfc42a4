"""Models on disk: every name `transformers` gives our modules, and the one load / save path for
each kind of model (encoder, fine-tuned task model, pretraining heads, distilled student).

    names.py        HuggingFace's weight names, model classes and task keys, per architecture
    files.py        a directory's files: config.json, the weights (safetensors, .bin), tokenizer files
    weights.py      modules built empty and filled from a checkpoint; the encoder (backbone)
    task.py         fine-tuned classifiers and taggers: `TaskSpec`, load, save
    pretraining.py  models with MLM / NSP heads: load, save
    sentence_transformers.py  how a sentence-transformers model embeds (pooling, Normalize, length, prompts)

The rest of bertkit asks these functions; none reads a weights file or a HuggingFace name itself.
"""

from bertkit.checkpoint.files import (
    check_same_vocabulary,
    read_config,
    read_weights,
    save,
    save_atomic,
    weights_file,
)
from bertkit.checkpoint.names import ARCHITECTURES, architecture, pretraining_class
from bertkit.checkpoint.pretraining import build_pretraining, has_mlm_head, load_pretraining, save_pretraining
from bertkit.checkpoint.task import TaskSpec, build_task, load_task, save_task, task_of, with_task
from bertkit.checkpoint.weights import empty_weights, load_backbone, load_weights

__all__ = [
    "ARCHITECTURES", "TaskSpec", "architecture", "build_pretraining", "build_task", "check_same_vocabulary",
    "empty_weights", "has_mlm_head", "load_backbone", "load_pretraining", "load_task", "load_weights", "pretraining_class",
    "read_config", "read_weights", "save", "save_atomic", "save_pretraining", "save_task", "task_of",
    "with_task", "weights_file",
]  # fmt: skip
