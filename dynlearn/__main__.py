"""`python -m dynlearn <command> [hydra overrides]`."""

import os
import sys

os.environ.setdefault("MPLBACKEND", "Agg")  # plots are files; never open a window

from dynlearn.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
