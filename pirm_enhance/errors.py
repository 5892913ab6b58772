"""One error hierarchy for the library; the command-line tools turn it into one line.

Every error the library raises on purpose is a :class:`PirmError`: a message
of one line that says what is wrong and what to do, and the exit code a
console tool returns for it. Each class also keeps the built-in base a caller
would expect (``KeyError`` for an unknown name, ``FileNotFoundError`` for
missing data, ...), so ``except KeyError`` keeps working.

Exit codes (all tools):

====  ==========================================================
1     a run-time failure (a model that fails while running, I/O)
2     a usage error: a bad flag, an unknown name, a missing file
3     a submission refused (unsafe graph, broken rule, wrong I/O)
4     the PIRM validation data is missing
5     pretrained weights unavailable (offline, hash mismatch)
130   interrupted (Ctrl-C)
====  ==========================================================

This module imports nothing heavy: every layer of the library may import it.
"""

EXIT_RUNTIME = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3
EXIT_NO_DATA = 4
EXIT_NO_WEIGHTS = 5
EXIT_INTERRUPTED = 130


class PirmError(Exception):
    """Base of the library's errors: ``str(err)`` is one line; ``exit_code`` for the CLI."""

    exit_code = EXIT_RUNTIME

    def __init__(self, message="", exit_code=None):
        super().__init__(message)
        self.message = " ".join(str(message).split("\n")).strip()
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self):  # KeyError would quote the message otherwise
        return self.message


class UsageError(PirmError, ValueError):
    """A bad argument or flag value."""

    exit_code = EXIT_USAGE


class UnknownName(PirmError, KeyError):
    """An unknown architecture, pretrained entry, recipe, format or variant."""

    exit_code = EXIT_USAGE


class WeightsUnavailable(PirmError, RuntimeError):
    """A pretrained file could not be found locally nor downloaded."""

    exit_code = EXIT_NO_WEIGHTS


class DataMissing(PirmError, FileNotFoundError):
    """Data (the PIRM validation set, a training folder) is not where it was looked for."""

    exit_code = EXIT_NO_DATA


class ImageError(PirmError, ValueError):
    """An image that cannot be used, with the reason in one line."""

    exit_code = EXIT_RUNTIME


class OutputExists(PirmError, FileExistsError):
    """An output file that is already there and may not be replaced (``--overwrite`` replaces it)."""

    exit_code = EXIT_USAGE


class ModelFileError(PirmError, ValueError):
    """A model file (``.keras``, checkpoint, ...) that is missing or cannot be loaded."""

    exit_code = EXIT_USAGE


class SubmissionError(ModelFileError):
    """A model file that cannot be run as a PIRM submission, said in one line."""

    exit_code = EXIT_REFUSED


class UnsafeGraph(SubmissionError):
    """A graph holding ops (or op arguments) outside the allow-list."""


class RuleViolation(PirmError, ValueError):
    """An export that breaks a submission rule or disagrees with its Keras model."""

    exit_code = EXIT_REFUSED


class ModelRunError(PirmError, RuntimeError):
    """A model that loaded but failed while running (a CheckNumerics, out of memory, a crash)."""

    exit_code = EXIT_RUNTIME


class CheckpointMismatch(ModelFileError):
    """A TF1 checkpoint whose variables do not fit the architecture."""


_NOISE = ("Detected at node", "[[", "File ", "Traceback", "Graph execution error", "Node:", "Stack trace")


def first_line(err):
    """The line of an exception's text that says what went wrong, or its type name.

    TensorFlow's run-time errors open with "Graph execution error:" and a stack
    of "Detected at node" lines; the line that matters (``boom : Tensor had NaN
    values``) comes later, so headers, stack lines and lines ending in ``:`` are
    skipped when something better follows.
    """
    text = getattr(err, "message", None) if not isinstance(err, str) else err
    text = str(text if isinstance(text, str) and text else err).strip().strip('"').strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if not line.startswith(_NOISE) and not line.endswith(":"):
            return line
    return lines[0] if lines else type(err).__name__


__all__ = ["CheckpointMismatch", "DataMissing", "ImageError", "ModelFileError", "ModelRunError", "OutputExists",
           "PirmError", "RuleViolation", "SubmissionError", "UnknownName", "UnsafeGraph", "UsageError",
           "WeightsUnavailable", "first_line"]
