"""Decides which text encoding a CSV upload is in, and transcodes it to UTF-8 in bounded memory.

Rules (docs/spec.md §4, CSV files):
- a byte-order mark decides: UTF-8, UTF-16 (LE or BE) or UTF-32 (LE or BE);
- without one, the file's first non-ASCII bytes decide. A valid UTF-8 sequence makes the file
  UTF-8: a later byte that is not UTF-8 is damage (a file cut and pasted together, a failed
  transfer), refused with its byte offset, never guessed at. An invalid one makes it
  Windows-1252, the default "CSV" export of Excel in much of Europe and the Americas (Latin-1
  text is read the same way, as every browser does, since its C1 control codes never occur in
  text). A file of ASCII only is UTF-8.
Anything else than UTF-8 is transcoded to a UTF-8 file in 1 MiB chunks before it is read.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import Literal

from core.errors import ContentRejectedError

Encoding = Literal["utf-8", "utf-8-sig", "utf-16", "utf-32", "windows-1252"]

TRANSCODE_CHUNK_BYTES = 1024**2
# UTF-32 LE's mark starts with UTF-16 LE's: the longer marks are tried first.
_BYTE_ORDER_MARKS: tuple[tuple[bytes, Encoding], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_NON_ASCII = re.compile(rb"[\x80-\xff]")
# Enough bytes for one UTF-8 character (at most 4) to be judged whole.
_UTF8_CHARACTER_BYTES = 4
SAVE_AS_UTF8 = 'save it as "CSV UTF-8" (in Excel: File > Save As > CSV UTF-8)'


def byte_order_mark_encoding(head: bytes) -> Encoding | None:
    """The encoding a file's byte-order mark names, or None when it has none."""
    for mark, encoding in _BYTE_ORDER_MARKS:
        if head.startswith(mark):
            return encoding
    return None


def starts_as_windows_1252(text: bytes, complete: bool) -> bool | None:
    """Whether the first non-ASCII bytes of `text` are not UTF-8 (so the text is Windows-1252);
    None when `text` is all ASCII, or ends before its first non-ASCII character is whole."""
    found = _NON_ASCII.search(text)
    if found is None:
        return None
    window = text[found.start() : found.start() + _UTF8_CHARACTER_BYTES]
    try:
        decoded = codecs.getincrementaldecoder("utf-8")().decode(window, final=complete)
    except UnicodeDecodeError as exc:
        return exc.start == 0  # past 0, a valid first character came before the bad byte
    return None if decoded == "" else False  # "": a character cut by the end of `text`


def is_transcodable_text(head: bytes, complete: bool) -> bool:
    """Whether a file's first bytes are text in an encoding other than UTF-8 that is read:
    UTF-16 or UTF-32 with a byte-order mark, or Windows-1252 (no NUL byte in either)."""
    encoding = byte_order_mark_encoding(head)
    if encoding is None:
        if not starts_as_windows_1252(head, complete):
            return False
        encoding = "windows-1252"
    elif encoding == "utf-8-sig":
        return False
    try:
        text = codecs.getincrementaldecoder(encoding)().decode(head, final=complete)
    except UnicodeDecodeError:
        return False
    return "\x00" not in text


def detect_encoding(path: Path) -> Encoding:
    """The encoding `path` is read in (see the module's rules). Reads up to the first non-ASCII
    byte, in 1 MiB chunks: the whole file only when it is all ASCII."""
    with path.open("rb") as file:
        head = file.read(4)
        marked = byte_order_mark_encoding(head)
        if marked is not None:
            return marked
        file.seek(0)
        carry = b""
        while chunk := file.read(TRANSCODE_CHUNK_BYTES):
            if not carry and chunk.isascii():  # far faster than a search
                continue
            text = carry + chunk
            verdict = starts_as_windows_1252(text, complete=False)
            if verdict is not None:
                return "windows-1252" if verdict else "utf-8"
            # Keep a cut character's first bytes for the next chunk.
            found = _NON_ASCII.search(text)
            carry = text[found.start() :] if found is not None else b""
        if carry and starts_as_windows_1252(carry, complete=True):
            return "windows-1252"
    return "utf-8"


def transcode_to_utf8(source: Path, encoding: Encoding, destination: Path) -> None:
    """Writes `source`'s text as UTF-8 (no byte-order mark) to `destination`, chunk by chunk.

    A byte the encoding cannot decode (one of the five Windows-1252 leaves undefined, or a
    broken UTF-16 pair) is refused with its byte offset.
    """
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = 0
    with source.open("rb") as reader, destination.open("wb") as writer:
        while True:
            chunk = reader.read(TRANSCODE_CHUNK_BYTES)
            try:
                text = decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                # The decoder may hold the last bytes of the previous chunk before `chunk`.
                held = len(exc.object) - len(chunk)
                raise ContentRejectedError(
                    _undecodable(encoding, exc.object[exc.start], offset - held + exc.start)
                ) from exc
            writer.write(text.encode("utf-8"))
            offset += len(chunk)
            if not chunk:
                return


def _undecodable(encoding: Encoding, byte: int, offset: int) -> str:
    name = {"utf-16": "UTF-16", "utf-32": "UTF-32", "windows-1252": "Windows-1252"}.get(
        encoding, encoding
    )
    return (
        f"the file is not valid {name} text (byte 0x{byte:02x} at offset {offset:,}): "
        f"{SAVE_AS_UTF8}"
    )
