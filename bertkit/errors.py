"""The one error family of bertkit.

Library code raises a subclass of `BertkitError` with a message a user can act on (what file,
what is wrong, what to do). The command line catches `BertkitError` in one place
(`bertkit.cli.main`) and prints that message as a single line.
"""


class BertkitError(Exception):
    """A problem the user can fix: bad path, corrupt file, wrong column, bad input."""


class ModelNotFoundError(BertkitError, FileNotFoundError):
    """A model directory (or the bundled default model) is missing."""


class CheckpointError(BertkitError, ValueError):
    """A checkpoint exists but cannot be used: corrupt, truncated, or inconsistent."""


class WireFormatError(CheckpointError):
    """Bytes that are not a valid protobuf message (bertkit.tf_files, which adds the file's name)."""


class VocabError(BertkitError, ValueError):
    """A vocabulary file is missing or malformed."""


class InputError(BertkitError, ValueError):
    """User input (texts, data files, arguments) that cannot be processed."""


class InputTypeError(BertkitError, TypeError):
    """User input of the wrong type, e.g. None where a string is expected."""


class TruncationWarning(UserWarning):
    """Texts longer than the model reads were cut to fit: `cut` of `total`, at `length` tokens."""

    def __init__(self, cut: int, total: int, length: int, hint: str):
        self.cut, self.total, self.length = cut, total, length
        super().__init__(f"{self.summary()}; {hint}")

    def summary(self) -> str:
        return f"{self.cut} of {self.total} texts are longer than the model's {self.length} tokens and were truncated"
