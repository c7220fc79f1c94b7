"""Public data sets by name: download once, verify, cache, or read from a mirror.

The course uses four public data sets: SST-2 (sentiment), SQuAD v1.1 (question
answering), WikiText-2 (language modelling) and WNUT-17 (named entities). Every file is
listed in `registry.json` beside this module with its upstream URL, size and hash, so a
download that was cut short, tampered with, or quietly changed upstream is refused
instead of silently producing different numbers.

Where a file comes from, in order:

1. `BERTMINI_DATA_MIRROR` set to a **local folder**: `<folder>/<mirror path>` (for
   example `sst2/dev.tsv`) is verified and read in place - nothing is copied.
2. The **cache** (`$BERTMINI_CACHE`, default `~/.cache/bertmini`): a file there is used
   only if it still matches its hash. Files only ever appear there under their final
   name after they were verified (download to a temporary file, check, then an atomic
   rename), so an interrupted transfer never leaves anything a later run would trust.
3. `BERTMINI_DATA_MIRROR` set to an `http://` base URL (a classroom server): downloaded
   from `<url>/<mirror path>` into the cache.
4. Otherwise the **upstream URL** pinned in the registry, downloaded into the cache.

A mirror holds only some files (the SQuAD and WikiText-2 train files are not mirrored);
asking a mirror for one it lacks raises `NotMirroredError`, which says what to use
instead.

Only the standard library is used for HTTP (`urllib`), with a timeout on every request,
so importing this module stays light.
"""

from __future__ import annotations

import hashlib
import json
import numbers
import operator
import os
import random
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import warnings
import zipfile
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path
from typing import Any, BinaryIO, Sequence

from ._validate import as_path, check_bool, check_int, check_str, read_text

# cache_dir is public here too
from .files import CACHE_ENV, cache_dir, sha256_file  # noqa: F401

__all__ = [
    "DATASETS",
    "DataFile",
    "Dataset",
    "DataError",
    "UnknownNameError",
    "ChecksumError",
    "DownloadError",
    "OfflineError",
    "NotMirroredError",
    "list_datasets",
    "get_file",
    "cache_dir",
    "fetch",
    "verify",
    "sha256_file",
    "git_blob_sha1",
    "git_blob_sha1_file",
    "load_sst2",
    "load_squad",
    "load_wikitext2",
    "load_wnut17",
    "read_conll",
    "split_wikitext_documents",
]

MIRROR_ENV = "BERTMINI_DATA_MIRROR"
REGISTRY_PATH = Path(__file__).with_name("registry.json")
# Seconds per socket operation (connect, each read); a dead server fails fast
TIMEOUT_S = 30.0
CHUNK_BYTES = 1 << 16


# --------------------------------------------------------------------------------------
# Errors: each says what went wrong and what to do about it
# --------------------------------------------------------------------------------------


class UnknownNameError(KeyError, ValueError):
    """An unknown data set or split name. Both a KeyError (a failed lookup) and a
    ValueError.
    """

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""


class DataError(OSError):
    """Base class for files that could not be obtained or did not verify."""


class ChecksumError(DataError):
    """A file whose size or hash is not the one in the registry."""

    def __init__(self, message: str, *, algorithm: str, expected: str, actual: str):
        super().__init__(message)
        self.algorithm, self.expected, self.actual = algorithm, expected, actual


class DownloadError(DataError):
    """A transfer that failed: HTTP error status, cut short, or not the archive
    expected.
    """

    def __init__(self, message: str, *, url: str, status: int | None = None):
        super().__init__(message)
        self.url, self.status = url, status


class OfflineError(DownloadError):
    """The server could not be reached at all (no network, refused, timed out)."""


class NotMirroredError(DataError, FileNotFoundError):
    """A file the data mirror in `BERTMINI_DATA_MIRROR` does not hold."""


