"""What the package gate knows: registry routes, package names, the decision, the age gate.

Pure logic, no mitmproxy (the addon is ``addons/packages.py``). Three registries, each by its
public host only: npm (``registry.npmjs.org``: a package's document, its tarballs), PyPI
(``pypi.org``: the simple index; ``files.pythonhosted.org``: the files it lists) and Debian
(``deb.debian.org``: the signed archive index under ``dists/``, and ``.deb`` files under
``pool/``, of ``debian`` and ``debian-security``). Read-only (``GET``/``HEAD``) and only these
routes: anything else is refused, as the provider routes are.

The decision for a package, in order (IronCurtain's, first match wins):

1. on ``deniedPackages`` → refused;
2. on ``allowedPackages`` → allowed, every version (the age gate does not apply);
3. answered by the user this session (``defaultAction: escalate``) → as answered;
4. otherwise ``defaultAction``: ``allow`` (as IronCurtain), ``deny`` (the list only), or
   ``escalate`` (the user is asked once per package and session, like an escalated tool call,
   while the client's request waits; no answer within the escalation timeout is a refusal) and,
   when allowed or approved, the **age gate**: versions published less than ``quarantineDays``
   ago are taken out of the listings the client sees (so its resolver picks an older one), and a
   download of such a version is refused. A download whose publication time was never seen in a
   listing this session is refused too (fail closed: a client always reads the listing first).

Names are compared normalised: npm names lowercase, PyPI names by PEP 503 (``Foo_Bar`` is
``foo-bar``). Patterns are ``fnmatch`` globs on the normalised name (``@types/*``, ``django-*``).
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

__all__ = [
    "REGISTRY_HOSTS",
    "PackagePolicy",
    "PackageRequest",
    "Ruling",
    "filter_npm_document",
    "filter_pypi_simple",
    "normalise",
    "parse_request",
]

Registry = Literal["npm", "pypi", "debian"]
REGISTRY_HOSTS: dict[str, Registry] = {
    "registry.npmjs.org": "npm",
    "pypi.org": "pypi",
    "files.pythonhosted.org": "pypi",
    "deb.debian.org": "debian",
}
# Debian: the archive's signed index (apt checks its signatures) and the pool's .deb files, of
# the main archive and its security updates. No other path.
_DEB_ARCHIVE = r"/(?:debian|debian-security)"
_DEB_INDEX = re.compile(
    rf"{_DEB_ARCHIVE}/dists/[a-z][a-z0-9-]{{1,40}}(?:/[A-Za-z0-9][A-Za-z0-9._+-]{{0,100}}){{1,6}}"
)
_DEB_FILE = re.compile(
    rf"{_DEB_ARCHIVE}/pool/(?:updates/)?(?:main|contrib|non-free|non-free-firmware)/[a-z0-9+]{{1,5}}"
    r"/[a-z0-9][a-z0-9+.-]{0,100}/(?P<name>[a-z0-9][a-z0-9+.-]{0,100})_(?P<version>[A-Za-z0-9.+~-]"
    r"{1,100})_(?P<arch>[a-z0-9]{1,20})\.deb"
)
PYPI_JSON = "application/vnd.pypi.simple.v1+json"
NPM_FULL = "application/json"

_NPM_LEGACY = r"[A-Za-z0-9][A-Za-z0-9._-]{0,213}"  # old packages kept capitals
_NPM_SCOPE = r"@[a-z0-9][a-z0-9._-]{0,213}"
_NPM_DOC = re.compile(rf"/(?:(?P<scope>{_NPM_SCOPE})/)?(?P<name>{_NPM_LEGACY})")
_NPM_TARBALL = re.compile(
    rf"/(?:(?P<scope>{_NPM_SCOPE})/)?(?P<name>{_NPM_LEGACY})/-/(?P<file>{_NPM_LEGACY}\.tgz)"
)
_PYPI_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,199}[A-Za-z0-9])?"
_PYPI_SIMPLE = re.compile(rf"/simple/(?P<name>{_PYPI_NAME})/")
_PYPI_FILE = re.compile(
    r"/packages/[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{60}/(?P<file>[A-Za-z0-9._+!-]{1,250})"
)
_WHEEL = re.compile(
    r"(?P<name>[A-Za-z0-9._]+?)-(?P<version>[A-Za-z0-9.!+_]+?)(-[0-9][^-]*)?-[^-]+-[^-]+-[^-]+\.whl"
)
_SDIST = re.compile(
    r"(?P<name>[A-Za-z0-9._-]+?)-(?P<version>[0-9][A-Za-z0-9.!+_]*)\.(tar\.gz|zip|tar\.bz2)"
)


def normalise(registry: Registry, name: str) -> str:
    if registry == "debian":
        return name.lower()
    if registry == "pypi":
        return re.sub(r"[-_.]+", "-", name).lower()
    return name.lower()


@dataclass(frozen=True)
class PackageRequest:
    """One registry request, understood: which package, a listing or one file of it."""

    registry: Registry
    package: str  # normalised; "" for an archive index (Debian), which names no package
    kind: Literal["listing", "file", "index"]
    file: str | None = None  # the file's name (a download)
    version: str | None = None  # a download's version, from its name


def parse_request(host: str, method: str, path: str) -> PackageRequest | str:
    """The request as a package request, or why it is refused (one sentence)."""
    registry = REGISTRY_HOSTS.get(host)
    if registry is None:
        return f"{host} is not a package registry"
    if method not in ("GET", "HEAD"):
        return f"{method} is not allowed on a package registry (read-only: GET and HEAD)"
    if "?" in path or "#" in path:
        return "a registry request carries no query"
    if host == "registry.npmjs.org":
        return _npm(path)
    if registry == "debian":
        return _debian(path)
    if host == "pypi.org":
        simple = _PYPI_SIMPLE.fullmatch(path)
        if simple is None:
            return f"{path[:120]!r} is not a PyPI simple-index page (/simple/NAME/)"
        return PackageRequest("pypi", normalise("pypi", simple["name"]), "listing")
    found = _PYPI_FILE.fullmatch(path)
    if found is None:
        return f"{path[:120]!r} is not a PyPI file path"
    name = found["file"]
    base = name.removesuffix(".metadata")  # PEP 658: a file's metadata, judged as the file
    parsed = _WHEEL.fullmatch(base) or _SDIST.fullmatch(base)
    if parsed is None:
        return f"{name[:120]!r} is not a wheel or source archive name"
    return PackageRequest(
        "pypi", normalise("pypi", parsed["name"]), "file", file=base, version=parsed["version"]
    )


def _debian(path: str) -> PackageRequest | str:
    if "%" in path or "/../" in path or "/./" in path:
        return "percent-encoding and dot segments are not allowed in a Debian archive path"
    found = _DEB_FILE.fullmatch(path)
    if found is not None:
        name = normalise("debian", found["name"])
        file = path.rsplit("/", 1)[1]
        return PackageRequest("debian", name, "file", file=file, version=found["version"])
    if _DEB_INDEX.fullmatch(path):
        return PackageRequest("debian", "", "index")
    return f"{path[:120]!r} is not a Debian archive index (dists/) or package (pool/.../*.deb)"


def _npm(path: str) -> PackageRequest | str:
    # npm writes a scoped name's slash percent-encoded (@scope%2fname); decode that one only.
    path = re.sub(r"^/(@[^/%]+)%2[fF]", r"/\1/", path)
    if "%" in path:
        return "percent-encoding is not allowed in an npm registry path"
    tarball = _NPM_TARBALL.fullmatch(path)
    if tarball is not None:
        name, scope, file = tarball["name"], tarball["scope"], tarball["file"]
        if not file.startswith(name + "-"):
            return f"tarball {file!r} does not belong to {name!r}"
        package = normalise("npm", f"{scope}/{name}" if scope else name)
        version = file[len(name) + 1 : -len(".tgz")]
        return PackageRequest("npm", package, "file", file=file, version=version)
    document = _NPM_DOC.fullmatch(path)
    if document is None or document["name"] in (".", ".."):
        return f"{path[:120]!r} is not an npm package document or tarball"
    scope, name = document["scope"], document["name"]
    return PackageRequest("npm", normalise("npm", f"{scope}/{name}" if scope else name), "listing")


@dataclass(frozen=True)
class Ruling:
    allowed: bool
    age_gate: bool  # versions are filtered and downloads checked by age
    rule: str
    reason: str
    ask: bool = False  # not decided: the user is asked (defaultAction escalate)


@dataclass
class PackagePolicy:
    """The settings (``packageInstall``) and what this session has seen of publication times."""

    registries: tuple[Registry, ...] = ("npm", "pypi", "debian")
    allowed: tuple[str, ...] = ()
    denied: tuple[str, ...] = ()
    default_action: Literal["allow", "deny", "escalate"] = "allow"
    quarantine_days: int = 2
    now: Any = field(default=lambda: datetime.now(UTC))
    # (registry, package, file) -> publication time, learnt from the listings passed on
    _published: dict[tuple[str, str, str], datetime] = field(default_factory=dict)
    # (registry, package) -> the user's answer this session (defaultAction escalate)
    _answers: dict[tuple[str, str], bool] = field(default_factory=dict)

    def hosts(self) -> frozenset[str]:
        return frozenset(h for h, r in REGISTRY_HOSTS.items() if r in self.registries)

    def rule_for(self, request: PackageRequest) -> Ruling:
        if request.kind == "index":  # the archive's signed index names no package
            return Ruling(True, False, "package-index", "the archive's index (apt checks it)")
        name = request.package
        if _matches(request.registry, name, self.denied):
            return Ruling(False, False, "package-denied", f"{name} is on deniedPackages")
        if _matches(request.registry, name, self.allowed):
            return Ruling(True, False, "package-allowed", f"{name} is on allowedPackages")
        # Debian's pool dates nothing per package (and the archive is Debian's, signed): no
        # age gate there; the lists and the default action decide.
        gate = self.quarantine_days > 0 and request.registry != "debian"
        answer = self._answers.get((request.registry, name))
        if answer is not None:
            return (
                Ruling(True, gate, "package-approved", f"{name} was approved this session")
                if answer
                else Ruling(False, False, "package-refused", f"{name} was refused this session")
            )
        if self.default_action == "deny":
            return Ruling(
                False, False, "package-not-listed",
                f"{name} is not on allowedPackages and packageInstall.defaultAction is deny",
            )  # fmt: skip
        if self.default_action == "escalate":
            reason = f"{name} is not on allowedPackages: the user is asked"
            return Ruling(False, False, "package-escalate", reason, ask=True)
        return Ruling(True, gate, "package-default", "allowed by default")

    def answer(self, registry: Registry, package: str, approved: bool) -> None:
        """The user's answer for an unlisted package: it holds for the rest of the session."""
        self._answers[(registry, package)] = approved

    def cutoff(self) -> datetime:
        return self.now() - timedelta(days=self.quarantine_days)

    def check_file(self, request: PackageRequest) -> str | None:
        """Why a download under the age gate is refused, or None."""
        seen = self._published.get((request.registry, request.package, request.file or ""))
        if seen is None:
            return (
                f"{request.file}: its publication time was not seen in a listing this session "
                "(the age gate fails closed)"
            )
        if seen > self.cutoff():
            return (
                f"{request.file} was published {seen:%Y-%m-%d %H:%M} UTC, less than "
                f"{self.quarantine_days} days ago (quarantine)"
            )
        return None

    def learn(self, registry: str, package: str, times: dict[str, datetime]) -> None:
        for file, when in times.items():
            self._published[(registry, package, file)] = when


