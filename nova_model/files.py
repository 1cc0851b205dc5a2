"""Writing the files the commands produce (counterexamples, sequence diagrams, reports).

Every output goes through ``write_files``: each file is written whole or not at all,
and a place that cannot be written (a missing or read-only directory, a path under a
file, a directory where a file is wanted) is an ``OutputError``, one line naming the
path, never a traceback.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping


class OutputError(Exception):
    """An output cannot be written. ``str()`` is one line: the path and why."""


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def check_directory(path: str | os.PathLike[str]) -> None:
    """OutputError unless ``path`` is a writable directory or can be created as one.

    Asked before the work whose result goes there (a search of minutes, every
    diagram), so that a place that cannot be written is found out first."""
    shown = os.fspath(path)
    if "\0" in shown:
        raise OutputError(f"{shown!r}: a file name cannot contain a NUL byte")
    existing = os.path.abspath(shown)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise OutputError(f"{shown}: cannot write under {existing}: not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"{shown}: cannot write under {existing}: not writable")


def make_directory(path: str | os.PathLike[str]) -> None:
    """``path`` and its parents, as ``mkdir -p``; OutputError if it cannot be one."""
    try:
        os.makedirs(path, exist_ok=True)
    except (OSError, ValueError) as exc:
        why = _why(exc) if isinstance(exc, OSError) else str(exc)
        raise OutputError(f"{os.fspath(path)}: cannot create the directory: {why}") from None


def write_files(texts: Mapping[str | os.PathLike[str], str | bytes]) -> None:
    """Write each text (UTF-8) or bytes to its path so that no reader sees half a file.

    Every file first goes to a temporary file in its own directory; only when all of
    them are written does each replace its path, in one rename: an old file is only
    ever replaced whole, and a failure leaves neither a partial file nor a temporary
    one behind. Raises OutputError.
    """
    written: list[tuple[str, str]] = []  # (temporary, final path)
    try:
        for target, content in texts.items():
            path = os.fspath(target)
            if os.path.isdir(path):
                # os.replace onto a directory fails with a misleading "Not a directory"
                raise OutputError(f"{path}: is a directory; name the file to write")
            try:
                fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", suffix=".tmp")
            except (OSError, ValueError) as exc:
                why = _why(exc) if isinstance(exc, OSError) else str(exc)
                raise OutputError(f"{path}: cannot write: {why}") from None
            written.append((tmp, path))
            data = content.encode("utf-8") if isinstance(content, str) else content
            try:
                with os.fdopen(fd, "wb") as out:
                    # mkstemp creates the file 0600; give it the mode open() would have.
                    umask = os.umask(0)
                    os.umask(umask)
                    os.fchmod(out.fileno(), 0o666 & ~umask)
                    out.write(data)
            except OSError as exc:
                raise OutputError(f"{path}: cannot write: {_why(exc)}") from None
        for tmp, path in written:
            try:
                os.replace(tmp, path)
            except OSError as exc:
                raise OutputError(f"{path}: cannot write: {_why(exc)}") from None
    except BaseException:
        for tmp, _ in written:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        raise


def atomic_write(path: str | os.PathLike[str], text: str) -> None:
    """``write_files`` for one file."""
    write_files({path: text})
