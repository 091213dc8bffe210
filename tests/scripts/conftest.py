"""Make the standalone tools in scripts/ importable by module name (``import slack_emulator``).

Only a sys.path entry: the fixtures these tests use live in the test modules themselves.
"""

from __future__ import annotations

import sys
from pathlib import Path

SCRIPTS_DIR = str(Path(__file__).resolve().parents[2] / "scripts")
if SCRIPTS_DIR not in sys.path:
    sys.path.insert(0, SCRIPTS_DIR)
