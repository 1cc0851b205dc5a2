"""Reading the documents a user hands over: scenario JSON and cluster TOML.

Everything here happens before a document's meaning is looked at, so that bad
input of any shape ends as one ``DocumentError`` line (file, field, problem) and
never as a hang, a traceback or a value nothing downstream can hold:

* the file must be a regular file of at most ``MAX_FILE_BYTES`` (a FIFO would
  block the reader forever, ``/dev/zero`` would fill the memory);
* the text must be UTF-8 and parse (stdlib ``json`` and ``tomllib``); nesting
  deeper than ``MAX_DEPTH`` and integers longer than ``MAX_DIGITS`` digits are
  refused by name instead of surfacing as Python's RecursionError / ValueError;
* every number must be finite and within what Placement stores: integers within
  ``MAX_INT`` and other numbers within ``MAX_FLOAT`` in magnitude (Placement's
  database limits: ``placement/db/constants.py``; its inventory schema caps
  ``allocation_ratio`` at the same float), so no capacity can become infinite;
* JSON must not repeat a key in one object (the last one would silently win),
  nor use ``NaN`` / ``Infinity``, which are not JSON.

What each field means (types, names, ranges of particular options) is checked by
the reader of each kind of document: ``model.config`` and
``nova_model.scenario``.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import tomllib
from typing import Any

__all__ = [
    "MAX_DEPTH", "MAX_DIGITS", "MAX_FILE_BYTES", "MAX_FLOAT", "MAX_INT", "MAX_ITEMS",
    "DocumentError", "UnreadableFile", "check_tree", "parse_json", "parse_toml",
    "read_text",
]

#: The largest input file read (a scenario of 10,000 steps is about a megabyte).
MAX_FILE_BYTES = 8 * 1024 * 1024
#: The deepest nesting of lists and objects (the formats need 6).
MAX_DEPTH = 32
#: The longest integer literal (MAX_INT has 10 digits).
MAX_DIGITS = 20
#: Placement's largest integer (db constants MAX_INT: a 32-bit signed column).
MAX_INT = 2_147_483_647
#: Placement's largest float (db constants MAX_FLOAT, allocation_ratio's maximum).
MAX_FLOAT = 3.40282e38
#: The most entries one list or object may have.
MAX_ITEMS = 100_000


class DocumentError(ValueError):
    """A document cannot be read or holds a value nothing can use.

    ``str()`` is one line: ``source: field: problem`` (field omitted when the
    problem is the file itself).
    """

    def __init__(self, source: str, problem: str, field: str = ""):
        self.source, self.field, self.problem = source, field, problem
        where = f"{source}: {field}: " if field else f"{source}: "
        super().__init__(" ".join((where + problem).split("\n")))


class UnreadableFile(DocumentError):
    """The file itself cannot be read: missing, not a regular file, too large,
    not UTF-8. (A reader that opened it on behalf of another document names
    that document's field too.)"""


def read_text(path: str | os.PathLike[str]) -> str:
    """The UTF-8 text of the regular file ``path``; UnreadableFile otherwise."""
    try:
        source = os.fspath(path)
    except TypeError:
        raise UnreadableFile(repr(path), "not a file name") from None
    shown = source if isinstance(source, str) else os.fsdecode(source)
    if "\0" in shown:
        raise UnreadableFile(repr(shown), "a file name cannot contain a NUL byte")
    try:
        # O_NONBLOCK: opening a FIFO with no writer must not wait for one
        fd = os.open(source, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise UnreadableFile(shown, f"cannot read: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise UnreadableFile(shown, "cannot read: is a directory")
        if not stat.S_ISREG(mode):
            raise UnreadableFile(shown, f"cannot read: not a regular file ({_kind(mode)})")
        chunks, size = [], 0
        while size <= MAX_FILE_BYTES:
            chunk = os.read(fd, MAX_FILE_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > MAX_FILE_BYTES:
            raise UnreadableFile(shown, f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    except OSError as exc:
        raise UnreadableFile(shown, f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(shown, f"not UTF-8 text: {exc.reason} at byte {exc.start}") \
            from None


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a special file"


class _LongInteger(str):
    """An integer literal too long to convert (kept as text for ``check_tree``)."""


def _json_int(text: str) -> int | _LongInteger:
    return _LongInteger(text) if len(text.lstrip("-")) > MAX_DIGITS else int(text)


def _json_constant(text: str) -> Any:
    raise _Refused(f"{text} is not a JSON number")


class _Refused(Exception):
    """Raised inside a JSON hook; turned into a DocumentError by ``parse_json``."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Refused(f"{key}: given twice in one object")
        out[key] = value
    return out


def parse_json(text: str, source: str) -> Any:
    """Decode JSON text; DocumentError on any problem. The caller runs ``check_tree``
    on the value (a scenario names the fields of its bare-list form as ``steps``)."""
    try:
        value = json.loads(text, parse_int=_json_int, parse_constant=_json_constant,
                           object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise DocumentError(source, f"invalid JSON: {exc.msg} (line {exc.lineno}, "
                                    f"column {exc.colno})") from None
    except _Refused as exc:
        raise DocumentError(source, f"invalid JSON: {exc}") from None
    except RecursionError:
        raise DocumentError(source, f"nested more than {MAX_DEPTH} levels deep") from None
    return value


_LONG_DIGITS = re.compile(r"\d{%d,}" % (MAX_DIGITS + 1))


def parse_toml(text: str, source: str) -> dict[str, Any]:
    """Decode TOML text and ``check_tree`` it; DocumentError on any problem."""
    try:
        value = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DocumentError(source, f"invalid TOML: {exc}") from None
    except RecursionError:
        raise DocumentError(source, f"nested more than {MAX_DEPTH} levels deep") from None
    except ValueError:
        # tomllib lets int()'s own limit (4300 digits) through: find the literal's line
        found = _LONG_DIGITS.search(text)
        line = f"line {text.count(chr(10), 0, found.start()) + 1}: " if found else ""
        raise DocumentError(source, f"invalid TOML: {line}an integer of more than "
                                    f"{MAX_DIGITS} digits") from None
    check_tree(value, source)
    return value


def check_tree(value: Any, source: str, root: str = "") -> None:
    """Refuse too deep nesting, too many items and numbers outside Placement's range,
    naming the field (``steps[3].value``; ``root`` names ``value`` itself). Iterative:
    depth is what it measures."""
    stack: list[tuple[Any, str, int]] = [(value, root, 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth >= MAX_DEPTH:
                raise DocumentError(source, f"nested more than {MAX_DEPTH} levels deep",
                                    path)
            if len(item) > MAX_ITEMS:
                raise DocumentError(source, f"more than {MAX_ITEMS} entries", path)
            if isinstance(item, dict):
                stack.extend((v, _key(path, k), depth + 1) for k, v in item.items())
            else:
                stack.extend((v, f"{path}[{i}]", depth + 1) for i, v in enumerate(item))
        elif isinstance(item, _LongInteger):
            raise DocumentError(source, f"an integer of more than {MAX_DIGITS} digits "
                                        f"(at most {MAX_INT})", path)
        elif isinstance(item, bool) or item is None or isinstance(item, str):
            continue
        elif isinstance(item, int):
            if not -MAX_INT <= item <= MAX_INT:
                raise DocumentError(source, f"{_short(item)} is out of range: integers "
                                            f"are at most {MAX_INT} (Placement's limit)",
                                    path)
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise DocumentError(source, f"must be a finite number, got {item!r}", path)
            if abs(item) > MAX_FLOAT:
                raise DocumentError(source, f"{item!r} is out of range: numbers are at "
                                            f"most {MAX_FLOAT:g} (Placement's limit)", path)


def _key(path: str, key: str) -> str:
    shown = key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)
    return f"{path}.{shown}" if path else shown


def _short(number: int) -> str:
    text = str(number)
    return text if len(text) <= 24 else f"{text[:10]}...({len(text)} digits)"
