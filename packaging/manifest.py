"""What goes into the frozen appliance, as plain data the spec and the tests both read.

The spec (``ironcurtain.spec``) turns these lists into PyInstaller's Analysis; the tests check them
without building (every source exists, the guest and the shipped policy are in, nothing we exclude
is something the app imports). The lists were made by measuring: ``packaging/trace_imports.py``
runs the smoke scenarios unfrozen and records the modules and package data files they touch.
"""

from __future__ import annotations

import fnmatch
import importlib.util
from pathlib import Path

__all__ = [
    "EXCLUDED_BINARIES",
    "EXCLUDED_DATAS",
    "EXCLUDED_MODULES",
    "FIRST_PARTY",
    "LITELLM_DATA",
    "METADATA_DISTS",
    "PLUGIN_PACKAGES",
    "TIKTOKEN_ENCODINGS",
    "LitellmFilter",
    "app_datas",
    "keeps_data",
    "package_dir",
    "third_party_datas",
    "wasmtime_binaries",
]

REPO = Path(__file__).resolve().parents[1]

# Our packages: commands are imported lazily by name (appliance/cli/main.py), so analysis
# cannot follow.
# wasm_guest is build tooling plus the guest's own sources: only its .wasm output ships.
FIRST_PARTY = ("appliance", "policy", "servers")

# Files litellm opens at import or on the first completion (measured with trace_imports.py).
# The tokenizers matter: without the local copies, tiktoken downloads its encodings.
LITELLM_DATA = (
    "model_prices_and_context_window_backup.json",
    "containers/endpoints.json",
    "llms/openai_like/providers.json",
    "litellm_core_utils/tokenizers",
)

# Plugin packages found by iterating a namespace package at run time, which analysis cannot see:
# tiktoken lists ``tiktoken_ext``'s modules to learn its encodings ("Unknown encoding cl100k_base.
# Plugins found: []" on the Anthropic route's first call without it).
# The audit trail's OpenTelemetry export loads its context runtime and HTTP transport through
# entry points (``opentelemetry_context``, ``opentelemetry_http_transport``): same problem.
PLUGIN_PACKAGES = (
    "tiktoken_ext",
    "opentelemetry.context",
    "opentelemetry.exporter.http.transport",
)

# The tiktoken encodings the appliance may load, and the file each is cached under in litellm's
# ``tokenizers`` folder (tiktoken names its cache files by the SHA-1 of the download URL; litellm
# points TIKTOKEN_CACHE_DIR there), so no encoding is ever downloaded.
TIKTOKEN_ENCODINGS = {
    "cl100k_base": "9b5ad71b2ce5302211f9c61530b329a4922fc6a4",
    "o200k_base": "fb374d419588a4632f3f557e76b4b70aebbca790",
}

# Distributions whose metadata is read at run time (importlib.metadata.version / entry points).
METADATA_DISTS = (
    "litellm", "httpx2", "wasmtime", "mcp", "pydantic", "openai",
    "opentelemetry-api", "opentelemetry-sdk", "opentelemetry-exporter-http-transport",
)  # fmt: skip

# Never imported by the appliance (checked by the trace): build tools, test suites, GUI toolkits,
# AWS (litellm's Bedrock route; the appliance offers Anthropic, OpenAI and Google), Hugging Face.
EXCLUDED_MODULES = (
    "tkinter",
    "_tkinter",
    "turtledemo",
    "idlelib",
    "lib2to3",
    "pydoc_data",
    "test",
    "pytest",
    "_pytest",
    "hypothesis",
    "PyInstaller",
    "_pyinstaller_hooks_contrib",
    "componentize_py",
    "wasm_guest",
    "setuptools",
    "pkg_resources",
    "pip",
    "ruff",
    "IPython",
    "matplotlib",
    "numpy",
    "pandas",
    "boto3",
    "botocore",
    "s3transfer",
    "huggingface_hub",
    "hf_xet",
    "tokenizers",
    "zstandard.backend_cffi",
    # mitmproxy's own console and web front ends; the credential proxy uses it as a library.
    "mitmproxy.tools",
    "urwid",
    "tornado",
    # litellm's optional Rust accelerator (38 MB): litellm falls back to Python when the import
    # fails, and the traced sessions never load it.
    "litellm.rust_bridge._native",
)

# Binary files dropped after analysis (glob on the bundle-relative name): the cffi twin of
# zstandard's C backend is never loaded (zstandard picks the C backend first).
EXCLUDED_BINARIES = ("zstandard/_cffi.*.so",)

