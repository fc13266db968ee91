"""The fake helm's tests start a fakekube server of their own (tests/fakekube)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fakekube"))
