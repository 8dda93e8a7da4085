"""A module slow to import, as the flows are on a loaded machine or a fresh clone: it writes the
file named by AUTOML_TEST_SLOW_IMPORT_MARKER only when its import ends."""

from __future__ import annotations

import os
import time
from pathlib import Path

IMPORT_SECONDS = 3.0

time.sleep(IMPORT_SECONDS)
Path(os.environ["AUTOML_TEST_SLOW_IMPORT_MARKER"]).write_text(str(os.getpid()))
