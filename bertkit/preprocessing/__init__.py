"""Text -> the encoder's input dict: `Preprocessor` (TF Hub's contract) and the batches built on it."""

from bertkit.preprocessing.preprocessor import Preprocessor

__all__ = ["Preprocessor"]
