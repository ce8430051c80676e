"""The installation's audit signing key read without cryptography's PEM codec when it is exactly
what ``Signer.load_or_create`` writes (RFC 8410 PKCS #8, no attributes), and by the full parser
otherwise: the same key either way, and anything else still refused with the file named."""

from __future__ import annotations

import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key

from appliance.chokepoint.audit.signing import (
    KEY_FILE,
    Signer,
    SigningKeyError,
    _canonical_private,
)


def _pem(key, encryption=None) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        encryption or serialization.NoEncryption(),
    )


def test_the_key_written_is_read_back_without_the_codec_and_is_the_same_key(tmp_path):
    path = tmp_path / KEY_FILE
    written = Signer.load_or_create(path)
    data = path.read_bytes()
    fast = _canonical_private(data)
    assert fast is not None
    full = serialization.load_pem_private_key(data, password=None)
    assert (
        fast.private_bytes_raw() == full.private_bytes_raw() == written.private.private_bytes_raw()
    )
    assert Signer.load_or_create(path).key_id == written.key_id


@pytest.mark.parametrize(
    "variant",
    [
        lambda pem: pem.replace(b"\n", b"\r\n"),  # CRLF: still canonical DER, still the fast path
        lambda pem: pem.rstrip(b"\n"),  # no final newline
    ],
)
def test_harmless_layout_variants_read_the_same_key(variant):
    key = Ed25519PrivateKey.generate()
    fast = _canonical_private(variant(_pem(key)))
    assert fast is not None and fast.private_bytes_raw() == key.private_bytes_raw()


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"junk before\n", "text around the block"),
        (b"-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n", "not base64"),
        (b"", "empty"),
    ],
)
def test_anything_else_is_left_to_the_full_parser(data, why):
    key = Ed25519PrivateKey.generate()
    assert _canonical_private(data + _pem(key) if why == "text around the block" else data) is None


def test_an_encrypted_rsa_or_broken_key_is_refused_by_the_full_parser_with_the_file(tmp_path):
    path = tmp_path / KEY_FILE
    encrypted = serialization.BestAvailableEncryption(b"pw")
    for data in (
        _pem(Ed25519PrivateKey.generate(), encrypted),
        _pem(generate_private_key(public_exponent=65537, key_size=2048)),
        b"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n",
    ):
        assert _canonical_private(data) is None
        path.write_bytes(data)
        with pytest.raises(SigningKeyError, match=str(path)):
            Signer.load_or_create(path)


def test_reading_the_key_imports_no_pem_codec(tmp_path):
    """What a session's start pays: the signing module and an existing key, no SSH/RSA codecs."""
    path = tmp_path / KEY_FILE
    Signer.load_or_create(path)
    code = (
        "import sys; from pathlib import Path; "
        "from appliance.chokepoint.audit.signing import Signer; "
        f"Signer.load_or_create(Path({str(path)!r})).sign(b'x'); "
        "print('cryptography.hazmat.primitives.serialization' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
