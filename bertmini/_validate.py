"""Checks shared by the public functions, and the one way bertmini writes a directory.

Every public function validates its arguments once, at the boundary, with these helpers,
so that a mistake is reported in the caller's words ("lr must be a finite number > 0,
got '0.1'") instead of as an error from deep inside torch. Numbers are never converted:
a string where a number goes is refused, not turned into one (`float("0.1")` hides the
mistake until later).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import math
import numbers
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from numpy import bool_ as np_bool


def _got(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def check_int(
    name: str, value: Any, minimum: int | None = None, optional: bool = False
) -> int | None:
    """An integer (a Python or NumPy int; not a bool, not a float) >= `minimum`; None
    allowed when `optional`. Returns it as a Python int: random.Random, a torch
    Generator, json and a weights_only checkpoint all refuse NumPy integers."""
    if optional and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {_got(value)}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_number(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    optional: bool = False,
) -> None:
    """A finite real number (a Python or NumPy int or float; not bool, not str) inside
    the given interval."""
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {_got(value)}")
    left = "(" if low_open else "["
    right = ")" if high_open else "]"
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    interval = f"{left}{lo}, {hi}{right}"
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number in {interval}, got {value!r}")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        raise ValueError(f"{name} must be in {interval}, got {value!r}")


def check_bool(name: str, value: Any, optional: bool = False) -> None:
    """True or False (NumPy's bools too); None allowed when `optional`.

    Why not any truthy value: "no", "false" and 0.0 are what a student types for False,
    and Python reads the first two as True."""
    if optional and value is None:
        return
    if not isinstance(value, (bool, np_bool)):
        raise TypeError(f"{name} must be True or False, got {_got(value)}")


def check_generator(name: str, value: Any) -> None:
    """None or a torch.Generator. torch's own message for anything else lists the
    overloads of the function that received it, not the argument."""
    if value is not None and not isinstance(value, torch.Generator):
        raise TypeError(
            f"{name} must be a torch.Generator or None (e.g. "
            f"torch.Generator().manual_seed(0)), got {_got(value)}"
        )


def check_module(model: Any, expected: str) -> None:
    """A model argument must be an nn.Module: its device is read and it is put in eval
    mode. `expected` says which model, e.g. "a BertModel (an nn.Module)"."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be {expected}, got {type(model).__name__}")


def check_finite_logits(logits: Any) -> None:
    """A model's scores must be finite: an argmax or softmax of NaN is a silent wrong
    answer (argmax of NaN is class 0)."""
    if not bool(logits.isfinite().all()):
        raise ValueError(
            "the model produced NaN or infinite logits; its scores would be meaningless"
        )


def check_str(name: str, value: Any, nonempty: bool = False) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {_got(value)}")
    if nonempty and not value.strip():
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return value


def check_tokenizer(tokenizer: Any, name: str = "tokenizer") -> None:
    """A bertmini Tokenizer: the tasks read its special ids and offsets, which other
    tokenizers name differently."""
    from .tokenizer import Tokenizer  # imported here: tokenizer.py imports this module

    if not isinstance(tokenizer, Tokenizer):
        raise TypeError(
            f"{name} must be a bertmini Tokenizer (Tokenizer.from_pretrained(...)), "
            f"got {type(tokenizer).__name__}"
        )


def as_path(name: str, value: Any) -> Path:
    """A str or os.PathLike as a Path, with `~` expanded; an empty string is refused."""
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(
            f"{name} must be a path (str or pathlib.Path), got {_got(value)}"
        )
    if str(value).strip() == "":
        raise ValueError(f"{name} is an empty path; name a directory")
    return Path(value).expanduser()


def target_dir(name: str, value: Any) -> Path:
    """A directory that bertmini will (re)write as a whole: never "", ".", "..", "/" or
    "~".

    Replacing such a directory would replace the user's working directory or home, with
    everything in it; a checkpoint needs a folder of its own.
    """
    path = as_path(name, value)
    resolved = path.resolve()
    if (
        str(value).strip() in (".", "..", "./", "../")
        or Path.cwd().is_relative_to(resolved)
        or resolved == Path.home()
        or resolved.parent == resolved
    ):
        raise ValueError(
            f"{name}={str(value)!r} is the current, home or root directory (or holds "
            "the current one); save into a folder of its own, e.g. "
            "'checkpoints/my-model'"
        )
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{name}={str(value)!r} is a file, not a directory")
    return path


def read_text(path: Path, what: str) -> str:
    """A UTF-8 text file's contents, or an error that names the file and what is
    wrong."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise IsADirectoryError(
            f"{what} {path} is a directory, expected a file"
        ) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(
            f"{what} {path} is not UTF-8 text ({e.reason} at byte {e.start}); "
            "is it the right file?"
        ) from None


# ---------------------------------------------------------- atomic directory writes
_RENAME_EXCHANGE = 2  # Linux renameat2 flag: swap two paths in one atomic step


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directories atomically (Linux >= 3.15); False where the OS cannot."""
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return False
    try:
        libc = ctypes.CDLL(libc_name, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    return rc == 0


def fsync_dir(path: Path) -> None:
    """Make a rename durable: the directory entry itself must reach the disk."""
    # Windows cannot open a directory; its renames are durable anyway.
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def fsync_tree(path: Path) -> None:
    for f in path.iterdir():
        if f.is_file():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
    fsync_dir(path)


def replace_dir(tmp: Path, directory: Path) -> None:
    """Put the finished `tmp` at `directory` in one step; the old directory is then
    removed.

    On Linux the two are swapped atomically (renameat2): at every instant `directory` is
    either the old, complete directory or the new one. Elsewhere the old one is first
    renamed aside and only deleted once the new one is in place, so a crash in between
    leaves it, complete, in the hidden sibling `.NAME.old-*`.
    """
    if not directory.exists():
        os.replace(tmp, directory)
        fsync_dir(directory.parent)
        return
    if _exchange(tmp, directory):  # tmp now holds the old directory
        fsync_dir(directory.parent)
        shutil.rmtree(tmp, ignore_errors=True)
        return
    aside = Path(
        tempfile.mkdtemp(prefix=f".{directory.name}.old-", dir=directory.parent)
    )
    os.replace(directory, aside / directory.name)
    os.replace(tmp, directory)
    fsync_dir(directory.parent)
    shutil.rmtree(aside, ignore_errors=True)


def write_dir(
    directory: Path, write: Callable[[Path], None], keep_others: bool = True
) -> Path:
    """Write a whole directory atomically: `write(tmp)` fills a hidden temp sibling,
    which then replaces `directory` in one step. Files already in `directory` that
    `write` does not produce (a README, a tokenizer) are carried over (hard-linked, else
    copied) when `keep_others`.

    A crash or an error at any moment leaves `directory` as it was, and no temp sibling
    behind.
    """
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.tmp-", dir=directory.parent))
    try:
        write(tmp)
        if keep_others and directory.is_dir():
            for old in directory.iterdir():
                new = tmp / old.name
                if new.exists() or new.is_symlink():
                    continue
                if old.is_dir() and not old.is_symlink():
                    shutil.copytree(old, new, symlinks=True)
                else:
                    try:
                        os.link(old, new, follow_symlinks=False)
                    except OSError:
                        shutil.copy2(old, new, follow_symlinks=False)
        fsync_tree(tmp)
        replace_dir(tmp, directory)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return directory


def iter_files(path: Path) -> Iterator[Path]:
    return (p for p in sorted(path.rglob("*")) if p.is_file())
