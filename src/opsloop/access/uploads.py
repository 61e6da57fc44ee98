"""Safe file uploads: a size cap, an allow-list of types checked by name *and* content.

For the centers that accept files (batch import of customer lists, templates): call
:func:`check_upload` on the first bytes before storing anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from opsloop.errors import InvalidInputError

# suffix → (content types, magic prefix or None for text)
ALLOWED: dict[str, tuple[frozenset[str], bytes | None]] = {
    ".csv": (frozenset({"text/csv", "application/vnd.ms-excel", "text/plain"}), None),
    ".json": (frozenset({"application/json"}), None),
    ".parquet": (
        frozenset({"application/octet-stream", "application/vnd.apache.parquet"}),
        b"PAR1",
    ),
    ".xlsx": (
        frozenset({"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}),
        b"PK\x03\x04",
    ),
}
MAX_UPLOAD_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class UploadCheck:
    name: str
    suffix: str


def check_upload(
    *, filename: str, content_type: str, size: int, head: bytes, max_bytes: int = MAX_UPLOAD_BYTES
) -> UploadCheck:
    """Refuse path tricks, oversize files, unlisted types and content that lies about its type.

    Raises:
        InvalidInputError: with ``where`` naming the offending part.
    """
    name = PurePosixPath(filename.replace("\\", "/")).name
    if not name or name.startswith(".") or "\x00" in name:
        raise InvalidInputError("unusable file name", where="filename")
    if size > max_bytes:
        raise InvalidInputError(f"file over {max_bytes} bytes", where="size")
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in ALLOWED:
        raise InvalidInputError(f"file type {suffix or '(none)'} is not accepted", where="filename")
    types, magic = ALLOWED[suffix]
    if content_type.split(";")[0].strip().lower() not in types:
        raise InvalidInputError(
            f"content type {content_type!r} does not match {suffix}", where="content_type"
        )
    if magic is not None and not head.startswith(magic):
        raise InvalidInputError(f"content is not a {suffix} file", where="content")
    if magic is None and b"\x00" in head:
        raise InvalidInputError("a text file must not contain NUL bytes", where="content")
    return UploadCheck(name=name, suffix=suffix)
