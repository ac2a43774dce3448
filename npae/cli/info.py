"""``npae info``: versions, the backends usable here and their devices, and the models."""

from __future__ import annotations

import os
import sys

import array_api_compat
import numpy as np

from npae import backend as B
from npae import kernels
from npae._version import __version__
from npae.cli.options import MODELS

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> None:
    """Add ``info`` to the ``npae`` subcommands."""
    p = subparsers.add_parser(
        "info",
        help="show the npae version, the backends usable here and their devices, and the models",
        description="Show the npae version, library versions, which array backends are usable on "
                    "this machine (and why not, for the others) with their devices, and the models "
                    "available to 'npae train --model'.",
    )
    p.set_defaults(handler=run)


def run(args) -> int:
    """``npae info``: versions, backends and devices, models."""
    print(f"npae {__version__}")
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, array-api-compat {array_api_compat.__version__}")
    print("backends:")
    for name, status in B.available_backends().items():
        if status == "ok":
            print(f"  {name:<17} ok, device {B.get_backend(name).device}")
        else:
            print(f"  {name:<17} unavailable: {' '.join(status.split())}")
    for label, variable, current in (("default backend", "NPAE_BACKEND", lambda: B.get_backend().name),
                                     ("kernels", "NPAE_KERNELS", kernels.get_kernels)):
        env = os.environ.get(variable, "").strip()
        try:
            value = current()
        except ValueError as err:  # a bad environment value: shown here, an error where it is used
            print(f"{label}: invalid: {' '.join(str(err).split())}")
            continue
        except B.BackendUnavailableError as err:  # a valid name this machine cannot run: shown, not fatal
            print(f"{label}: {env} (from {variable}), unavailable: {' '.join(str(err).split())}")
            continue
        print(f"{label}: {value} ({f'from {variable}' if env else f'set {variable} to change'})")
    print(f"models: {', '.join(f'{name} ({cls.__name__})' for name, cls in MODELS.items())}")
    return 0
