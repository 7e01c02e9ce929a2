"""Where a CSV export's text is read from: memory (a decoded file up to `TabularOptions.max_bytes`) or
the file itself, read again from disk a byte range at a time (any size, in bounded memory).

Why two: a file that is not UTF-8 (Windows-1252, UTF-16) must be decoded whole before its byte offsets
mean anything, so it is held in memory as UTF-8, up to the in-memory cap. A UTF-8 file's offsets are the
file's own, so `CsvIndex` can note where each mailbox's rows are in one streaming pass and read them from
disk when the mailbox's turn comes: memory then depends on the number of mailboxes (a few integers each),
not on the file's size. Both hand out physical lines exactly as io.StringIO(newline="") splits them.

Reading from disk is not mmap: a file truncated in place under a mapping kills the process (SIGBUS),
while a read just comes back short. The file stays open and each read (pread: no shared position, so
threads may read at once) first checks that its size and modification time are still those indexed; if
not, `FileChanged` is raised and the mailbox is unavailable this run.
"""

from __future__ import annotations

import os
import re
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

# A physical line as io.StringIO(newline="") splits text: ended by CRLF, CR or LF (kept), or the last,
# unended one. CR and LF never occur inside a UTF-8 multi-byte sequence, so splitting bytes is safe.
LINE = re.compile(rb"[^\r\n]*(?:\r\n?|\n)|[^\r\n]+\Z")
CHUNK = 1 << 20


class FileChanged(Exception):
    """The file is no longer the one that was indexed."""


class MemoryText:
    """The text as UTF-8 bytes in memory."""

    __slots__ = ("size", "utf8")

    def __init__(self, utf8: bytes) -> None:
        self.utf8 = utf8
        self.size = len(utf8)

    def head(self) -> bytes:
        """The text up to the first LF (where the header's delimiter is counted)."""
        newline = self.utf8.find(b"\n")
        return self.utf8 if newline < 0 else self.utf8[:newline]

    def lines(self, start: int, end: int | None = None) -> Iterator[bytes]:
        """The physical lines from byte `start` to `end` (default: the end of the text)."""
        for match in LINE.finditer(self.utf8, start, self.size if end is None else end):
            yield match.group()


class FileText:
    """A UTF-8 file on disk, read a range at a time, `chunk` bytes a read; `start` skips a BOM.

    The file stays open (a descriptor, closed when this object is collected), so the run reads the
    version it indexed even if the file is deleted or replaced by a new one meanwhile (a rename over it,
    as exporters write); a change in place (size or modification time) raises `FileChanged`.
    """

    __slots__ = ("__weakref__", "_fd", "_identity", "chunk", "path", "size", "start")

    def __init__(self, path: Path, *, chunk: int = CHUNK) -> None:
        fd = os.open(path, os.O_RDONLY)
        weakref.finalize(self, os.close, fd)
        stat = os.fstat(fd)
        self._fd = fd
        self._identity = (stat.st_size, stat.st_mtime_ns)
        self.path = path
        self.chunk = chunk
        self.size = stat.st_size
        self.start = 3 if os.pread(fd, 3, 0) == b"\xef\xbb\xbf" else 0

    def head(self) -> bytes:
        """The text up to the first LF (at most 1 MiB of it)."""
        first = self._read(self.start, CHUNK)
        newline = first.find(b"\n")
        return first if newline < 0 else first[:newline]

    def lines(self, start: int, end: int | None = None) -> Iterator[bytes]:
        """The physical lines from byte `start` to `end` (default: the end of the file); raises
        `FileChanged` when the file was changed in place since it was opened."""
        return _chunked_lines(self._read, start, self.size if end is None else end, self.chunk)

    def _read(self, offset: int, size: int) -> bytes:
        stat = os.fstat(self._fd)
        if (stat.st_size, stat.st_mtime_ns) != self._identity:
            raise FileChanged
        return os.pread(self._fd, size, offset)


def _chunked_lines(read: Callable[[int, int], bytes], start: int, end: int, chunk: int) -> Iterator[bytes]:
    """The physical lines of bytes `start` to `end`, `read(offset, size)` `chunk` bytes at a time. A line
    is handed out once it is surely complete: up to the last LF of the buffer, or a CR that is not the
    buffer's last byte (a CR at the end may be the first half of a CRLF)."""
    carry = b""
    offset = start
    while True:
        data = read(offset, min(chunk, end - offset)) if offset < end else b""
        offset += len(data)
        if not data:
            if carry:
                yield carry  # the last line, unended or ended by a lone CR
            return
        buffer = carry + data
        cut = max(buffer.rfind(b"\n"), buffer.rfind(b"\r", 0, len(buffer) - 1)) + 1
        for match in LINE.finditer(buffer, 0, cut):
            yield match.group()
        carry = buffer[cut:]
