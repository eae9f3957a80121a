"""Which files an audit reads: explicit files as given, directories by name pattern.

A file named on the command line is always read, whatever its name (the
reader knows captures by their magic bytes, not their names). A directory
contributes the regular files whose names match the patterns (default:
:data:`DEFAULT_GLOBS`, case-insensitive), its subdirectories too with
``recursive``; symbolic links to directories are not followed, so a link loop
cannot make the walk endless. Object-store URLs (``s3://bucket/prefix``) are
listed through fsspec when it is installed.
"""

from __future__ import annotations

import fnmatch
import importlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from analyzer.audit.options import DEFAULT_GLOBS
from analyzer.audit.worker import is_url
from analyzer.errors import UsageError


@dataclass(slots=True)
class Discovery:
    files: list[str] = field(default_factory=list)
    # Directories that could not be listed, and why: each becomes an error row.
    unreadable: list[tuple[str, str]] = field(default_factory=list)


def matches(relpath: str, globs: Sequence[str]) -> bool:
    """``relpath`` (with ``/``) matches a pattern: on its name, or on the path for patterns with ``/``."""
    name = relpath.rsplit("/", 1)[-1].lower()
    return any(fnmatch.fnmatchcase(relpath.lower() if "/" in g else name, g.lower()) for g in globs)


def discover(
    paths: Sequence[str], *, recursive: bool = False, globs: Sequence[str] = DEFAULT_GLOBS
) -> Discovery:
    """The files to audit, sorted within each argument; UsageError for a path that does not exist."""
    found = Discovery()
    seen: set[str] = set()

    def add(path: str) -> None:
        key = path if is_url(path) else os.path.normpath(path)
        if key not in seen:
            seen.add(key)
            found.files.append(path)

    for arg in paths:
        local = arg.removeprefix("file://")
        if is_url(arg):
            for path in _discover_url(arg, recursive=recursive, globs=globs):
                add(path)
        elif os.path.isdir(local):
            for path in _walk(local, recursive, globs, found.unreadable):
                add(path)
        elif os.path.lexists(local):
            add(arg)
        else:
            raise UsageError(f"{arg}: no such file or directory")
    return found


def _walk(
    root: str, recursive: bool, globs: Sequence[str], unreadable: list[tuple[str, str]]
) -> Iterator[str]:
    def onerror(err: OSError) -> None:
        unreadable.append((str(err.filename or root), err.strerror or str(err)))

    for dirpath, dirnames, filenames in os.walk(root, onerror=onerror):
        dirnames.sort()
        if not recursive:
            dirnames.clear()
        rel = os.path.relpath(dirpath, root).replace(os.sep, "/")
        for name in sorted(filenames):
            relpath = name if rel == "." else f"{rel}/{name}"
            full = os.path.join(dirpath, name)
            # Regular files only: a FIFO or device in a capture folder would block the reader.
            if matches(relpath, globs) and os.path.isfile(full):
                yield full


def _discover_url(url: str, *, recursive: bool, globs: Sequence[str]) -> list[str]:
    try:
        url_to_fs = importlib.import_module("fsspec.core").url_to_fs  # optional: pushcap[dask]
    except ImportError as exc:
        raise UsageError(
            f"{url}: reading URLs needs fsspec: pip install 'pushcap[dask]' "
            "(and the backend for this URL, e.g. s3fs)"
        ) from exc
    try:
        fs, root = url_to_fs(url)
        if not fs.isdir(root):
            if not fs.exists(root):
                raise UsageError(f"{url}: no such object")
            return [url]
        entries: Any = fs.find(root, maxdepth=None if recursive else 1)
    except (OSError, ValueError, ImportError) as exc:
        raise UsageError(f"{url}: could not be listed: {type(exc).__name__}: {exc}") from exc
    base = root.rstrip("/")
    out = []
    for entry in sorted(str(e) for e in entries):
        relpath = entry[len(base) + 1 :] if entry.startswith(base + "/") else entry
        if matches(relpath, globs):
            out.append(str(fs.unstrip_protocol(entry)))
    return out
