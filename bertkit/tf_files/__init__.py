"""TensorFlow's files, read without TensorFlow: checkpoints (tensor bundles) and SavedModels.

- `protobuf.py`: Protocol Buffers' wire format and the few TensorFlow messages we read
- `table.py`: the sorted string table that a checkpoint's `.index` is
- `bundle.py`: `TensorBundle`, a checkpoint's tensors as torch tensors, and TF2's object graph
- `layout.py`: which TensorFlow BERT a directory holds (a TF Hub SavedModel, Google's checkpoint)
- `saved_model.py`: `SavedModel`, a SavedModel directory: its variables, assets, Keras metadata
"""
