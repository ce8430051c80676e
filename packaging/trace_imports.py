"""What one run of the appliance imports and reads from site-packages, to keep manifest.py honest.

``python packaging/trace_imports.py OUT.json -- demo --quiet`` runs ``ironcurtain demo --quiet``
unfrozen, in this process, and writes the imported modules and the non-code files opened under
site-packages (an audit hook sees every ``open``). Run it for the smoke scenarios (demo, exec,
policy check, serve) after a dependency upgrade and compare with ``manifest.py``: a data file
opened here must be in ``LITELLM_DATA`` (or collected by a PyInstaller hook), a module imported
here must not be in ``EXCLUDED_MODULES``.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[1] != "--":
        print("usage: trace_imports.py OUT.json -- IRONCURTAIN-ARGS...", file=sys.stderr)
        return 2
    out, args = Path(argv[0]), argv[2:]
    site = sysconfig.get_paths()["purelib"]
    opened: set[str] = set()

    def hook(event: str, details: tuple) -> None:
        name = details[0] if event == "open" else None
        code = (".py", ".pyc", "entry_points.txt")
        if isinstance(name, str) and name.startswith(site) and not name.endswith(code):
            opened.add(os.path.relpath(name, site))

    def dump() -> None:
        record = {"args": args, "modules": sorted(sys.modules), "files": sorted(opened)}
        out.write_text(json.dumps(record, indent=1) + "\n")

    sys.addaudithook(hook)
    atexit.register(dump)
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    sys.path.insert(0, str(REPO))
    from appliance.cli.main import main as ironcurtain

    return ironcurtain(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
