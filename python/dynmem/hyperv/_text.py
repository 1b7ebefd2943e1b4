"""Reading a Windows export as text, and the one way its readers fail:
`FileFormatError` naming ``file:line:column``."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ..errors import ConfigTypeError, FileFormatError

#: Characters no text export holds (binary garbage).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def fail(path: Path | str, line: int | None, column: int | None, why: str, field: str = "path") -> FileFormatError:
    """``FileFormatError("{file}:{line}:{column}: {why}")`` (the parts that are known)."""
    where = str(path)
    if line is not None:
        where += f":{line}"
        if column is not None:
            where += f":{column}"
    return FileFormatError(f"{where}: {why}", field, str(path), path=str(path), line=line, column=column)


def as_path(path: Any, name: str = "path") -> Path:
    """``path`` as a `Path`, or `ConfigTypeError` naming ``name``."""
    if not isinstance(path, (str, os.PathLike)):
        raise ConfigTypeError(f"{name} must be a file path, got {path!r:.80}", name, path)
    return Path(path)


def position(text: str, offset: int) -> tuple[int, int]:
    """1-based ``(line, column)`` of character ``offset`` of ``text``."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def read_text(path: Path, what: str, repairs: list[str]) -> str:
    """The file's text: UTF-8 or UTF-16 by its byte-order mark (Windows
    PowerShell's ``>`` writes UTF-16 LE), else UTF-8, else Windows-1252
    (``relog``/``typeperf`` write the ANSI code page; logged). A file with
    NUL bytes outside UTF-16, or that is not text, is a `FileFormatError`
    at the first bad byte."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise fail(path, None, None, f"cannot read the {what}: {e.strerror or e}") from e
    if raw.startswith(b"\xef\xbb\xbf"):
        encoding, body = "utf-8", raw[3:]
    elif raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding, body = "utf-16", raw
    else:
        encoding, body = "utf-8", raw
    if encoding != "utf-16":
        nul = body.find(b"\x00")
        if nul >= 0:
            line, col = _byte_position(body, nul)
            raise fail(path, line, col, f"a NUL byte: not a text file (binary data, or a {what} damaged on disk)")
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError as e:
        if encoding == "utf-16":
            raise fail(path, None, None, f"not valid UTF-16 text after its byte-order mark: {e.reason}") from e
        try:
            text = body.decode("cp1252")
        except UnicodeDecodeError:
            line, col = _byte_position(body, e.start)
            raise fail(path, line, col, f"not text: byte 0x{body[e.start]:02x} is neither UTF-8 nor Windows-1252") from e
        repairs.append(f"{path.name}: not UTF-8; read as Windows-1252 (the ANSI code page relog and typeperf write)")
    bad = _CONTROL.search(text)
    if bad is not None:
        line, col = position(text, bad.start())
        raise fail(path, line, col, f"control character {bad.group()!r}: not a text file (binary data?)")
    return text


def _byte_position(raw: bytes, offset: int) -> tuple[int, int]:
    line = raw.count(b"\n", 0, offset) + 1
    return line, offset - (raw.rfind(b"\n", 0, offset) + 1) + 1