# --------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataFile:
    """One file of one split, as listed in `registry.json`."""

    dataset: str
    split: str
    mirror_path: str  # path inside a mirror and inside the cache, e.g. "sst2/dev.tsv"
    url: str  # upstream URL (pinned); for archives, the archive's URL
    size: int | None  # bytes; None where not known exactly
    sha256: str | None
    # sha1(b"blob <size>\0" + data); used where no sha256 is known
    git_blob_sha1: str | None
    archive_member: str | None = None  # the file's path inside the archive at `url`
    mirrored: bool = True  # False: no mirror this project knows of holds it
    instead: str | None = None  # what to use when it cannot be had (offline advice)


@dataclass(frozen=True)
class Dataset:
    """A data set: where it comes from, its license and how to cite it, and its
    files.
    """

    name: str
    description: str
    homepage: str
    license: str
    citation: str
    files: dict[str, DataFile]  # split -> file


def _load_registry(path: Path = REGISTRY_PATH) -> dict[str, Dataset]:
    if not path.is_file():
        raise FileNotFoundError(
            f"The data registry {path} is missing from the bertmini package. Reinstall "
            "bertmini (`pip install -e .` from the repository) so that "
            "bertmini/registry.json is included."
        )
    raw = json.loads(path.read_text(encoding="utf-8"))["datasets"]
    datasets = {}
    for name, info in raw.items():
        files = {
            split: DataFile(dataset=name, split=split, **entry)
            for split, entry in info["files"].items()
        }
        meta = {k: info[k] for k in ("description", "homepage", "license", "citation")}
        datasets[name] = Dataset(name=name, files=files, **meta)
    return datasets


DATASETS: dict[str, Dataset] = _load_registry()


def list_datasets() -> list[str]:
    """Names accepted by `fetch` (`sorted(DATASETS)`)."""
    return sorted(DATASETS)


def get_file(name: str, split: str) -> DataFile:
    """The registry entry of one file; unknown names raise `UnknownNameError`.

    Names must be strings: a list such as ["dev"] would otherwise fail as "unhashable"
    deep inside the lookup.
    """
    check_str("name", name)
    check_str("split", split)
    if name not in DATASETS:
        raise UnknownNameError(
            f"Unknown data set {name!r}; choose one of {list_datasets()}."
        )
    files = DATASETS[name].files
    if split not in files:
        raise UnknownNameError(
            f"Unknown split {split!r} for data set {name!r}; choose one of {list(files)}."
        )
    return files[split]


# --------------------------------------------------------------------------------------
# Integrity: sha256, or git's blob sha1 where that is all that is published
# --------------------------------------------------------------------------------------


