"""The ``npae`` command line (also ``python -m npae``).

* ``npae train`` with no options trains the default autoencoder (784-256-32-256-784, ReLU, BCE on
  logits, Adam) on the Fashion-MNIST subset shipped inside the package, shows a progress bar,
  prints a short report and writes ``model.npz``, ``metrics.json``, ``loss.png`` and
  ``reconstructions.png`` to a run directory.
* ``npae evaluate MODEL.npz``: test loss, reconstruction PSNR, and for a VAE its ELBO and IWAE
  estimate of log p(x); ``metrics.json`` and ``reconstructions.png`` go to
  ``<run>/evaluate-<dataset>/`` unless ``--out`` says otherwise.
* ``npae sample MODEL.npz -n 64 --out grid.png``: images drawn from a VAE's prior.
* ``npae denoise MODEL.npz --noise masking --noise-level 0.3 --out fig.png``: PSNR of the noisy
  and the denoised test images, and a figure of noisy / denoised / clean rows.
* ``npae detect --normal-class 0`` or ``--ood mnist``: AUROC of an autoencoder's anomaly score
  beside PCA reconstruction and IsolationForest, a table, ``metrics.json`` and ROC curves.
* ``npae gradcheck --model contractive``: a tiny float64 model's per-parameter relative errors
  against central differences (exit status 1 if one fails).
* ``npae info``: versions, usable backends and devices, models.

Figures written with ``--out FILE.png`` get their numbers in ``FILE.json`` beside them.

SIGTERM (sent by ``timeout``, batch schedulers, ``docker stop``) is handled like Ctrl-C: the
training step in progress completes, the run directory keeps the last completed step marked
``"status": "interrupted"``, temporary files are removed, and the exit status is 143 (Ctrl-C:
130). Run directories are written atomically (see ``output``).

Errors a user can cause (a bad option value, a missing file, an unusable backend, a model too
big for memory, input nested too deeply) are printed as one line on stderr, ``npae: error: ...``,
with exit status 2, never as a traceback. Set ``NPAE_DEBUG=1`` to get the traceback instead.

One module per subcommand (``train``, ``evaluate``, ``sample``, ``denoise``, ``detect``,
``gradcheck``, ``info``), each with ``add_parser(subparsers)`` and ``run(args)``; the options they
share are in ``options``, ``--dataset`` and saved models in ``data``, run directories, metrics
files and printed tables in ``output``. This is host code: it reads files and hands NumPy arrays
to the models, which move them to their backend.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

from npae import backend as B
from npae._version import __version__
from npae.cli import denoise, detect, evaluate, exercises, gradcheck, info, sample, train
from npae.cli.data import DATASETS, load_training_data
from npae.cli.options import MODELS, CLIError, Parser, Terminated, get_model_class, one_line
from npae.cli.train import RUN_FILES

__all__ = ["DATASETS", "MODELS", "RUN_FILES", "CLIError", "build_parser", "get_model_class",
           "load_training_data", "main"]

#: The subcommands in the order ``npae --help`` lists them.
COMMANDS = (train, evaluate, sample, denoise, detect, gradcheck, exercises, info)


def build_parser() -> Parser:
    """The ``npae`` argument parser with its subcommands."""
    parser = Parser(
        prog="npae",
        description="Autoencoders written from scratch (hand-written layers and backprop) on NumPy, "
                    "CuPy, PyTorch tensors or any Array API library.",
        epilog="Run 'npae COMMAND --help' for the options of a command. Errors are one line on "
               "stderr with exit status 2; set NPAE_DEBUG=1 for a traceback.",
    )
    parser.add_argument("--version", action="version", version=f"npae {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser,
                                       help="one of the commands below; each has its own --help")
    subparsers.required = True
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv=None) -> int:
    """Run the ``npae`` command line; return the exit status (0, 2 on a user error; 141 when the
    reader of its output went away, as for ``npae info | head -1``, silently, as Unix tools do)."""
    try:
        return _main(argv)
    except BrokenPipeError:
        try:  # what is still buffered for the closed pipe must not fail again at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):  # no real stdout (an embedding host, a test's capture)
            pass
        return 128 + getattr(signal, "SIGPIPE", 13)


def _main(argv) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version, usage errors: argparse has printed them
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        with _sigterm_as_interrupt():
            return args.handler(args)
    except Terminated:
        print("npae: terminated (SIGTERM)", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("npae: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        raise
    except (ValueError, TypeError, KeyError, OSError, ImportError, ArithmeticError,
            B.BackendUnavailableError) as err:
        if os.environ.get("NPAE_DEBUG"):
            raise
        print(f"npae: error: {one_line(err)}", file=sys.stderr)
        return 2
    except MemoryError as err:  # a model or dataset too big for this machine: still one line
        if os.environ.get("NPAE_DEBUG"):
            raise
        detail = f" ({one_line(err)})" if str(err) else ""
        print(f"npae: error: out of memory{detail}; try smaller --hidden-sizes, --batch-size or data "
              "(NPAE_DEBUG=1 shows where)", file=sys.stderr)
        return 2
    except RecursionError as err:
        if os.environ.get("NPAE_DEBUG"):
            raise
        print(f"npae: error: RecursionError: {one_line(err)} (a nested input too deep to read? "
              "NPAE_DEBUG=1 shows where)", file=sys.stderr)
        return 2


class _sigterm_as_interrupt:
    """While a command runs, SIGTERM raises ``Terminated`` (a KeyboardInterrupt), once: a
    repeated SIGTERM while the interrupted run is being written is ignored. The previous handler
    is put back afterwards. Only the main thread can handle signals; elsewhere this does nothing."""

    def __enter__(self):
        self.previous = None
        if hasattr(signal, "SIGTERM") and threading.current_thread() is threading.main_thread():
            self.fired = False
            self.previous = signal.signal(signal.SIGTERM, self._raise)
        return self

    def _raise(self, signum, frame):
        if not self.fired:
            self.fired = True
            raise Terminated

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)
        return False
