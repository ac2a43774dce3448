"""Build entry point for npae: autoencoders from scratch on a swappable array backend."""

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(r'__version__ = "([^"]+)"', (HERE / "npae" / "_version.py").read_text()).group(1)

setup(
    name="npae",
    version=VERSION,
    description="Autoencoders written from scratch: hand-written layers and backprop on NumPy, CuPy or any Array API library",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages(include=["npae", "npae.*"]),
    package_data={"npae": ["data/*.npz"]},
    install_requires=[
        "numpy>=1.26",
        "array-api-compat>=1.11",
        "matplotlib>=3.7",
        "tqdm>=4.60",
        "scikit-learn>=1.6",
        "pooch>=1.6",
    ],
    extras_require={
        "gpu": ["cupy-cuda12x>=13"],
        "fast": ["numba>=0.60"],
        "test": [
            "numba>=0.60",
            "pytest>=7",
            "array-api-strict>=2.3",
            "hypothesis>=6",
            "jupytext>=1.16",
            "nbmake>=1.5",
            "ipykernel>=6",
            "pandas>=2",  # the feature-name contract (DataFrames in, set_output out)
            "polars>=1",
        ],
        "bench": ["torch>=2.2", "threadpoolctl>=3", "pyod>=2"],
        # PyOD interop (npae.applications.pyod.PyODDetector); PyOD's deep models also need torch
        "pyod": ["pyod>=2"],
        # ONNX export (npae.onnx): build the graphs with skl2onnx, run them with onnxruntime
        "onnx": ["onnx>=1.16", "skl2onnx>=1.17", "onnxruntime>=1.18"],
        # npae.dask: estimators on Dask arrays, block by block (ParallelPostFit, Incremental, from_npy)
        "dask": ["dask[array]>=2024.12", "distributed>=2024.12", "dask-ml>=2025.1"],
        # The course in Jupyter (README "Notebooks and exercises"): jupytext opens the .py chapters and writes
        # the learner's .ipynb copies; ipywidgets gives tqdm its notebook progress bars
        "notebooks": ["jupytext>=1.16", "jupyterlab>=4", "ipykernel>=6", "ipywidgets>=8"],
        # The documentation site (mkdocs.yml): the chapters executed (every chapter's needs, ONNX, Dask and
        # array-api-strict for chapter 7 included), the API reference from the docstrings, and the browser
        # check (Debian's chromium). MathJax comes from npm (package.json), not from PyPI.
        "docs": [
            "mkdocs>=1.6", "mkdocs-material>=9.5", "mkdocs-jupyter>=0.25", "mkdocstrings[python]>=0.26",
            "jupytext>=1.16", "nbclient>=0.10", "ipykernel>=6", "playwright>=1.45", "array-api-strict>=2.3",
            "onnx>=1.16", "skl2onnx>=1.17", "onnxruntime>=1.18",
            "dask[array]>=2024.12", "distributed>=2024.12", "dask-ml>=2025.1",
        ],
    },
    entry_points={"console_scripts": ["npae=npae.cli:main"]},
)
