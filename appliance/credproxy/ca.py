"""The per-installation certificate authority the proxy signs its TLS certificates with.

Created on first use in the proxy's confdir (default ``<home>/ca``), in the file names mitmproxy
reads: ``mitmproxy-ca.pem`` (private key + certificate, mode 0600) and ``mitmproxy-ca-cert.pem``
(certificate only, for the container's trust store). Whoever holds the key can impersonate any
provider to the agent, so a key file another user could read, or one we do not own, is refused:
the proxy does not start. Made with ``cryptography`` alone, so finding the CA costs no mitmproxy
import.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from appliance.errors import ApplianceError

__all__ = ["CaError", "CaFiles", "ensure_ca"]

_VALIDITY = datetime.timedelta(days=5 * 365)


class CaError(ApplianceError):
    """The CA files are unsafe or unusable; the message names the file and the fix (operator)."""


@dataclass(frozen=True)
class CaFiles:
    confdir: Path
    key_and_cert: Path  # secret
    cert_pem: Path  # public: mount into the container, trust it there


def ensure_ca(confdir: Path) -> CaFiles:
    """Return the CA in `confdir`, creating it (and the folder, 0700) when there is none."""
    confdir.mkdir(mode=0o700, parents=True, exist_ok=True)
    _check_private(confdir, is_dir=True)
    files = CaFiles(confdir, confdir / "mitmproxy-ca.pem", confdir / "mitmproxy-ca-cert.pem")
    if not files.key_and_cert.exists():
        _create(files)
    _check_private(files.key_and_cert, is_dir=False)
    cert = _load_cert(files.key_and_cert)
    if cert.not_valid_after_utc <= datetime.datetime.now(datetime.UTC):
        raise CaError(f"{files.key_and_cert}: the proxy CA has expired; delete {confdir} to renew")
    pem = cert.public_bytes(serialization.Encoding.PEM)
    if not files.cert_pem.exists() or files.cert_pem.read_bytes() != pem:
        _write_atomic(files.cert_pem, pem, 0o644)
    return files


def _check_private(path: Path, *, is_dir: bool) -> None:
    info = path.lstat()
    kind_ok = stat.S_ISDIR(info.st_mode) if is_dir else stat.S_ISREG(info.st_mode)
    if not kind_ok:
        raise CaError(f"{path}: expected a {'folder' if is_dir else 'regular file'}, not a link")
    if info.st_uid != os.getuid():
        raise CaError(f"{path}: owned by uid {info.st_uid}, not by this user ({os.getuid()})")
    loose = 0o022 if is_dir else 0o077
    if info.st_mode & loose:
        want = "0700" if is_dir else "0600"
        mode = oct(stat.S_IMODE(info.st_mode))
        raise CaError(f"{path}: mode {mode} lets other users in; run `chmod {want} {path}`")


def _create(files: CaFiles) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "IronCurtain credential proxy CA"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "IronCurtain"),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    usage = x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=2))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    secret = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    _write_atomic(files.key_and_cert, secret + cert.public_bytes(serialization.Encoding.PEM), 0o600)


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Write next to `path`, then link into place: two sessions racing keep the first CA."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if mode == 0o600:
            # Fails if another process created the CA first; theirs is kept.
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        else:
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _load_cert(key_and_cert: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificates(key_and_cert.read_bytes())[0]
    except (ValueError, IndexError) as exc:
        raise CaError(f"{key_and_cert}: not a PEM key and certificate ({exc})") from exc
