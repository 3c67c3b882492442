"""Read the demo data's ids and credentials the way every example does: from ``shijing demo --json``.

Never hard-code credentials: the demo seeds (idempotently) and prints what it has.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path


def demo_data() -> dict:
    command = shutil.which("shijing") or str(Path(sys.executable).with_name("shijing"))
    output = subprocess.run([command, "demo", "--json"], check=True, capture_output=True, text=True,
                            env=os.environ.copy()).stdout
    return json.loads(output)
