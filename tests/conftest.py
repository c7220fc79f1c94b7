"""Shared pytest setup: no network except loopback, and `cuda` tests skipped without a GPU."""

from __future__ import annotations

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # pytest-socket: tests may talk to 127.0.0.1 (local HTTP servers, chromedriver, data
    # mirrors served over loopback) and nothing else. Before pytest-socket reads its
    # options.
    if hasattr(config.option, "allow_hosts") and not config.option.allow_hosts:
        config.option.allow_hosts = "127.0.0.1"


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    if not any(item.get_closest_marker("cuda") for item in items):
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(
        reason="needs a CUDA GPU (torch.cuda.is_available() is False)"
    )
    for item in items:
        if item.get_closest_marker("cuda"):
            item.add_marker(skip)
