"""Sphinx configuration for sk_eeg."""

import os
import sys
from collections import defaultdict
from pathlib import Path

import sk_eeg

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))
os.environ.setdefault("MPLBACKEND", "Agg")

project = "sk_eeg"
author = "The sk_eeg developers"
copyright = "2026, The sk_eeg developers"
release = sk_eeg.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py"]
html_theme = "pydata_sphinx_theme"
html_title = f"sk_eeg {release}"
html_theme_options = {"navigation_with_keys": False}

autosummary_generate = True
autodoc_default_options = {"inherited-members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = True
numpydoc_xref_aliases = {
    "Epochs": "mne.Epochs",
    "Evoked": "mne.Evoked",
    "Raw": "mne.io.Raw",
    "Forward": "mne.Forward",
    "Covariance": "mne.Covariance",
    "SourceEstimate": "mne.SourceEstimate",
    "DataFrame": "pandas.DataFrame",
    "RandomState": "numpy.random.RandomState",
    "Generator": "numpy.random.Generator",
}
numpydoc_xref_ignore = {
    "of",
    "shape",
    "or",
    "optional",
    "default",
    "array",
    "array-like",
    "n_epochs",
    "n_channels",
    "n_times",
    "n_samples",
    "n_features",
    "n_obs",
    "n_sources",
    "n_classes",
    "n_clips",
    "n_frames",
    "n_terms",
    "n_permutations",
    "n_seeds",
    "path-like",
    "callable",
    "module",
    "object",
    "iterable",
    "type",
}

intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable", None),
    "scipy": ("https://docs.scipy.org/doc/scipy", None),
    "sklearn": ("https://scikit-learn.org/stable", None),
    "mne": ("https://mne.tools/stable", None),
    "pandas": ("https://pandas.pydata.org/docs", None),
    "joblib": ("https://joblib.readthedocs.io/en/stable", None),
    "tqdm": ("https://tqdm.github.io/docs", None),
}
# The build machine has no internet: intersphinx inventories are fetched only
# when SK_EEG_DOC_ONLINE is set, otherwise cross-project links stay plain text:
# numpydoc's type cross-references (bool, array_like, ...) point into those
# inventories, so they are switched off too. Every remaining warning is an error.
if not os.environ.get("SK_EEG_DOC_ONLINE"):
    intersphinx_mapping = {}
    numpydoc_xref_param_type = False

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "doc_module": ("sk_eeg",),
    "backreferences_dir": "generated",
    "reference_url": {"sk_eeg": None},
    "within_subsection_order": "FileNameSortKey",
    "image_scrapers": ("matplotlib",),
}


def _write_api_page():
    """Generate api.rst from the public API registry (sk_eeg._PUBLIC_API)."""
    by_module = defaultdict(list)
    for name, module in sorted(sk_eeg._PUBLIC_API.items()):
        by_module[module].append(name)
    from sk_eeg import datasets, utils

    for name, module in sorted(datasets._DATASETS.items()):
        by_module["sk_eeg.datasets"].append(name)
    by_module["sk_eeg.utils"] = sorted(utils.__all__)
    lines = [
        "API reference",
        "=============",
        "",
        "Generated from the public API of :mod:`sk_eeg`.",
        "",
    ]
    for module in sorted(by_module):
        lines += [
            f":mod:`{module}`",
            "-" * (len(module) + 7),
            "",
            f".. currentmodule:: {module}",
            "",
            ".. autosummary::",
            "   :toctree: generated/",
            "",
        ]
        lines += [f"   {name}" for name in sorted(set(by_module[module]))]
        lines.append("")
    (HERE / "api.rst").write_text("\n".join(lines))


_write_api_page()
