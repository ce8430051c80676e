"""The packaging scripts are plain files in packaging/ (a package named ``packaging`` would
shadow the PyPI library of that name), so the tests put that folder on the import path."""

from __future__ import annotations

import sys
from pathlib import Path

PACKAGING = Path(__file__).resolve().parents[2] / "packaging"
if str(PACKAGING) not in sys.path:
    sys.path.insert(0, str(PACKAGING))
