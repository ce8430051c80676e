"""A stand-in for the user's $EDITOR in ``servers annotate --edit`` tests: it rewrites the draft
the way a user would, from instructions in the ``EDIT_SCRIPT`` environment variable (JSON):
``{"args": {"tool": {"arg": ["role", ...]}}, "comment": "...", "break": false}``."""

from __future__ import annotations

import json
import os
import sys

path = sys.argv[1]
script = json.loads(os.environ.get("EDIT_SCRIPT", "{}"))
draft = json.load(open(path))
if script.get("break"):
    open(path, "w").write('{"tools": [{"toolName": 3}]}')
    raise SystemExit(0)
for tool in draft["tools"]:
    for arg, roles in script.get("args", {}).get(tool["toolName"], {}).items():
        tool["args"][arg] = roles
    tool["comment"] = script.get("comment", "written by hand")
json.dump(draft, open(path, "w"), indent=2)