def _matches(registry: Registry, name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(name, normalise(registry, p)) for p in patterns)


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def filter_npm_document(
    body: bytes, package: str, cutoff: datetime | None
) -> tuple[bytes, dict[str, datetime], list[str]]:
    """An npm package document with versions published after ``cutoff`` removed (None: keep
    all); returns (body, publication time of every tarball it dates, versions removed). A
    version without a publication time counts as too new."""
    document = json.loads(body)
    if not isinstance(document, dict) or not isinstance(document.get("versions"), dict):
        raise ValueError("the npm document has no versions")
    times = document.get("time") if isinstance(document.get("time"), dict) else {}
    name = package.split("/")[-1]
    removed, seen = [], {}
    for version in list(document["versions"]):
        when = _when(times.get(version))
        if when is not None:  # kept or not: a later download is judged by it
            seen[f"{name}-{version}.tgz"] = when
        if cutoff is not None and (when is None or when > cutoff):
            removed.append(version)
            del document["versions"][version]
            times.pop(version, None)
    tags = document.get("dist-tags")
    if isinstance(tags, dict) and removed:
        for tag, version in list(tags.items()):
            if version in removed:
                del tags[tag]
        if "latest" not in tags:
            stable = [v for v in document["versions"] if "-" not in v]
            newest = max(stable or list(document["versions"]), key=_release_order, default=None)
            if newest is not None:
                tags["latest"] = newest
    return json.dumps(document).encode(), seen, removed