# Bundled data that would carry the build machine into the artifact. A dist-info ``RECORD`` lists
# the hashes of the console scripts the venv installed, whose shebang names the venv's path: two
# checkouts in different folders then give different bytes. Nothing reads RECORD at run time
# (``importlib.metadata.version`` and entry points use METADATA and entry_points.txt).
EXCLUDED_DATAS = ("*.dist-info/RECORD",)


def keeps_data(dest: str) -> bool:
    """Whether a bundled data file (by its path in the bundle) ships."""
    return not any(fnmatch.fnmatch(dest, pattern) for pattern in EXCLUDED_DATAS)


# litellm's proxy *server* (admin endpoints, UI, database, guardrails: ~650 modules) is not used;
# its client imports only these proxy modules (measured with trace_imports.py). Every other
# litellm module is kept: providers import theirs lazily on the first call.
LITELLM_PROXY_KEPT = (
    "litellm.proxy._types",
    "litellm.proxy._experimental.mcp_server",
    "litellm.proxy.common_utils",
    "litellm.proxy.openai_files_endpoints",
    "litellm.proxy.pass_through_endpoints",
    "litellm.proxy.spend_tracking",
    "litellm.proxy.types_utils",
)


class LitellmFilter:
    """``collect_submodules`` filter: every litellm module but the proxy server's own."""

    def __call__(self, name: str) -> bool:
        if name == "litellm.proxy" or not name.startswith("litellm.proxy."):
            return True
        return any(name == kept or name.startswith(kept + ".") for kept in LITELLM_PROXY_KEPT)


def wasmtime_binaries(wasmtime_dir: Path | None = None) -> list[tuple[str, str]]:
    """wasmtime's shared library, which it loads with ctypes from ``<platform>-<machine>/``.

    PyInstaller's ``collect_dynamic_libs`` looks for ``lib*.so`` and misses ``_libwasmtime.so``.
    """
    base = wasmtime_dir or package_dir("wasmtime")
    found = sorted(base.glob("*/_libwasmtime.*"))
    if not found:
        raise FileNotFoundError(f"no _libwasmtime shared library under {base}")
    return [(str(p), f"wasmtime/{p.parent.name}") for p in found]


def package_dir(name: str) -> Path:
    """The folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {name!r} is not installed in this environment")
    return Path(next(iter(spec.submodule_search_locations)))


def app_datas(root: Path = REPO, guest: Path | None = None) -> list[tuple[str, str]]:
    """Our data files as (source, bundle folder): the guest, the shipped policy, the servers'
    confinement profiles.

    ``guest`` replaces the tree's own build output (a rebuild that must match a release uses the
    release's guest, since componentize-py's output is not reproducible).
    """
    policy = root / "policy"
    guest = guest or root / "wasm_guest" / "build_out" / "guest.wasm"
    if not guest.is_file():
        raise FileNotFoundError(f"sandbox guest not found: {guest}")
    pairs = [(str(guest), "wasm_guest")]
    pairs.append((str(policy / "constitution.md"), "policy"))
    pairs.append((str(policy / "declared_roles.json"), "policy"))  # role defaults, read at import
    pairs += [(str(p), "policy/generated") for p in sorted((policy / "generated").glob("*.json"))]
    # Each server's kernel confinement profile, read by `serve` before the server starts.
    profiles = sorted((root / "servers").glob("*/confinement.json"))
    pairs += [(str(p), f"servers/{p.parent.name}") for p in profiles]
    # The GitHub server's tool names and schemas (GitHub's official ones), read at start.
    pairs.append((str(root / "servers" / "github" / "tools.json"), "servers/github"))
    # What every shipped server lists, so listing tools starts none (appliance/session/catalog.py).
    pairs.append((str(root / "servers" / "catalog.json"), "servers"))
    return pairs


def third_party_datas(litellm_dir: Path | None = None) -> list[tuple[str, str]]:
    """litellm's data files, as (source, bundle folder), each one checked to exist."""
    base = litellm_dir or package_dir("litellm")
    pairs: list[tuple[str, str]] = []
    for relative in LITELLM_DATA:
        source = base / relative
        if not source.exists():
            raise FileNotFoundError(f"litellm data file missing: {source}")
        files = sorted(p for p in source.iterdir() if p.is_file()) if source.is_dir() else [source]
        for file in files:
            if file.suffix in (".py", ".pyc"):
                continue
            folder = Path("litellm") / file.parent.relative_to(base)
            pairs.append((str(file), folder.as_posix()))
    return pairs
