"""The per-installation CA: created once, private, refused when another user could read it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography import x509

from appliance.config.paths import app_paths
from appliance.credproxy import CaError, CredentialProxy, ProxyConfig, ensure_ca


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_created_on_first_use_with_a_private_key(tmp_path: Path) -> None:
    files = ensure_ca(tmp_path / "ca")
    assert mode(files.confdir) == 0o700
    assert mode(files.key_and_cert) == 0o600
    assert b"PRIVATE KEY" in files.key_and_cert.read_bytes()
    assert b"PRIVATE KEY" not in files.cert_pem.read_bytes()
    cert = x509.load_pem_x509_certificate(files.cert_pem.read_bytes())
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert [p.name for p in files.confdir.iterdir() if p.name.startswith(".")] == []


def test_reused_not_regenerated(tmp_path: Path) -> None:
    first = ensure_ca(tmp_path / "ca").cert_pem.read_bytes()
    assert ensure_ca(tmp_path / "ca").cert_pem.read_bytes() == first


def test_default_location_is_the_app_home() -> None:
    proxy = CredentialProxy(ProxyConfig(real_keys={"anthropic": "k"}), lambda e: None)
    assert proxy.config.confdir is None
    files = ensure_ca(app_paths().home / "ca")
    assert files.confdir == app_paths().home / "ca"


@pytest.mark.parametrize("loose", [0o640, 0o604, 0o660, 0o644])
def test_key_readable_by_others_is_refused(tmp_path: Path, loose: int) -> None:
    files = ensure_ca(tmp_path / "ca")
    os.chmod(files.key_and_cert, loose)
    with pytest.raises(CaError, match=rf"mode {oct(loose)}.*chmod 0600"):
        ensure_ca(tmp_path / "ca")


def test_open_folder_is_refused(tmp_path: Path) -> None:
    ensure_ca(tmp_path / "ca")
    os.chmod(tmp_path / "ca", 0o777)
    with pytest.raises(CaError, match="chmod 0700"):
        ensure_ca(tmp_path / "ca")


def test_symlinked_key_is_refused(tmp_path: Path) -> None:
    files = ensure_ca(tmp_path / "ca")
    elsewhere = tmp_path / "stolen.pem"
    files.key_and_cert.rename(elsewhere)
    files.key_and_cert.symlink_to(elsewhere)
    with pytest.raises(CaError, match="not a link"):
        ensure_ca(tmp_path / "ca")


def test_proxy_does_not_start_with_a_loose_key(tmp_path: Path) -> None:
    files = ensure_ca(tmp_path / "ca")
    os.chmod(files.key_and_cert, 0o644)
    proxy = CredentialProxy(
        ProxyConfig(real_keys={"anthropic": "k"}, confdir=tmp_path / "ca"), lambda e: None
    )
    with pytest.raises(CaError):
        proxy.start()
    assert proxy.endpoints is None
    # The failed start released the one-per-process slot.
    os.chmod(files.key_and_cert, 0o600)
    proxy.start()
    proxy.stop()


def test_garbage_key_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "ca").mkdir(mode=0o700)
    key = tmp_path / "ca" / "mitmproxy-ca.pem"
    key.write_bytes(b"not pem")
    key.chmod(0o600)
    with pytest.raises(CaError, match="not a PEM"):
        ensure_ca(tmp_path / "ca")


def test_concurrent_first_use_keeps_one_ca(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: ensure_ca(tmp_path / "ca"), range(4)))
    certs = {r.cert_pem.read_bytes() for r in results}
    assert len(certs) == 1
    key_and_cert = (tmp_path / "ca" / "mitmproxy-ca.pem").read_bytes()
    assert certs.pop() in key_and_cert
    assert sorted(p.name for p in (tmp_path / "ca").iterdir()) == [
        "mitmproxy-ca-cert.pem",
        "mitmproxy-ca.pem",
    ]
