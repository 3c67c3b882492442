"""``python -m codegen`` (from sdk/) or ``python sdk/codegen`` (from the repository root)."""

import os
import sys

if __package__ in (None, ""):
    # run as a directory: make ``codegen`` importable as a package
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from codegen.cli import main

if __name__ == "__main__":
    sys.exit(main())
