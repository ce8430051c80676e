"""What the spec bundles, checked without building: every input exists, the guest and the
shipped policy are in, and nothing excluded is something the appliance imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import manifest
import pytest

REPO = Path(__file__).resolve().parents[2]


def test_the_guest_and_the_whole_shipped_policy_are_bundled() -> None:
    datas = dict(manifest.app_datas())
    guest = str(REPO / "wasm_guest" / "build_out" / "guest.wasm")
    assert datas[guest] == "wasm_guest"  # where sandbox.default_guest_path looks when frozen
    assert datas[str(REPO / "policy" / "constitution.md")] == "policy"
    for name in ("compiled-policy.json", "tool-annotations.json", "dynamic-lists.json"):
        source = REPO / "policy" / "generated" / name
        assert source.is_file()
        assert datas[str(source)] == "policy/generated"  # policy.loader.default_policy_dir


def test_litellm_data_is_found_and_placed_at_its_package_path() -> None:
    pairs = manifest.third_party_datas()
    litellm = manifest.package_dir("litellm")
    assert all(Path(source).is_file() for source, _ in pairs)
    placed = {Path(dest) / Path(source).name for source, dest in pairs}
    assert Path("litellm/model_prices_and_context_window_backup.json") in placed
    tokenizers = [p for p in placed if p.parent == Path("litellm/litellm_core_utils/tokenizers")]
    assert len(tokenizers) >= 2  # the local tiktoken encodings and Anthropic's tokenizer
    for source, dest in pairs:
        assert Path(source).relative_to(litellm).parent == Path(dest).relative_to("litellm")


def test_a_missing_litellm_data_file_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="model_prices_and_context_window_backup"):
        manifest.third_party_datas(tmp_path)


def test_wasmtime_library_is_collected_explicitly() -> None:
    [(source, dest)] = manifest.wasmtime_binaries()
    assert Path(source).name.startswith("_libwasmtime") and Path(source).is_file()
    assert dest.startswith("wasmtime/") and Path(source).parent.name == dest.split("/")[1]


def test_wasmtime_library_missing_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="_libwasmtime"):
        manifest.wasmtime_binaries(tmp_path)


def test_the_litellm_filter_keeps_the_client_and_drops_the_proxy_server() -> None:
    keep = manifest.LitellmFilter()
    assert keep("litellm.main") and keep("litellm.llms.anthropic.chat.transformation")
    assert keep("litellm.proxy._types")  # the client imports this one (traced)
    assert not keep("litellm.proxy.proxy_server")
    assert not keep("litellm.proxy.management_endpoints.key_management_endpoints")


_IMPORT_EVERYTHING = """
import importlib, json, pkgutil, sys
import litellm, litellm.main
for package in ("appliance", "policy", "servers"):
    root = importlib.import_module(package)
    for info in pkgutil.walk_packages(root.__path__, package + "."):
        importlib.import_module(info.name)
print(json.dumps(sorted(sys.modules)))
"""


def test_no_excluded_module_is_imported_by_our_code_or_litellm() -> None:
    env = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_EVERYTHING],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
        check=True,
    )
    loaded = set(json.loads(done.stdout))
    excluded = set(manifest.EXCLUDED_MODULES)
    clash = sorted(m for m in loaded if m in excluded or m.split(".")[0] in excluded)
    assert clash == []


def test_a_given_guest_replaces_the_tree_build_and_must_exist(tmp_path: Path) -> None:
    guest = tmp_path / "guest.wasm"
    guest.write_bytes(b"\0asm")
    assert dict(manifest.app_datas(guest=guest))[str(guest)] == "wasm_guest"
    with pytest.raises(FileNotFoundError, match="sandbox guest not found"):
        manifest.app_datas(guest=tmp_path / "missing.wasm")


def test_dist_info_records_are_left_out_because_they_name_the_build_venv():
    assert not manifest.keeps_data("mcp-2.3.0.dist-info/RECORD")
    assert manifest.keeps_data("mcp-2.3.0.dist-info/METADATA")
    assert manifest.keeps_data("mcp-2.3.0.dist-info/entry_points.txt")


def test_tiktoken_plugins_and_their_encodings_ship() -> None:
    """The Anthropic route counts tokens with tiktoken: its plugin package must be collected and
    every encoding it may load must be in litellm's tokenizer folder under tiktoken's cache name."""
    import hashlib

    spec_text = (REPO / "packaging" / "ironcurtain.spec").read_text()
    assert "manifest.PLUGIN_PACKAGES" in spec_text
    assert "tiktoken_ext" in manifest.PLUGIN_PACKAGES
    plugins = manifest.package_dir("tiktoken_ext")
    assert (plugins / "openai_public.py").is_file()
    placed = {Path(source).name for source, _ in manifest.third_party_datas()}
    for name, cached in manifest.TIKTOKEN_ENCODINGS.items():
        url = f"https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
        assert hashlib.sha1(url.encode()).hexdigest() == cached
        assert cached in placed, f"{name} ({cached}) is not bundled"
