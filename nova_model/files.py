"""Writing the files the commands produce (counterexamples, sequence diagrams)."""

from __future__ import annotations

import os
import tempfile


def atomic_write(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` so that a reader never sees half a file.

    The text goes to a temporary file in the same directory, which then replaces
    ``path`` in one rename: an old file is only ever replaced whole, and a failed
    write leaves neither a partial file nor the temporary one behind. Raises OSError
    (the directory does not exist, ``path`` is a directory, ...).
    """
    path = os.fspath(path)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            # mkstemp creates the file 0600; give it the mode open() would have.
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(out.fileno(), 0o666 & ~umask)
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
