"""Files on disk: where the package caches downloads and models, and how it fingerprints
them.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ._validate import as_path

CACHE_ENV = "BERTMINI_CACHE"


def cache_dir(override: str | os.PathLike | None = None) -> Path:
    """The cache: `override`, else `$BERTMINI_CACHE`, else `~/.cache/bertmini` (`~`
    expanded).
    """
    if override is not None and not isinstance(override, (str, os.PathLike)):
        raise TypeError(
            "the cache directory must be a path (str or pathlib.Path), got "
            f"{override!r} ({type(override).__name__})"
        )
    if override is not None and str(override).strip():
        return Path(override).expanduser()
    configured = os.environ.get(CACHE_ENV, "").strip()
    return (
        Path(configured).expanduser()
        if configured
        else Path.home() / ".cache" / "bertmini"
    )


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """The sha256 of a file's bytes, read in chunks so large weights need little
    memory.
    """
    digest = hashlib.sha256()
    with open(as_path("path", path), "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()
