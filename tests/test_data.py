"""Tests for bertmini.data: the registry, verified downloads, mirrors and the loaders.

The download path is exercised for real: a ``http.server`` on 127.0.0.1 in a thread
serves small synthetic files (registered as a "toy" data set, so these tests need no
data at all) and the read-only data mirror (``$BERTMINI_DATA_MIRROR``, or ../shared/data
beside the repository). Nothing here touches the internet; every connection goes to
127.0.0.1. Tests that need the real files skip, saying why, where the mirror is absent.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import re
import socket
import threading
import time
import zipfile
from dataclasses import replace
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bertmini import data
from bertmini.data import (
    ChecksumError,
    DataError,
    DataFile,
    Dataset,
    DownloadError,
    NotMirroredError,
    OfflineError,
    UnknownNameError,
    fetch,
    load_squad,
    load_sst2,
    load_wikitext2,
    load_wnut17,
    read_conll,
)

REPO_ROOT = Path(__file__).resolve().parents[1]


def _local_mirror() -> Path | None:
    """The data mirror folder: $BERTMINI_DATA_MIRROR if it is a folder, else ../shared/data."""
    value = os.environ.get("BERTMINI_DATA_MIRROR", "")
    base = (
        Path(value)
        if value and "://" not in value
        else REPO_ROOT.parent / "shared" / "data"
    )
    return base if (base / "sst2" / "dev.tsv").is_file() else None


MIRROR = _local_mirror()
needs_mirror = pytest.mark.skipif(
    MIRROR is None,
    reason="data mirror not found: set BERTMINI_DATA_MIRROR to a folder holding sst2/, squad/, wikitext2/",
)


# --------------------------------------------------------------------------------------
# fixtures: an isolated cache, a loopback HTTP server, a synthetic "toy" data set
# --------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Every test gets its own empty cache, no mirror, no proxy for 127.0.0.1, short timeouts."""
    monkeypatch.setenv("BERTMINI_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("BERTMINI_DATA_MIRROR", raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setattr(data, "TIMEOUT_S", 5.0)
    monkeypatch.setattr(data, "_verified", set())
    return tmp_path / "cache"


def _files_in(folder: Path) -> list[Path]:
    return (
        sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []
    )


class _Handler(SimpleHTTPRequestHandler):
    """Serves the mirror folder, plus ``routes`` (exact paths -> bytes) and two broken
    modes: ``/_truncated/<path>`` announces the full Content-Length but sends half and
    hangs up; ``/_nolength/<path>`` sends half with no Content-Length at all.
    """

    def log_message(self, *args):  # keep test output clean
        pass

    def _body(self, path: str) -> bytes | None:
        if path in self.server.routes:
            return self.server.routes[path]
        file = Path(self.directory) / path.lstrip("/")
        return file.read_bytes() if file.is_file() else None

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.server.requests.append(self.path)
        for prefix in ("/_truncated/", "/_nolength/"):
            if self.path.startswith(prefix):
                body = self._body("/" + self.path[len(prefix) :])
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                if prefix == "/_truncated/":
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
        if self.path in self.server.routes:
            body = self.server.routes[self.path]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real HTTP server on 127.0.0.1 (any free port) serving the mirror folder in a thread."""
    root = MIRROR if MIRROR is not None else tmp_path_factory.mktemp("empty-mirror")
    httpd = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Handler, directory=str(root))
    )
    httpd.daemon_threads = True
    httpd.routes, httpd.requests = {}, []
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def toy(server, monkeypatch):
    """Register a data set "toy" whose one file is served by the loopback server as 'upstream'."""
    # 88 kB: several chunks
    payload = b"the quick brown fox jumps over the lazy dog\n" * 2000
    server.routes["/upstream/hello.txt"] = payload
    entry = DataFile(
        dataset="toy",
        split="train",
        mirror_path="toy/hello.txt",
        url=f"{server.url}/upstream/hello.txt",
        size=len(payload),
        sha256=hashlib.sha256(payload).hexdigest(),
        git_blob_sha1=None,
    )
    monkeypatch.setitem(
        data.DATASETS,
        "toy",
        Dataset("toy", "synthetic", "", "none", "none", {"train": entry}),
    )
    server.requests.clear()
    return entry, payload


def _set_toy(monkeypatch, **changes) -> DataFile:
    entry = replace(data.DATASETS["toy"].files["train"], **changes)
    monkeypatch.setitem(data.DATASETS["toy"].files, "train", entry)
    return entry


def _dead_port() -> int:
    """A loopback port with nothing listening on it (bound, read, released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------------------
# hashes, names, cache location
# --------------------------------------------------------------------------------------


def test_git_blob_sha1_matches_git(tmp_path):
    # `printf 'hello\n' | git hash-object --stdin` and the well-known empty blob.
    assert data.git_blob_sha1(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"
    assert data.git_blob_sha1(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
    blob = os.urandom(3 * (1 << 20) + 7)  # several read chunks
    (tmp_path / "f").write_bytes(blob)
    assert data.git_blob_sha1_file(tmp_path / "f") == data.git_blob_sha1(blob)
    assert data.sha256_file(tmp_path / "f") == hashlib.sha256(blob).hexdigest()


def test_unknown_names_list_the_valid_choices():
    with pytest.raises(
        UnknownNameError, match=r"'imdb'.*\['squad', 'sst2', 'wikitext2', 'wnut17'\]"
    ) as err:
        fetch("imdb", "train")
    assert isinstance(err.value, ValueError) and isinstance(err.value, KeyError)
    with pytest.raises(ValueError, match=r"'test'.*'sst2'.*\['train', 'dev'\]"):
        load_sst2("test")
    with pytest.raises(ValueError, match=r"'validation'.*'valid'"):
        load_wikitext2("validation")
    with pytest.raises(KeyError, match="'dev'"):
        load_squad("validation")
    assert data.list_datasets() == ["squad", "sst2", "wikitext2", "wnut17"]


def test_bad_limit_and_articles_are_refused():
    with pytest.raises(ValueError, match="limit"):
        load_sst2("dev", limit=-1)
    with pytest.raises(ValueError, match="limit"):
        load_squad("dev", limit=2.5)


def test_cache_dir_follows_env_then_home(monkeypatch, tmp_path):
    monkeypatch.setenv("BERTMINI_CACHE", str(tmp_path / "elsewhere"))
    assert data.cache_dir() == tmp_path / "elsewhere"
    monkeypatch.delenv("BERTMINI_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data.cache_dir() == tmp_path / "home" / ".cache" / "bertmini"


def test_registry_is_complete_and_agrees_with_readme():
    readme = (REPO_ROOT / "data" / "README.md").read_text(encoding="utf-8")
    assert "never commit" in readme.lower()
    for name, dataset in data.DATASETS.items():
        assert dataset.license and dataset.citation and dataset.homepage, name
        for split, entry in dataset.files.items():
            assert entry.sha256 or entry.git_blob_sha1, (name, split)
            assert entry.url.startswith("https://"), entry.url
            for digest in (entry.sha256, entry.git_blob_sha1):
                if digest:
                    assert re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", digest), digest
                    assert digest in readme, (
                        f"{name}/{split}: {digest} missing from data/README.md"
                    )
            assert f"`{entry.mirror_path}`" in readme
            if entry.size is not None:
                assert f"{entry.size:,}" in readme, (
                    f"{name}/{split}: size missing from data/README.md"
                )
            if not entry.mirrored:
                assert entry.instead, (
                    f"{name}/{split} is not mirrored but says nothing about what to use instead"
                )


@needs_mirror
def test_registry_hashes_match_the_mirror_checksums():
    # The top-level SHA256SUMS lists the first sets; sets added later keep theirs in
    # their folder.
    sums = {}
    for listing in [MIRROR / "SHA256SUMS", *sorted(MIRROR.glob("*/SHA256SUMS"))]:
        prefix = "" if listing.parent == MIRROR else listing.parent.name + "/"
        for line in listing.read_text().splitlines():
            if line.strip():
                digest, name = line.split()
                sums[prefix + name] = digest
    registered = {
        e.mirror_path: e.sha256
        for d in data.DATASETS.values()
        for e in d.files.values()
        if e.mirrored
    }
    assert {path: sums.get(path) for path in registered} == registered
    for dataset in data.DATASETS.values():
        for entry in dataset.files.values():
            if entry.mirrored:
                assert (MIRROR / entry.mirror_path).stat().st_size == entry.size


# --------------------------------------------------------------------------------------
# the download path, on synthetic files (no data needed)
# --------------------------------------------------------------------------------------


def test_download_verifies_renames_and_is_cached(toy, server, isolated):
    entry, payload = toy
    path = fetch("toy", "train")
    assert path == isolated / "toy" / "hello.txt"
    assert path.read_bytes() == payload
    assert _files_in(isolated) == [path], "no temporary *.part file may be left behind"
    assert server.requests == ["/upstream/hello.txt"]
    assert fetch("toy", "train") == path
    assert server.requests == ["/upstream/hello.txt"], (
        "a verified cached file is not downloaded again"
    )


def test_git_blob_hash_is_used_where_no_sha256_is_known(toy, monkeypatch):
    entry, payload = toy
    _set_toy(monkeypatch, sha256=None, git_blob_sha1=data.git_blob_sha1(payload))
    assert fetch("toy", "train").read_bytes() == payload


def test_wrong_hash_raises_with_both_hashes_and_leaves_nothing(
    toy, monkeypatch, isolated
):
    entry, payload = toy
    _set_toy(monkeypatch, sha256="0" * 64)
    with pytest.raises(ChecksumError) as err:
        fetch("toy", "train")
    actual = hashlib.sha256(payload).hexdigest()
    assert "0" * 64 in str(err.value) and actual in str(err.value)
    assert (err.value.expected, err.value.actual) == ("0" * 64, actual)
    assert _files_in(isolated) == []


def test_wrong_size_is_refused(toy, monkeypatch, isolated):
    entry, payload = toy
    _set_toy(monkeypatch, size=len(payload) + 1)
    with pytest.raises(ChecksumError, match=f"expected {len(payload) + 1:,}"):
        fetch("toy", "train")
    assert _files_in(isolated) == []


@pytest.mark.parametrize(
    "mode, error, message",
    [
        # Content-Length announced, half sent
        ("_truncated", DownloadError, "cut short"),
        # No length to compare: the hash catches it
        ("_nolength", ChecksumError, "does not match"),
    ],
)
def test_truncated_transfer_leaves_nothing(
    toy, server, monkeypatch, isolated, mode, error, message
):
    entry, payload = toy
    _set_toy(monkeypatch, url=f"{server.url}/{mode}/upstream/hello.txt")
    with pytest.raises(error, match=message):
        fetch("toy", "train")
    assert _files_in(isolated) == []


def test_interrupted_transfer_leaves_nothing(toy, monkeypatch, isolated):
    def copy_then_ctrl_c(response, out, **kwargs):
        out.write(response.read(1000))
        raise KeyboardInterrupt

    monkeypatch.setattr(data, "_copy_with_progress", copy_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        fetch("toy", "train")
    assert _files_in(isolated) == []


def test_corrupt_cached_file_is_replaced_not_trusted(toy, server, isolated):
    entry, payload = toy
    target = isolated / entry.mirror_path
    target.parent.mkdir(parents=True)
    target.write_bytes(payload[:100])  # e.g. left by some other tool
    with pytest.warns(UserWarning, match="corrupt cached file"):
        path = fetch("toy", "train")
    assert path.read_bytes() == payload and server.requests == ["/upstream/hello.txt"]


def test_upstream_unreachable_names_the_mirror_variable_and_url(
    toy, monkeypatch, isolated
):
    url = f"http://127.0.0.1:{_dead_port()}/hello.txt"
    _set_toy(monkeypatch, url=url)
    with pytest.raises(OfflineError) as err:
        fetch("toy", "train")
    message = str(err.value)
    assert (
        "BERTMINI_DATA_MIRROR" in message
        and url in message
        and "no network" in message.lower()
    )
    assert isinstance(err.value, OSError)
    assert _files_in(isolated) == []


def test_http_mirror_gone_names_the_mirror_variable_and_upstream_url(toy, monkeypatch):
    entry, _ = toy
    monkeypatch.setenv("BERTMINI_DATA_MIRROR", f"http://127.0.0.1:{_dead_port()}")
    with pytest.raises(OfflineError) as err:
        fetch("toy", "train")
    assert "BERTMINI_DATA_MIRROR" in str(err.value) and entry.url in str(err.value)


def test_silent_server_times_out(toy, monkeypatch):
    # A socket that listens but never answers: the kernel completes the connection,
    # nobody replies.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        _set_toy(
            monkeypatch, url=f"http://127.0.0.1:{silent.getsockname()[1]}/hello.txt"
        )
        monkeypatch.setattr(data, "TIMEOUT_S", 0.3)
        start = time.perf_counter()
        with pytest.raises(OfflineError, match="timed out"):
            fetch("toy", "train")
        assert time.perf_counter() - start < 5


def test_http_mirror_without_the_file_says_it_is_not_mirrored(server, monkeypatch):
    monkeypatch.setenv("BERTMINI_DATA_MIRROR", server.url)
    with pytest.raises(
        NotMirroredError,
        match=r"squad/train-v1\.1\.json.*not mirrored.*articles=slice\(0, 40\)",
    ):
        fetch("squad", "train")
    assert server.requests[-1] == "/squad/train-v1.1.json"


def test_folder_mirror_without_the_file_says_what_to_use_instead(tmp_path, monkeypatch):
    monkeypatch.setenv("BERTMINI_DATA_MIRROR", str(tmp_path / "empty"))
    with pytest.raises(NotMirroredError, match=r"split the dev set by article") as err:
        load_squad("train")
    assert isinstance(err.value, FileNotFoundError)
    with pytest.raises(NotMirroredError, match=r"load_wikitext2\('valid'\)"):
        load_wikitext2("train")


def test_unsupported_mirror_scheme_is_refused(monkeypatch):
    monkeypatch.setenv("BERTMINI_DATA_MIRROR", "ftp://example.org/data")
    with pytest.raises(ValueError, match="local folder or an http"):
        fetch("sst2", "dev")


# --------------------------------------------------------------------------------------
# the download path, on the real mirrored files
# --------------------------------------------------------------------------------------


@needs_mirror
def test_http_mirror_downloads_real_file_into_cache(server, monkeypatch, isolated):
    monkeypatch.setenv("BERTMINI_DATA_MIRROR", server.url + "/")
    path = fetch("sst2", "dev")
    assert path == isolated / "sst2" / "dev.tsv"
    assert data.sha256_file(path) == data.DATASETS["sst2"].files["dev"].sha256
    assert _files_in(isolated) == [path]
    assert len(load_sst2("dev")) == 872


@needs_mirror
def test_http_mirror_truncated_real_file_leaves_nothing(server, monkeypatch, isolated):
    monkeypatch.setenv("BERTMINI_DATA_MIRROR", server.url + "/_truncated")
    with pytest.raises(DownloadError, match=r"received 2,427,139 of 4,854,279 bytes"):
        fetch("squad", "dev")
    assert _files_in(isolated) == []


@needs_mirror
def test_http_mirror_wrong_registry_hash_deletes_download(
    server, monkeypatch, isolated
):
    monkeypatch.setenv("BERTMINI_DATA_MIRROR", server.url)
    good = data.DATASETS["sst2"].files["dev"]
    monkeypatch.setitem(
        data.DATASETS["sst2"].files, "dev", replace(good, sha256="f" * 64)
    )
    with pytest.raises(ChecksumError) as err:
        fetch("sst2", "dev")
    assert "f" * 64 in str(err.value) and good.sha256 in str(err.value)
    assert _files_in(isolated) == []


@needs_mirror
def test_published_git_blob_ids_verify_the_mirror_files(monkeypatch):
    monkeypatch.setenv("BERTMINI_DATA_MIRROR", str(MIRROR))
    for name, split in [
        ("wikitext2", "valid"),
        ("wikitext2", "test"),
        ("squad", "dev"),
    ]:
        entry = data.DATASETS[name].files[split]
        monkeypatch.setitem(
            data.DATASETS[name].files, split, replace(entry, sha256=None)
        )
        assert fetch(name, split) == MIRROR / entry.mirror_path
    entry = data.DATASETS["wikitext2"].files["valid"]
    monkeypatch.setitem(
        data.DATASETS["wikitext2"].files,
        "valid",
        replace(entry, sha256=None, git_blob_sha1="1" * 40),
    )
    with pytest.raises(ChecksumError, match="git blob sha1"):
        fetch("wikitext2", "valid")


@needs_mirror
def test_folder_mirror_is_read_in_place(monkeypatch, isolated):
    monkeypatch.setenv("BERTMINI_DATA_MIRROR", str(MIRROR))
    assert fetch("squad", "dev") == MIRROR / "squad" / "dev-v1.1.json"
    assert not isolated.exists(), "a folder mirror is read in place, never copied"


@needs_mirror
def test_folder_mirror_with_truncated_copy_is_refused(tmp_path, monkeypatch, isolated):
    bad = tmp_path / "bad-mirror"
    (bad / "sst2").mkdir(parents=True)
    half = (MIRROR / "sst2" / "dev.tsv").read_bytes()[:50_000]
    (bad / "sst2" / "dev.tsv").write_bytes(half)
    monkeypatch.setenv("BERTMINI_DATA_MIRROR", f"file://{bad}")
    with pytest.raises(ChecksumError, match=r"50,000 bytes; expected 94,931"):
        load_sst2("dev")
    assert (bad / "sst2" / "dev.tsv").read_bytes() == half, (
        "the mirror itself is never modified"
    )
    assert _files_in(isolated) == []


@needs_mirror
def test_upstream_zip_is_extracted_and_each_member_verified(
    server, monkeypatch, isolated
):
    """SST-2 upstream is GLUE's SST-2.zip: one download gives both splits, each verified."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for split in ("train", "dev"):
            archive.write(MIRROR / "sst2" / f"{split}.tsv", f"SST-2/{split}.tsv")
    server.routes["/glue/SST-2.zip"] = buffer.getvalue()
    for split in ("train", "dev"):
        entry = data.DATASETS["sst2"].files[split]
        monkeypatch.setitem(
            data.DATASETS["sst2"].files,
            split,
            replace(entry, url=f"{server.url}/glue/SST-2.zip"),
        )
    server.requests.clear()
    dev = fetch("sst2", "dev")
    assert _files_in(isolated) == [
        isolated / "sst2" / "dev.tsv",
        isolated / "sst2" / "train.tsv",
    ]
    assert fetch("sst2", "train") == isolated / "sst2" / "train.tsv"
    assert server.requests == ["/glue/SST-2.zip"], (
        "the archive is downloaded once for both splits"
    )
    assert data.sha256_file(dev) == data.DATASETS["sst2"].files["dev"].sha256


# --------------------------------------------------------------------------------------
# loaders (read from the folder mirror)
# --------------------------------------------------------------------------------------


@pytest.fixture
def folder_mirror(monkeypatch):
    if MIRROR is None:
        pytest.skip(
            "data mirror not found: set BERTMINI_DATA_MIRROR to a folder holding sst2/, squad/, wikitext2/"
        )
    monkeypatch.setenv("BERTMINI_DATA_MIRROR", str(MIRROR))
    return MIRROR


def test_sst2_counts(folder_mirror):
    dev = load_sst2("dev")
    assert len(dev) == 872 and sum(r["label"] for r in dev) == 444
    assert dev[0] == {
        "sentence": "it 's a charming and often affecting journey . ",
        "label": 1,
    }
    train = load_sst2("train")
    assert len(train) == 67_349 and sum(r["label"] for r in train) == 37_569
    assert all(
        isinstance(r["sentence"], str) and r["sentence"] and r["label"] in (0, 1)
        for r in train
    )


def test_sst2_limit_is_a_deterministic_sample_without_replacement(folder_mirror):
    full = load_sst2("dev")
    a, b = load_sst2("dev", limit=100, seed=3), load_sst2("dev", limit=100, seed=3)
    assert a == b and len(a) == 100
    positions = [full.index(r) for r in a]  # sentences in dev are unique
    assert len(set(positions)) == 100 and positions == sorted(positions), (
        "no repeats, file order kept"
    )
    assert load_sst2("dev", limit=100, seed=4) != a
    assert load_sst2("dev", limit=0) == []
    assert load_sst2("dev", limit=10_000) == full


def test_squad_dev_counts_and_record_shape(folder_mirror):
    records = load_squad("dev")
    assert len(records) == 10_570
    assert len({r["article"] for r in records}) == 48
    assert len({(r["article"], r["context"]) for r in records}) == 2_067
    assert len({r["id"] for r in records}) == 10_570
    first = records[0]
    assert set(first) == {"id", "title", "article", "context", "question", "answers"}
    assert first["title"] == "Super_Bowl_50" and first["article"] == 0
    for r in records[::97]:
        assert len(r["answers"]["text"]) == len(r["answers"]["answer_start"]) >= 1
        for text, start in zip(r["answers"]["text"], r["answers"]["answer_start"]):
            assert r["context"][start : start + len(text)] == text


def test_squad_split_by_article(folder_mirror):
    train = load_squad("dev", articles=slice(0, 40))
    held_out = load_squad("dev", articles=slice(40, None))
    assert (len(train), len(held_out)) == (8_981, 1_589)
    assert {r["article"] for r in train} == set(range(40)) and {
        r["article"] for r in held_out
    } == set(range(40, 48))
    assert not {r["title"] for r in train} & {r["title"] for r in held_out}
    assert [r["id"] for r in train + held_out] == [r["id"] for r in load_squad("dev")]
    picked = load_squad("dev", articles=[47, 0])
    assert [r["article"] for r in picked][0] == 47 and {
        r["article"] for r in picked
    } == {0, 47}
    assert [r["id"] for r in load_squad("dev", articles=[-1])] == [
        r["id"] for r in held_out if r["article"] == 47
    ]
    assert load_squad("dev", limit=5, articles=slice(40, None)) == held_out[:5]
    with pytest.raises(ValueError, match="out of range.*48 articles"):
        load_squad("dev", articles=[48])
    with pytest.raises(ValueError, match="twice"):
        load_squad("dev", articles=[1, 1])
    with pytest.raises(TypeError, match="slice or a list"):
        load_squad("dev", articles=3)


@pytest.mark.parametrize(
    "split, n_lines, n_articles, n_paragraphs",
    [
        ("valid", 3_760, 60, 1_841),
        # 60 articles, but two equation lines of "Constant k filter" (test.txt lines
        # 2149 and 2151) have a heading's form and start documents of their own
        ("test", 4_358, 62, 2_185),
    ],
)
def test_wikitext2_documents(folder_mirror, split, n_lines, n_articles, n_paragraphs):
    raw = (
        (folder_mirror / "wikitext2" / f"{split}.txt")
        .read_text(encoding="utf-8")
        .splitlines()
    )
    assert (
        len(raw) == n_lines
        and sum(len(line.split()) for line in raw)
        == {"valid": 213_886, "test": 241_211}[split]
    )
    docs = load_wikitext2(split)
    assert len(docs) == n_articles
    # Independently of the loader's regexes: a heading line has "=" as its first and
    # last token.
    headings = [
        line.strip()
        for line in raw
        if line.split()[:1] == ["="] and line.split()[-1:] == ["="]
    ]
    titles = [h[2:-2] for h in headings if not h.startswith("= =")]
    assert [d["title"] for d in docs] == titles
    paragraphs = [p for d in docs for p in d["paragraphs"]]
    body = [
        line.strip() for line in raw if line.strip() and line.strip() not in headings
    ]
    assert paragraphs == body and len(paragraphs) == n_paragraphs
    assert all(d["paragraphs"] for d in docs), "every article has text"
    if split == "test":
        fake = [d["title"] for d in docs if d["title"].startswith("1 <unk>")]
        assert fake == ["1 <unk> / s and a nominal <unk> k", "1 <unk> and <unk> C"]
    if split == "valid":
        assert docs[0]["title"] == "Homarus gammarus"
        assert docs[0]["paragraphs"][0].startswith(
            "Homarus gammarus , known as the European lobster"
        )


def test_split_wikitext_documents_on_a_hand_made_example():
    lines = [
        " ",
        " = Cat = ",
        " ",
        " A cat @-@ like <unk> . ",
        " = = Diet = = ",
        " ",
        " Mice . ",
        " = = = Mice = = = ",
        " = not a heading ",
        " = Dog = ",
        " Woof . ",
    ]
    assert data.split_wikitext_documents(lines) == [
        {
            "title": "Cat",
            "paragraphs": ["A cat @-@ like <unk> .", "Mice .", "= not a heading"],
        },
        {"title": "Dog", "paragraphs": ["Woof ."]},
    ]


@pytest.mark.parametrize(
    "split, n_sentences, n_tokens",
    [
        ("train", 3_394, 62_730),
        ("dev", 1_009, 15_733),
        ("test", 1_287, 23_394),
    ],
)
def test_wnut17_counts_and_tags(folder_mirror, split, n_sentences, n_tokens):
    if not (folder_mirror / "wnut17").is_dir():
        pytest.skip("this data mirror has no wnut17/")
    sentences = load_wnut17(split)
    assert len(sentences) == n_sentences
    assert sum(len(s["tokens"]) for s in sentences) == n_tokens
    assert all(len(s["tokens"]) == len(s["tags"]) > 0 for s in sentences)
    types = {"person", "location", "corporation", "product", "creative-work", "group"}
    assert {t for s in sentences for t in s["tags"]} == {"O"} | {
        f"{p}-{k}" for k in types for p in "BI"
    }
    if split == "train":
        assert sentences[0]["tokens"][:3] == ["@paulwalk", "It", "'s"]
        assert sentences[0]["tags"][14:17] == ["B-location", "I-location", "I-location"]


def test_read_conll_splits_on_blank_and_white_space_lines_and_refuses_bad_rows():
    text = "New\tB-location\nYork\tI-location\n\t\nhi\tO\n\n\n:)\tO\n"
    assert read_conll(text) == [
        {"tokens": ["New", "York"], "tags": ["B-location", "I-location"]},
        {"tokens": ["hi"], "tags": ["O"]},
        {"tokens": [":)"], "tags": ["O"]},
    ]
    with pytest.raises(DataError, match=r"line 2: expected 'token<TAB>tag'"):
        read_conll("a\tO\nb O\n")
