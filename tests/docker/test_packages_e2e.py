"""npm itself, in the agent image, installing through the package gate of the credential proxy
from a scripted registry on host loopback (real TLS): an old version installs, a version younger
than the quarantine is not there to install, a denied package is refused.

Opt-in (`IRONCURTAIN_DOCKER_E2E=1`): it uses the Claude Code image (built once, minutes), which
carries Node and npm for the agent's own work.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import tarfile
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import pytest

from appliance.config.paths import app_paths
from appliance.credproxy.config import PackageSettings
from appliance.docker.adapters import ClaudeCode
from tests.credproxy.credproxy_fakes import REGISTRIES, make_test_pki, serve_tls
from tests.docker.docker_helpers import run_script

pytestmark = [
    pytest.mark.docker,
    pytest.mark.skipif(
        os.environ.get("IRONCURTAIN_DOCKER_E2E") != "1",
        reason="opt-in: set IRONCURTAIN_DOCKER_E2E=1 (the Claude Code image: minutes to build)",
    ),
    pytest.mark.timeout(900),
]

NOW = datetime.now(UTC)
PUBLISHED = {
    "1.0.0": NOW - timedelta(days=400),
    "1.3.0": NOW - timedelta(days=30),
    "2.0.0": NOW - timedelta(hours=5),  # inside the 2-day quarantine
}


def _tarball(name: str, version: str) -> bytes:
    """The same bytes at every call (gzip's header time fixed): the listing's integrity and the
    download must agree."""
    data = json.dumps({"name": name, "version": version}).encode()
    out = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as packed,
        tarfile.open(fileobj=packed, mode="w") as archive,
    ):
        info = tarfile.TarInfo("package/package.json")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _document(name: str) -> tuple[dict[str, Any], dict[str, bytes]]:
    files, versions = {}, {}
    for version in PUBLISHED:
        blob = _tarball(name, version)
        file = f"{name}-{version}.tgz"
        files[f"/{name}/-/{file}"] = blob
        versions[version] = {
            "name": name, "version": version,
            "dist": {
                "tarball": f"https://registry.npmjs.org/{name}/-/{file}",
                "shasum": hashlib.sha1(blob).hexdigest(),  # npm's own (legacy) field
                "integrity": "sha512-" + base64.b64encode(hashlib.sha512(blob).digest()).decode(),
            },
        }  # fmt: skip
    stamp = {v: t.isoformat().replace("+00:00", "Z") for v, t in PUBLISHED.items()}
    return {
        "name": name,
        "dist-tags": {"latest": "2.0.0"},
        "versions": versions,
        "time": {"created": stamp["1.0.0"], "modified": stamp["2.0.0"], **stamp},
    }, files


def _serve(cert: Path, key: Path) -> tuple[ThreadingHTTPServer, list[str]]:
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            seen.append(self.path)
            name = self.path.split("/")[1]
            document, files = _document(name)
            if "/-/" in self.path:
                blob = files.get(self.path)
                return self._send(200 if blob else 404, blob or b"{}", "application/octet-stream")
            return self._send(200, json.dumps(document).encode(), "application/json")

        def _send(self, status: int, body: bytes, media: str) -> None:
            self.send_response(status)
            self.send_header("content-type", media)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return serve_tls(Handler, cert, key), seen


SCRIPT = r"""
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
cd "$HOME"
echo "VIEW:$(npm view left-pad versions --json 2>&1 | tr -d ' \n')"
if npm pack left-pad@1.3.0 >out.txt 2>&1; then echo "OLD:installed"
else echo "OLD:failed"; cat out.txt; fi
npm pack left-pad@2.0.0 >out.txt 2>&1 && echo "NEW:installed" \
    || echo "NEW:$(grep -o 'ETARGET' out.txt | head -1)"
npm view event-stream version >out.txt 2>&1 && echo "DENIED:installed" \
    || echo "DENIED:$(grep -o 'E403' out.txt | head -1)"
"""


def test_npm_in_the_agent_image_installs_through_the_package_gate(engine: Any, tmp_path: Path):
    if os.geteuid() != 0:
        pytest.skip("building the Claude Code image needs root (debootstrap)")
    image = ClaudeCode().image(engine, app_paths(), lambda line: None)
    ca, cert, key = make_test_pki(tmp_path)
    server, seen = _serve(cert, key)
    settings = {
        "upstream_overrides": {h: ("127.0.0.1", server.server_address[1]) for h in REGISTRIES},
        "extra_upstream_ca": ca,
        "packages": PackageSettings(denied_packages=("event-stream",)),
    }
    try:
        code, output = anyio.run(
            lambda: run_script(
                image, SCRIPT, tmp_path / "sandbox", "e2e-packages", proxy_settings=settings
            )
        )
    finally:
        server.shutdown()
    assert code == 0, output
    assert 'VIEW:["1.0.0","1.3.0"]' in output, output  # 2.0.0 is quarantined: not listed
    assert "OLD:installed" in output and "NEW:ETARGET" in output and "DENIED:E403" in output
    assert "/left-pad/-/left-pad-1.3.0.tgz" in seen
    assert not any("2.0.0.tgz" in p or "event-stream" in p for p in seen)
    audit = (app_paths().session_dir("e2e-packages") / "audit.jsonl").read_text()
    assert '"event":"package"' in audit and "package-denied" in audit


# -- Debian: apt itself, reading a scripted archive signed with a key made here -----------------


def _debian_archive(root: Path, keys: Path) -> None:
    """A one-package archive (`ic-hello`, and the denied `ic-netcat`) under root/debian: the
    .deb files built with dpkg-deb, a Packages index, and an InRelease clear-signed with a key
    generated for the test, whose public half goes to `keys/` (apt is pointed at it for this
    test only, with -o Dir::Etc::TrustedParts)."""
    import subprocess

    pool = root / "debian/pool/main/i"
    stanzas = []
    for name in ("ic-hello", "ic-netcat"):
        build = root / "build" / name
        (build / "DEBIAN").mkdir(parents=True)
        (build / "usr/share" / name).mkdir(parents=True)
        (build / "usr/share" / name / "README").write_text(f"{name} unpacked by dpkg -x\n")
        (build / "DEBIAN/control").write_text(
            f"Package: {name}\nVersion: 1.0-1\nArchitecture: all\nMaintainer: t <t@t.example>\n"
            f"Description: test package\n"
        )
        target = pool / name / f"{name}_1.0-1_all.deb"
        target.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(build), str(target)],
                       check=True, capture_output=True)  # fmt: skip
        blob = target.read_bytes()
        stanzas.append(
            f"Package: {name}\nVersion: 1.0-1\nArchitecture: all\nMaintainer: t <t@t.example>\n"
            f"Filename: pool/main/i/{name}/{target.name}\nSize: {len(blob)}\n"
            f"SHA256: {hashlib.sha256(blob).hexdigest()}\nDescription: test package\n"
        )
    dist = root / "debian/dists/bookworm"
    binary = dist / "main/binary-amd64"
    binary.mkdir(parents=True)
    packages = "\n".join(stanzas).encode()
    (binary / "Packages").write_bytes(packages)
    date = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S UTC")
    release = (
        f"Origin: IC-test\nLabel: IC-test\nSuite: bookworm\nCodename: bookworm\nDate: {date}\n"
        "Architectures: amd64 all\nComponents: main\nSHA256:\n"
        f" {hashlib.sha256(packages).hexdigest()} {len(packages)} main/binary-amd64/Packages\n"
    )
    home = root / "gnupg"
    home.mkdir(mode=0o700)
    gpg = ["gpg", "--homedir", str(home), "--batch", "--pinentry-mode", "loopback",
           "--passphrase", ""]  # fmt: skip
    subprocess.run([*gpg, "--quick-gen-key", "ic-test@example", "ed25519", "sign", "1d"],
                   check=True, capture_output=True)  # fmt: skip
    (dist / "Release").write_text(release)
    subprocess.run([*gpg, "--clearsign", "-o", str(dist / "InRelease"), str(dist / "Release")],
                   check=True, capture_output=True)  # fmt: skip
    keys.mkdir()
    subprocess.run([*gpg, "--export", "-o", str(keys / "ic-test.gpg")], check=True,
                   capture_output=True)  # fmt: skip


def _serve_files(root: Path, cert: Path, key: Path) -> tuple[ThreadingHTTPServer, list[str]]:
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            seen.append(self.path)
            path = (root / self.path.lstrip("/")).resolve()
            ok = path.is_relative_to(root.resolve()) and path.is_file()
            body = path.read_bytes() if ok else b"not here"
            self.send_response(200 if ok else 404)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return serve_tls(Handler, cert, key), seen


APT_SCRIPT = r"""
W="$PWD"
echo 'deb https://deb.debian.org/debian bookworm main' > sources.list
APT="-o Dir::Etc::SourceList=$W/sources.list -o Dir::Etc::SourceParts=/dev/null"
APT="$APT -o Dir::Etc::TrustedParts=$W/keys"
apt-get $APT update >update.txt 2>&1 && echo "UPDATE:ok" \
    || { echo "UPDATE:failed"; tail -5 update.txt; }
apt-get $APT download ic-hello >dl.txt 2>&1 && echo "DOWNLOAD:ok" \
    || { echo "DOWNLOAD:failed"; tail -5 dl.txt; }
dpkg -x ic-hello_1.0-1_all.deb out && cat out/usr/share/ic-hello/README
apt-get $APT download ic-netcat >dl2.txt 2>&1 && echo "DENIED:downloaded" \
    || echo "DENIED:$(grep -o '403' dl2.txt | head -1)"
apt-get install -y ic-hello >inst.txt 2>&1 && echo "INSTALL:done" || echo "INSTALL:refused"
"""


def test_apt_in_the_agent_image_downloads_through_the_package_gate(engine: Any, tmp_path: Path):
    if os.geteuid() != 0:
        pytest.skip("building the Claude Code image needs root (debootstrap)")
    image = ClaudeCode().image(engine, app_paths(), lambda line: None)
    ca, cert, key = make_test_pki(tmp_path)
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    archive = tmp_path / "archive"
    _debian_archive(archive, sandbox / "keys")
    server, seen = _serve_files(archive, cert, key)
    settings = {
        "upstream_overrides": {h: ("127.0.0.1", server.server_address[1]) for h in REGISTRIES},
        "extra_upstream_ca": ca,
        "packages": PackageSettings(denied_packages=("ic-netcat",)),
    }
    try:
        code, output = anyio.run(
            lambda: run_script(image, APT_SCRIPT, sandbox, "e2e-apt", proxy_settings=settings)
        )
    finally:
        server.shutdown()
    assert code == 0, output
    assert "UPDATE:ok" in output and "DOWNLOAD:ok" in output, output
    assert "ic-hello unpacked by dpkg -x" in output
    assert "DENIED:403" in output and "INSTALL:refused" in output, output
    assert "/debian/dists/bookworm/InRelease" in seen
    assert not any("ic-netcat" in p for p in seen)  # the denied package never left the proxy
    audit = (app_paths().session_dir("e2e-apt") / "audit.jsonl").read_text()
    assert "debian archive index" in audit and "package-denied" in audit
