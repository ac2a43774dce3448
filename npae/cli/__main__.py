"""``python -m npae.cli``: the same command line as ``npae`` and ``python -m npae``."""

import sys

from npae.cli import main

if __name__ == "__main__":
    sys.exit(main())
