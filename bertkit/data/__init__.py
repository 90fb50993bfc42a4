"""Data for training: readers, pretraining instances and masking, batches."""
