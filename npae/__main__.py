"""``python -m npae``: the same command line as the ``npae`` script (see ``npae.cli``)."""

import sys

from npae.cli import main

if __name__ == "__main__":
    sys.exit(main())
