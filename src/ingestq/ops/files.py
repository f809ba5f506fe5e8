"""Finding the PDFs a submission names, on file systems as they really are.

Directories are walked following links to other directories, each directory
once: two links pointing at each other make a loop that would otherwise be
walked until the disk or the memory runs out. A file name that is not valid
UTF-8 cannot be stored or shown faithfully, so it is reported and skipped. A
file that vanishes while it is looked at is skipped too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

PDF_MAGIC = b"%PDF-"
_GLOB_CHARS = frozenset("*?[")


def unnamable(path: Path | str) -> str:
    """Why ``path`` cannot be a document's name ("" if it can): bytes that are not UTF-8."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(path).decode("utf-8", "backslashreplace")
        return f"{shown}: the file name is not valid UTF-8; rename it to add it"
    return ""


def walk(root: Path) -> Iterator[Path]:
    """Every file below ``root``, following directory links, each directory once.

    Yields paths as they are under ``root`` (links not resolved), in a stable order.
    """
    return (Path(p) for p in walk_names(str(root)))


def walk_names(root: str) -> Iterator[str]:
    """:func:`walk`, as strings: a sync of 50,000 files spent seconds making Paths."""
    seen: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        directory = stack.pop()
        try:
            info = os.stat(directory)
        except OSError:
            continue  # vanished, or a dangling link
        if (info.st_dev, info.st_ino) in seen:
            continue
        seen.add((info.st_dev, info.st_ino))
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            continue
        subdirs = []
        for entry in entries:
            try:
                if entry.is_dir():
                    subdirs.append(entry.path)
                elif entry.is_file():
                    yield entry.path
            except OSError:
                continue
        stack.extend(reversed(subdirs))


def pdfs_under(root: Path) -> list[Path]:
    """The files below ``root`` whose names end in .pdf, any case."""
    return [Path(p) for p in pdf_names_under(root)]


def pdf_names_under(root: Path) -> list[str]:
    """:func:`pdfs_under`, as strings."""
    # As Path.suffix has it: a file named just ".pdf" has no suffix.
    return [
        p
        for p in walk_names(str(root))
        if p[-4:].lower() == ".pdf" and len(os.path.basename(p)) > 4
    ]


def expand(raw: str) -> Iterator[tuple[Path | None, str]]:
    """Yield ``(path, "")`` per candidate file of ``raw``, or ``(None, error)``."""
    path = Path(raw).expanduser()
    if not path.exists() and _GLOB_CHARS & set(raw):
        matches = glob(os.path.expanduser(raw))
        if not matches:
            yield None, f"{raw}: no file matches this pattern"
        for match in matches:
            yield from expand(str(match)) if match.is_dir() else [(match, "")]
        return
    if path.is_dir():
        found = pdfs_under(path)
        if not found:
            yield None, f"{raw}: no PDF files in this directory"
        yield from ((p, "") for p in found)
        return
    yield path, ""


def glob(pattern: str) -> list[Path]:
    """The paths ``pattern`` matches (``*``, ``?``, ``[...]``, and ``**`` for any depth).

    Like the standard library's recursive glob, but walking with :func:`walk`,
    so directory links are followed once and never loop.
    """
    parts = Path(pattern).parts
    fixed = next((i for i, part in enumerate(parts) if _GLOB_CHARS & set(part)), len(parts))
    base = Path(*parts[:fixed]) if fixed else Path(".")
    rest = parts[fixed:]
    if not rest:
        return [base] if base.exists() else []
    matcher = re.compile(_translate(rest))
    found = []
    for candidate in [*walk(base), *_dirs(base)]:
        relative = candidate.relative_to(base).as_posix()
        if matcher.fullmatch(relative):
            found.append(candidate)
    return sorted(set(found))


def _dirs(base: Path) -> Iterator[Path]:
    """The directories below ``base``, each once (a pattern may name directories)."""
    seen: set[tuple[int, int]] = set()
    stack = [base]
    while stack:
        directory = stack.pop()
        try:
            info = directory.stat()
            entries = list(os.scandir(directory))
        except OSError:
            continue
        if (info.st_dev, info.st_ino) in seen:
            continue
        seen.add((info.st_dev, info.st_ino))
        for entry in entries:
            try:
                if entry.is_dir():
                    stack.append(Path(entry.path))
                    yield Path(entry.path)
            except OSError:
                continue


def _translate(parts: tuple[str, ...]) -> str:
    """A regular expression for a relative path matching the glob ``parts``."""
    out = []
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "**":
            out.append(".*" if last else "(?:[^/]*/)*")
            continue
        piece = ""
        j = 0
        while j < len(part):
            c = part[j]
            if c == "*":
                piece += "[^/]*"
            elif c == "?":
                piece += "[^/]"
            elif c == "[" and (end := part.find("]", j + 1)) > j:
                body = part[j + 1 : end]
                piece += "[" + ("^" + body[1:] if body.startswith("!") else body) + "]"
                j = end
            else:
                piece += re.escape(c)
            j += 1
        out.append(piece + ("" if last else "/"))
    return "".join(out)


def check_pdf(path: Path, max_bytes: int) -> str:
    """Why ``path`` cannot be added, or "" if it can."""
    if problem := unnamable(path):
        return problem
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(len(PDF_MAGIC))
    except FileNotFoundError:
        return f"{path}: no such file"
    except IsADirectoryError:
        return f"{path}: is a directory"
    except PermissionError:
        return f"{path}: permission denied"
    except OSError as exc:
        return f"{path}: cannot be read ({exc.strerror or exc})"
    if head != PDF_MAGIC:
        return f"{path}: not a PDF (it does not start with %PDF-)"
    if size > max_bytes:
        return (
            f"{path}: {size / 1048576:.1f} MB is over the {max_bytes / 1048576:g} MB limit"
            " (INGESTQ_MAX_FILE_MB)"
        )
    return ""
