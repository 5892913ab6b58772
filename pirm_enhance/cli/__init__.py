"""Console entry points: argument parsing only, each calls library functions.

Every tool is ``main = cli.entry(run)``: :func:`main` turns the library's
:class:`~pirm_enhance.errors.PirmError` (and Ctrl-C, ``OSError``, out of
memory, TensorFlow run-time errors) into one ``error: ...`` line on stderr and
the exit code of :mod:`pirm_enhance.errors`. Flags are checked by
:class:`ArgumentParser`, whose errors are one line too.
"""

import argparse
import os
import sys

from pirm_enhance.errors import (EXIT_INTERRUPTED, EXIT_RUNTIME, EXIT_USAGE, PirmError, UsageError,
                                 first_line)
from pirm_enhance.quiet import quiet_tensorflow  # noqa: F401  (re-exported)

EXIT_INTERNAL = 70  # a bug: not an error the library expected


def say(message):
    """One line on stderr, prefixed ``error:``."""
    print(f"error: {' '.join(str(message).split())}", file=sys.stderr)


def fail(message, code=EXIT_USAGE):
    """Stop a tool with one line (raises :class:`UsageError`, which :func:`main` reports)."""
    raise UsageError(message, exit_code=code)


def _tensorflow_error(err):
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(err, tf.errors.OpError)


def main(run, argv=None):
    """Run a tool's ``run(argv)``; every failure becomes one line and an exit code."""
    try:
        code = run(argv)
    except SystemExit:
        raise
    except PirmError as err:
        say(err)
        return err.exit_code
    except KeyboardInterrupt:
        say("interrupted (Ctrl-C)")
        return EXIT_INTERRUPTED
    except MemoryError:
        say("out of memory; try a smaller image, --tile or batch size")
        return EXIT_RUNTIME
    except OSError as err:
        where = f"{err.filename}: " if getattr(err, "filename", None) else ""
        say(f"{where}{err.strerror or first_line(err)}")
        return EXIT_RUNTIME
    except Exception as err:  # noqa: BLE001  (the last line of defence of a console tool)
        if os.environ.get("PIRM_DEBUG"):
            raise
        if _tensorflow_error(err):
            say(f"TensorFlow failed while running the model: {type(err).__name__}: {first_line(err)}")
            return EXIT_RUNTIME
        say(f"internal error {type(err).__name__}: {first_line(err)} "
            "(a bug: set PIRM_DEBUG=1 for the traceback and report it)")
        return EXIT_INTERNAL
    return 0 if code is None else code


def entry(run):
    """``main(argv=None)`` for ``run``: what ``console_scripts`` point at."""
    def _main(argv=None):
        return main(run, argv)

    _main.__doc__ = f"Console entry point of {run.__module__}."
    return _main


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors (raised as :class:`UsageError`), defaults shown in --help."""

    def __init__(self, prog, doc, **kwargs):
        lines = doc.splitlines()
        super().__init__(prog=prog, description=lines[0], epilog="\n".join(lines[2:]),
                         formatter_class=_Formatter, **kwargs)

    def error(self, message):
        raise UsageError(f"{message}; see {self.prog} --help")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Appends ``(default: X)`` to options that have a default and do not say it."""

    def _get_help_string(self, action):
        text = action.help or ""
        if (action.default not in (None, False, [], argparse.SUPPRESS) and "default" not in text
                and action.option_strings):
            text += (" " if text else "") + "(default: %(default)s)"
        return text


def positive_int(text):
    """argparse type: an integer >= 1."""
    return _bounded(int, text, 1, "a whole number >= 1")


def nonnegative_int(text):
    return _bounded(int, text, 0, "a whole number >= 0")


def positive_float(text):
    return _bounded(float, text, None, "a number > 0", strict=True)


def _bounded(kind, text, low, what, strict=False):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    if strict and not value > 0 or low is not None and value < low or value != value:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
    return value


def key_value(text):
    """argparse type: ``KEY=VALUE`` -> ``(key, value)``; VALUE parsed as JSON when it is JSON."""
    import json

    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    try:
        return key.strip(), json.loads(value)
    except ValueError:
        return key.strip(), value
