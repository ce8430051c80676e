"""Fixtures: a fake TLS upstream with its own CA, and a running credential proxy in front of it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from credproxy_fakes import FakeUpstream, make_test_pki, serve_upstream
from proxy_harness import Running, start_proxy


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return make_test_pki(tmp_path_factory.mktemp("upstream-pki"))


@pytest.fixture(scope="session")
def ca_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One proxy CA for the run: making an RSA key per test would only cost time."""
    return tmp_path_factory.mktemp("proxy-ca") / "ca"


@pytest.fixture
def upstream(pki: tuple[Path, Path, Path]) -> Iterator[FakeUpstream]:
    state, server = serve_upstream(pki[1], pki[2])
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def running(
    upstream: FakeUpstream, pki: tuple[Path, Path, Path], ca_dir: Path
) -> Iterator[Running]:
    r = start_proxy(upstream, pki, ca_dir)
    yield r
    r.proxy.stop()