def git_blob_sha1(data: bytes) -> str:
    """The id git gives a file's content: `sha1(b"blob <len>\\0" + data)`.

    Published for every file in a git repository, so a file known only by its commit can
    still be verified after a download from anywhere.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"data must be bytes, got {type(data).__name__}; encode a str first"
        )
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def git_blob_sha1_file(path: str | Path) -> str:
    path = as_path("path", path)
    digest = hashlib.sha1(b"blob %d\0" % os.path.getsize(path))
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


# (path, size, mtime, inode, expected hash) already checked
_verified: set[tuple] = set()


def verify(path: str | Path, entry: DataFile, *, source: str | None = None) -> None:
    """Raise `ChecksumError` unless `path` has the registry's size and hash.

    The strongest known hash is used (sha256, else git blob sha1). A file checked once
    in this process is not hashed again while its size, modification time and inode stay
    the same.
    """
    path = as_path("path", path)
    if not isinstance(entry, DataFile):
        raise TypeError(
            "entry must be a DataFile (data.get_file(name, split)), got "
            f"{type(entry).__name__}"
        )
    if entry.sha256:
        algorithm, expected, compute = "sha256", entry.sha256.lower(), sha256_file
    elif entry.git_blob_sha1:
        algorithm, expected, compute = (
            "git blob sha1",
            entry.git_blob_sha1.lower(),
            git_blob_sha1_file,
        )
    else:
        raise ValueError(
            f"The registry has no hash for {entry.mirror_path}; it cannot be verified."
        )
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ino, expected)
    if key in _verified:
        return
    actual = compute(path)
    size_ok = entry.size is None or stat.st_size == entry.size
    if actual != expected or not size_ok:
        size_note = (
            ""
            if entry.size is None
            else f" ({stat.st_size:,} bytes; expected {entry.size:,})"
        )
        raise ChecksumError(
            f"{entry.mirror_path} from {source or path} does not match the registry{size_note}:\n"
            f"  expected {algorithm} {expected}\n"
            f"  actual   {algorithm} {actual}\n"
            "The file is truncated, corrupted or a different version.",
            algorithm=algorithm,
            expected=expected,
            actual=actual,
        )
    _verified.add(key)


# --------------------------------------------------------------------------------------
# Downloads: temp file -> verify -> atomic rename
# --------------------------------------------------------------------------------------


def _mirror_setting() -> tuple[str, str | Path] | None:
    """`("folder", Path)` or `("url", base)` from `BERTMINI_DATA_MIRROR`, or None if
    unset.
    """
    value = os.environ.get(MIRROR_ENV, "").strip()
    if not value:
        return None
    scheme = urllib.parse.urlparse(value).scheme.lower()
    if scheme in ("http", "https"):
        return "url", value.rstrip("/")
    if scheme == "file":
        return "folder", Path(
            urllib.request.url2pathname(urllib.parse.urlparse(value).path)
        )
    if "://" in value:
        raise ValueError(
            f"{MIRROR_ENV}={value!r}: a mirror is a local folder or an http:// or https:// base URL."
        )
    return "folder", Path(value).expanduser()


def _copy_with_progress(
    response: BinaryIO, out: BinaryIO, *, total: int | None, desc: str, progress: bool
) -> int:
    """Stream `response` into `out` in chunks, with a tqdm bar; return the bytes
    copied.
    """
    # only needed when something is actually downloaded
    from tqdm import tqdm

    received = 0
    with tqdm(
        total=total,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=desc,
        disable=not progress,
    ) as bar:
        while chunk := response.read(CHUNK_BYTES):
            out.write(chunk)
            received += len(chunk)
            bar.update(len(chunk))
    return received


def _download_to_temp(url: str, directory: Path, *, desc: str, progress: bool) -> Path:
    """Download `url` into a new `*.part` file in `directory` (same file system as the
    target, so the final rename is atomic). Nothing is left behind if anything fails,
    Ctrl-C included.
    """
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(
        dir=directory, prefix=f".{Path(desc).name}.", suffix=".part"
    )
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            request = urllib.request.Request(
                url, headers={"User-Agent": "bertmini-data"}
            )
            try:
                # Only http(s) URLs get here: the registry's, or an http(s) mirror's
                response = urllib.request.urlopen(request, timeout=TIMEOUT_S)
            except urllib.error.HTTPError as err:
                message = f"{url} answered HTTP {err.code} {err.reason}."
                raise DownloadError(message, url=url, status=err.code) from err
            except (
                urllib.error.URLError,
                TimeoutError,
                ConnectionError,
                HTTPException,
            ) as err:
                reason = getattr(err, "reason", err)
                message = f"Could not connect to {url} (no network, or the server is down): {reason}."
                raise OfflineError(message, url=url) from err
            with response:
                length = response.headers.get("Content-Length")
                expected = int(length) if length and length.isdigit() else None
                try:
                    received = _copy_with_progress(
                        response, out, total=expected, desc=desc, progress=progress
                    )
                except (TimeoutError, ConnectionError, HTTPException) as err:
                    raise DownloadError(
                        f"The transfer of {url} was interrupted: {err!r}.", url=url
                    ) from err
        if expected is not None and received != expected:
            raise DownloadError(
                f"The transfer of {url} was cut short: received {received:,} of {expected:,} bytes.",
                url=url,
            )
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _install(tmp: Path, target: Path, entry: DataFile, *, source: str) -> None:
    """Verify `tmp` and move it to `target` in one atomic step; on any failure delete
    it.
    """
    try:
        verify(tmp, entry, source=source)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _manual_download_advice(entry: DataFile, target: Path) -> str:
    extract = (
        f", extract {entry.archive_member} from it," if entry.archive_member else ""
    )
    return (
        f"No network? Set {MIRROR_ENV} to a folder (or http:// URL) holding {entry.mirror_path}, "
        f"or download {entry.url} by hand{extract} and save it as {target}."
    )


def _download_upstream(entry: DataFile, target: Path, progress: bool) -> None:
    try:
        tmp = _download_to_temp(
            entry.url, target.parent, desc=entry.mirror_path, progress=progress
        )
    except DownloadError as err:
        raise type(err)(
            f"{err} {_manual_download_advice(entry, target)}",
            url=err.url,
            status=err.status,
        ) from err
    if entry.archive_member is None:
        _install(tmp, target, entry, source=entry.url)
        return
    # An archive (SST-2 is only published inside GLUE's SST-2.zip): extract every file
    # the registry takes from this archive, so the next split does not download it
    # again.
    try:
        siblings = [
            f
            for f in DATASETS[entry.dataset].files.values()
            if f.url == entry.url and f != entry
        ]
        with zipfile.ZipFile(tmp) as archive:
            _extract(archive, entry, target)
            for sibling in siblings:
                try:
                    _extract(archive, sibling, cache_dir() / sibling.mirror_path)
                except DataError as err:
                    # The requested file is fine; report, do not fail
                    warnings.warn(
                        f"{sibling.mirror_path} was not extracted: {err}", stacklevel=3
                    )
    except zipfile.BadZipFile as err:
        raise DownloadError(
            f"{entry.url} is not a zip archive ({err}).", url=entry.url
        ) from err
    finally:
        tmp.unlink(missing_ok=True)


def _extract(archive: zipfile.ZipFile, entry: DataFile, target: Path) -> None:
    if entry.archive_member not in archive.namelist():
        message = (
            f"{entry.url} has no member {entry.archive_member}; did upstream change?"
        )
        raise DownloadError(message, url=entry.url)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".part"
    )
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out, archive.open(entry.archive_member) as member:
            while chunk := member.read(CHUNK_BYTES):
                out.write(chunk)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _install(tmp, target, entry, source=f"{entry.url}:{entry.archive_member}")


def _not_mirrored(entry: DataFile, mirror: str | Path) -> NotMirroredError:
    lacks = (
        "is not mirrored by this project"
        if not entry.mirrored
        else "is missing from it"
    )
    source = (
        f"{entry.archive_member} inside {entry.url}"
        if entry.archive_member
        else entry.url
    )
    instead = entry.instead or (
        f"Copy it to {mirror}/{entry.mirror_path} from {source}, or unset {MIRROR_ENV} to download it."
    )
    return NotMirroredError(
        f"{entry.mirror_path} ({entry.dataset} split {entry.split!r}) is not in the data mirror "
        f"{MIRROR_ENV}={mirror}: it {lacks}. {instead} Upstream URL: {entry.url}"
    )


def _cached(entry: DataFile) -> Path | None:
    """The cached copy if it verifies; a cached copy that does not is deleted, never
    trusted.
    """
    target = cache_dir() / entry.mirror_path
    if not target.is_file():
        return None
    try:
        verify(target, entry, source="the cache")
    except ChecksumError as err:
        warnings.warn(
            f"Deleting a corrupt cached file and fetching it again: {err}", stacklevel=3
        )
        target.unlink(missing_ok=True)
        return None
    return target


def fetch(name: str, split: str, *, progress: bool = True) -> Path:
    """The verified local path of one file of a registered data set, downloading it if
    needed.

    Args:
        name: a data set in `DATASETS` ("sst2", "squad", "wikitext2", "wnut17").
        split: a split of that data set ("train", "dev", "valid", "test"; see the
            registry).
        progress: show a tqdm progress bar while downloading.

    Raises:
        UnknownNameError: unknown data set or split (the message lists the valid ones).
        ChecksumError: the file does not match the registry (a downloaded file is
            deleted first).
        OfflineError: the mirror or upstream server could not be reached.
        DownloadError: the server answered an error or the transfer was cut short.
        NotMirroredError: `BERTMINI_DATA_MIRROR` is set and does not hold the file.
    """
    entry = get_file(name, split)
    check_bool("progress", progress)
    mirror = _mirror_setting()
    if mirror is not None and mirror[0] == "folder":
        in_place = Path(mirror[1]) / entry.mirror_path
        if in_place.is_file():
            verify(
                in_place,
                entry,
                source=f"the mirror {MIRROR_ENV}={mirror[1]} (left unchanged)",
            )
            return in_place
    cached = _cached(entry)
    if cached is not None:
        return cached
    if mirror is None:
        target = cache_dir() / entry.mirror_path
        _download_upstream(entry, target, progress)
        return target
    kind, where = mirror
    if kind == "folder":
        raise _not_mirrored(entry, where)
    target = cache_dir() / entry.mirror_path
    url = f"{where}/{entry.mirror_path}"
    try:
        tmp = _download_to_temp(
            url, target.parent, desc=entry.mirror_path, progress=progress
        )
    except OfflineError as err:
        raise OfflineError(
            f"{err} The data mirror {MIRROR_ENV}={where} is not answering: start it, point {MIRROR_ENV} at "
            f"a local folder holding {entry.mirror_path}, or unset it to download from {entry.url}.",
            url=url,
        ) from err
    except DownloadError as err:
        if err.status == 404:
            raise _not_mirrored(entry, where) from err
        raise
    _install(tmp, target, entry, source=url)
    return target


# --------------------------------------------------------------------------------------
# Loaders: files -> plain Python records
# --------------------------------------------------------------------------------------


def _check_limit(limit: int | None) -> int | None:
    """None or a Python int >= 0 (NumPy ints accepted and converted).

    A ValueError for every bad limit, wrong type included: that is what callers have
    always caught here.
    """
    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, numbers.Integral) or limit < 0
    ):
        raise ValueError(f"limit must be None or an integer >= 0, got {limit!r}.")
    return None if limit is None else int(limit)


def load_sst2(
    split: str, limit: int | None = None, seed: int = 0
) -> list[dict[str, Any]]:
    """SST-2 as `[{"sentence": str, "label": int}, ...]` (label 1 = positive), in file
    order.

    `limit` keeps a random sample of that many rows, drawn without replacement with
    `random.Random(seed)` - the same rows for the same seed on every machine - still in
    file order. `limit` at least the number of rows keeps them all. `seed` must be an
    integer >= 0; None is refused rather than read as "random", because a sample that
    changes on every call makes results impossible to reproduce.
    """
    limit = _check_limit(limit)
    seed = check_int("seed", seed, minimum=0)  # a Python int: random.Random wants one
    path = fetch("sst2", split)
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or lines[0].split("\t") != ["sentence", "label"]:
        raise DataError(f"{path} does not start with the header 'sentence<TAB>label'.")
    rows = []
    for line in lines[1:]:
        # tab-separated, no quoting: never use csv here
        sentence, label = line.rsplit("\t", 1)
        rows.append({"sentence": sentence, "label": int(label)})
    if limit is None or limit >= len(rows):
        return rows
    keep = sorted(random.Random(seed).sample(range(len(rows)), limit))
    return [rows[i] for i in keep]


def _is_index(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _select_articles(n: int, articles: slice | Sequence[int] | None) -> list[int]:
    """The article indices to keep, in the order asked for.

    A selection that keeps nothing is an error, not an empty data set: `slice(100, 200)`
    on a 48-article file is a typo whose empty result would only fail much later (or
    "train" on nothing).
    """
    if articles is None:
        return list(range(n))
    if isinstance(articles, slice):
        for part in ("start", "stop", "step"):
            value = getattr(articles, part)
            if value is not None and not _is_index(value):
                raise TypeError(
                    f"articles={articles!r}: a slice's {part} must be an integer or "
                    f"None, got {value!r} ({type(value).__name__})."
                )
        bounds = [
            None if v is None else operator.index(v)
            for v in (articles.start, articles.stop, articles.step)
        ]
        if bounds[2] == 0:
            raise ValueError(f"articles={articles!r}: a slice's step cannot be 0.")
        chosen = list(range(n)[slice(*bounds)])
        if not chosen:
            raise ValueError(
                f"articles={articles!r} selects no article: the file has {n} articles "
                f"(0..{n - 1})."
            )
        return chosen
    if isinstance(articles, (str, bytes)) or not isinstance(articles, Sequence):
        raise TypeError(
            f"articles must be a slice or a list of article indices, got {articles!r}."
        )
    if len(articles) == 0:
        raise ValueError(
            f"articles=[] selects no article: the file has {n} articles (0..{n - 1}); "
            "pass None to keep them all."
        )
    chosen = []
    for index in articles:
        if not _is_index(index):
            raise TypeError(
                f"articles must hold integer article indices, got {index!r} "
                f"({type(index).__name__})."
            )
        if not -n <= index < n:
            raise ValueError(
                f"Article index {index!r} is out of range: the file has {n} articles (0..{n - 1})."
            )
        chosen.append(int(index) % n)
    if len(set(chosen)) != len(chosen):
        raise ValueError(f"articles lists an article twice: {list(articles)}.")
    return chosen


def load_squad(
    split: str = "dev",
    limit: int | None = None,
    articles: slice | Sequence[int] | None = None,
) -> list[dict[str, Any]]:
    """SQuAD v1.1 as flat question records, one per question, in file order.

    Each record: `{"id", "title", "article", "context", "question", "answers": {"text":
    [...], "answer_start": [...]}}` where `article` is the index of the article in the
    file (so records can be grouped or split by article) and `answer_start` is a
    character offset into `context`.

    Args:
        split: "dev" (mirrored) or "train" (download only).
        limit: keep only the first `limit` questions (after selecting articles).
        articles: a slice or list of article indices to keep. Offline there is no train
            file, so the dev set is split by article, which keeps every paragraph on one
            side: `articles=slice(0, 40)` (8,981 questions) to fine-tune,
            `articles=slice(40, None)` (1,589 questions) to evaluate. A selection
            that keeps no article raises ValueError.
    """
    limit = _check_limit(limit)
    path = fetch("squad", split)
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    records: list[dict[str, Any]] = []
    for a in _select_articles(len(data), articles):
        article = data[a]
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                if limit is not None and len(records) >= limit:
                    return records
                records.append(
                    {
                        "id": qa["id"],
                        "title": article["title"],
                        "article": a,
                        "context": paragraph["context"],
                        "question": qa["question"],
                        "answers": {
                            "text": [ans["text"] for ans in qa["answers"]],
                            "answer_start": [
                                ans["answer_start"] for ans in qa["answers"]
                            ],
                        },
                    }
                )
    return records


# " = Homarus gammarus = " (stripped): a new article
_TITLE = re.compile(r"= (?!= )(.+?) =")
# " = = Description = = ", " = = = Film = = = "
_SUBHEADING = re.compile(r"(?:= ){2,}.*?(?: =){2,}")


def split_wikitext_documents(lines: Sequence[str]) -> list[dict[str, Any]]:
    """Group WikiText lines into articles at their top-level ` = Title = ` headings.

    Sub-headings and empty lines are dropped; every other line becomes one paragraph,
    with the single space WikiText puts around each line stripped and the tokens
    (`<unk>`, ` @-@ `) left exactly as they are. Lines before the first heading, if any,
    form an article titled "".

    `lines` is a list of lines, not the file's text: a str is refused, since iterating
    it would treat every character as a line. Pass `text.splitlines()`.
    """
    if isinstance(lines, (str, bytes)):
        raise TypeError(
            f"lines must be a list of lines, got a {type(lines).__name__} of "
            f"{len(lines)} characters; pass text.splitlines()."
        )
    try:
        lines = list(lines)
    except TypeError:
        raise TypeError(
            f"lines must be a list of lines, got {type(lines).__name__}"
        ) from None
    for number, line in enumerate(lines):
        if not isinstance(line, str):
            raise TypeError(
                f"lines must hold strings, got {line!r:.60} ({type(line).__name__}) "
                f"at index {number}."
            )
    documents: list[dict[str, Any]] = []
    for line in lines:
        text = line.strip()
        if not text or _SUBHEADING.fullmatch(text):
            continue
        title = _TITLE.fullmatch(text)
        if title:
            documents.append({"title": title.group(1), "paragraphs": []})
            continue
        if not documents:
            documents.append({"title": "", "paragraphs": []})
        documents[-1]["paragraphs"].append(text)
    return documents


def load_wikitext2(split: str) -> list[dict[str, Any]]:
    """WikiText-2 (tokenized v1) as articles `[{"title": str, "paragraphs": [str, ...]},
    ...]`.

    `split` is "valid" (60 articles) or "test", both mirrored, or "train" (download
    only). The test file holds 60 articles (Merity et al., 2016) but splits into 62 here:
    in "Constant k filter" two lines of an equation (test.txt lines 2149 and 2151, " = 1
    <unk> and <unk> C = ") have the form of a heading and start documents of their own.
    The split is kept as it is because chapters 4 and 5 and the shipped small BERT were
    measured on it; a heading would need blank lines around it to tell them apart.
    """
    path = fetch("wikitext2", split)
    return split_wikitext_documents(path.read_text(encoding="utf-8").splitlines())


def read_conll(
    text: str | os.PathLike, source: str = "text"
) -> list[dict[str, list[str]]]:
    """Sentences of a two-column CoNLL file: `[{"tokens": [...], "tags": [...]}, ...]`.

    `text` is the file's contents (a str), or a `pathlib.Path` to the file, which is
    read as UTF-8 and named in error messages. A str is always contents, never a file
    name: guessing which one it is would read a file whenever a text happened to look
    like a path.

    One token and its tag per line, separated by a TAB; a sentence ends at a line that
    is empty *or holds only white space* (WNUT-17's files use both). A line without
    exactly one TAB is an error, not something to guess around: a silently shifted
    column would shift every label.
    """
    if isinstance(text, os.PathLike):
        path = as_path("text", text)
        text, source = read_text(path, "CoNLL file"), str(path)
    elif not isinstance(text, str):
        raise TypeError(
            "text must be the file's contents (str) or a pathlib.Path, got "
            f"{type(text).__name__}"
        )
    check_str("source", source)
    sentences: list[dict[str, list[str]]] = []
    tokens: list[str] = []
    tags: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() == "":
            if tokens:
                sentences.append({"tokens": tokens, "tags": tags})
                tokens, tags = [], []
            continue
        fields = line.split("\t")
        if len(fields) != 2 or not fields[0] or not fields[1].strip():
            hint = ""
            if number == 1 and "\n" not in text and Path(text).expanduser().is_file():
                hint = " text is the file's contents; to read a file, pass Path(text)."
            raise DataError(
                f"{source}, line {number}: expected 'token<TAB>tag', got {line!r}.{hint}"
            )
        tokens.append(fields[0])
        tags.append(fields[1].strip())
    if tokens:
        sentences.append({"tokens": tokens, "tags": tags})
    return sentences


def load_wnut17(split: str) -> list[dict[str, list[str]]]:
    """WNUT-17 as sentences `[{"tokens": [str, ...], "tags": ["O", "B-person", ...]},
    ...]`.

    `split` is "train" (3,394 sentences), "dev" (1,009) or "test" (1,287), all mirrored.
    Tags are BIO over six types: person, location, corporation, product, creative-work,
    group.
    """
    path = fetch("wnut17", split)
    return read_conll(path.read_text(encoding="utf-8"), source=str(path))
