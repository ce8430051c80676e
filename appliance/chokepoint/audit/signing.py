"""The installation's audit signing key and the signed checkpoints it makes.

One Ed25519 key per installation, created on first use at ``<home>/audit-signing-key.pem``
(PKCS#8 PEM, mode 0600, a protected path the policy denies to every tool call). A checkpoint
signs the head of a session's chain: the session id, the seq and hash of the last record it
covers, and the time. Because every record's hash covers all records before it, one valid
signature vouches for the whole log up to that record, so rewriting the log and recomputing
every hash is detected unless the key itself was used.

What this does not protect against: anyone who can read the key file (the user's own account,
or malware running as the user at run time) can sign a rewritten log. The key makes tampering
by the agent (which cannot reach the home) and by anyone who only gets the log file detectable,
and lets a third party holding the public key (``ironcurtain audit export-key``) check a log
offline. Signatures are not forward-secure: the key does not evolve.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from appliance.errors import ApplianceError

__all__ = [
    "KEY_FILE",
    "Signer",
    "SigningKeyError",
    "checkpoint_message",
    "key_id",
    "load_public_keys",
    "verify_checkpoint",
]

KEY_FILE = "audit-signing-key.pem"
_DOMAIN = b"ironcurtain-audit-checkpoint-v1\x00"


class SigningKeyError(ApplianceError):
    """The signing key or a public key file cannot be read or made; names the file."""


def key_id(public: Ed25519PublicKey) -> str:
    """A short, stable name for a public key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(public.public_bytes_raw()).hexdigest()[:16]


def _serialization():
    """cryptography's PEM and DER codecs, imported when a key is written or an unusual one read
    (their import, SSH and RSA included, is ~15 ms of every session's start otherwise)."""
    from cryptography.hazmat.primitives import serialization

    return serialization


def checkpoint_message(session_id: str, seq: int, head_hash: str, ts: str) -> bytes:
    """The exact bytes a checkpoint signs (canonical JSON under a domain tag)."""
    fields = {"hash": head_hash, "seq": seq, "sessionId": session_id, "ts": ts}
    return _DOMAIN + json.dumps(fields, sort_keys=True, separators=(",", ":")).encode("ascii")


@dataclass(frozen=True)
class Signer:
    """A private key that signs checkpoints; its ``key_id`` goes into the log's header."""

    private: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> Signer:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load_or_create(cls, path: Path) -> Signer:
        """The installation key at ``path``, created (0600, exclusively) when absent."""
        try:
            return cls(_load_private(path))
        except FileNotFoundError:
            pass
        signer = cls.generate()
        serialization = _serialization()
        pem = signer.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another session created it first: use theirs
            return cls(_load_private(path))
        except OSError as exc:
            why = exc.strerror or exc
            raise SigningKeyError(f"cannot create audit signing key {path}: {why}") from exc
        try:
            os.write(fd, pem)
            os.fsync(fd)
        finally:
            os.close(fd)
        return signer

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @property
    def key_id(self) -> str:
        return key_id(self.public)

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self.private.sign(message)).decode("ascii")

    def public_pem(self) -> str:
        return public_pem(self.public)


def public_pem(public: Ed25519PublicKey) -> str:
    serialization = _serialization()
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


# The PKCS #8 DER of an Ed25519 private key with no attributes (RFC 8410, section 7): this
# prefix, then the 32-byte seed. It is what load_or_create writes.
_PKCS8_ED25519 = bytes.fromhex("302e020100300506032b657004220420")
_PEM_PRIVATE = re.compile(
    rb"-----BEGIN PRIVATE KEY-----\r?\n([A-Za-z0-9+/=\r\n]+?)-----END PRIVATE KEY-----\r?\n?"
)


def _canonical_private(data: bytes) -> Ed25519PrivateKey | None:
    """The key of exactly the file load_or_create writes, read without the PEM codec; None for
    anything else (the full parser then reads it, or says what is wrong)."""
    found = _PEM_PRIVATE.fullmatch(data)
    if found is None:
        return None
    try:
        der = base64.b64decode(b"".join(found.group(1).split()), validate=True)
    except ValueError:
        return None
    if len(der) != len(_PKCS8_ED25519) + 32 or not der.startswith(_PKCS8_ED25519):
        return None
    return Ed25519PrivateKey.from_private_bytes(der[len(_PKCS8_ED25519) :])


def _load_private(path: Path) -> Ed25519PrivateKey:
    data = path.read_bytes()  # FileNotFoundError propagates: the caller creates the key
    canonical = _canonical_private(data)
    if canonical is not None:
        return canonical
    try:
        key = _serialization().load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"{path}: not a PEM private key ({exc})") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path}: not an Ed25519 key ({type(key).__name__})")
    return key


def load_public_keys(path: Path) -> dict[str, Ed25519PublicKey]:
    """Ed25519 public (or private) keys from a PEM file, by key id."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SigningKeyError(f"cannot read key file {path}: {exc.strerror or exc}") from exc
    keys: dict[str, Ed25519PublicKey] = {}
    for block in data.split(b"-----END ")[:-1]:
        pem = block[block.find(b"-----BEGIN ") :] + b"-----END " + _label(block) + b"-----\n"
        serialization = _serialization()
        try:
            if b"PRIVATE KEY" in pem:
                loaded = serialization.load_pem_private_key(pem, password=None).public_key()
            else:
                loaded = serialization.load_pem_public_key(pem)
        except (ValueError, TypeError) as exc:
            raise SigningKeyError(f"{path}: not a PEM key ({exc})") from exc
        if not isinstance(loaded, Ed25519PublicKey):
            raise SigningKeyError(f"{path}: not an Ed25519 key ({type(loaded).__name__})")
        keys[key_id(loaded)] = loaded
    if not keys:
        raise SigningKeyError(f"{path}: no PEM key found")
    return keys


def _label(block: bytes) -> bytes:
    start = block.find(b"-----BEGIN ") + len(b"-----BEGIN ")
    return block[start : block.find(b"-----", start)]


def verify_checkpoint(public: Ed25519PublicKey, message: bytes, signature: str) -> bool:
    """True only for a valid signature of ``message``; any malformed input is False."""
    try:
        raw = base64.b64decode(signature, validate=True)
        public.verify(raw, message)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True
