"""A stand-in for the user's $EDITOR in ``servers annotate --edit`` tests: it rewrites the draft
the way a user would, from instructions in the ``EDIT_SCRIPT`` environment variable (JSON):
``{"args": {"tool": {"arg": ["role", ...]}}, "comment": "...", "break": false}``."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

path = sys.argv[1]
script = json.loads(os.environ.get("EDIT_SCRIPT", "{}"))
file = Path(path)
draft = json.loads(file.read_text())
if script.get("break"):
    file.write_text('{"tools": [{"toolName": 3}]}')
    raise SystemExit(0)
for tool in draft["tools"]:
    for arg, roles in script.get("args", {}).get(tool["toolName"], {}).items():
        tool["args"][arg] = roles
    tool["comment"] = script.get("comment", "written by hand")
file.write_text(json.dumps(draft, indent=2))