def _release_order(version: str) -> tuple[tuple[int, ...], str]:
    """Semantic-version order of the numbers before any ``-``/``+`` (``1.10.0`` > ``1.9.2``)."""
    core = re.split(r"[-+]", version, maxsplit=1)[0]
    return tuple(int(n) if n.isdigit() else -1 for n in core.split(".")), version


def filter_pypi_simple(
    body: bytes, cutoff: datetime | None
) -> tuple[bytes, dict[str, datetime], list[str]]:
    """A PEP 691 JSON simple page with files uploaded after ``cutoff`` removed; returns (body,
    upload time of every file it dates, file names removed). A file without an upload time
    counts as too new."""
    page = json.loads(body)
    if not isinstance(page, dict) or not isinstance(page.get("files"), list):
        raise ValueError("the simple page has no files")
    kept, times, removed = [], {}, []
    for entry in page["files"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("filename"), str):
            continue
        when = _when(entry.get("upload-time"))
        if when is not None:  # kept or not: a later download is judged by it
            times[entry["filename"]] = when
        if cutoff is not None and (when is None or when > cutoff):
            removed.append(entry["filename"])
            continue
        kept.append(entry)
    page["files"] = kept
    if isinstance(page.get("versions"), list):
        left = {_version_of(e["filename"]) for e in kept}
        page["versions"] = [v for v in page["versions"] if v in left]
    return json.dumps(page).encode(), times, removed


def _version_of(filename: str) -> str | None:
    parsed = _WHEEL.fullmatch(filename) or _SDIST.fullmatch(filename)
    return parsed["version"] if parsed else None
