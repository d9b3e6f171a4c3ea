"""Sphinx configuration for sk_eeg."""

import inspect
import os
import sys
from importlib import import_module
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
    "sphinxcontrib.bibtex",
]

templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "_inventories",
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
]
html_theme = "pydata_sphinx_theme"
html_title = f"sk_eeg {release}"
html_theme_options = {"navigation_with_keys": False}
default_role = "py:obj"

# -- References (sphinxcontrib-bibtex) ----------------------------------------
bibtex_bibfiles = ["references.bib"]
bibtex_default_style = "unsrt"
bibtex_reference_style = "author_year"

# -- API pages -----------------------------------------------------------------
autosummary_generate = True
autodoc_default_options = {"inherited-members": False}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
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

# -- Links to other projects (intersphinx), working offline --------------------
# The build machine has no internet. An inventory is used when its file is in
# doc/_inventories/ (``make -C doc inventories``, i.e. ``python conf.py
# --fetch-inventories``, stores them where the network is reachable) or, with
# SK_EEG_DOC_ONLINE=1, fetched from the project's site at build time.
# Projects with neither are left out, so their names render as plain text
# instead of failing a -W build or hanging on a timeout.
_INTERSPHINX_URLS = {
    "python": "https://docs.python.org/3",
    "numpy": "https://numpy.org/doc/stable",
    "scipy": "https://docs.scipy.org/doc/scipy",
    "sklearn": "https://scikit-learn.org/stable",
    "mne": "https://mne.tools/stable",
    "torch": "https://docs.pytorch.org/docs/stable",
    "pandas": "https://pandas.pydata.org/docs",
    "joblib": "https://joblib.readthedocs.io/en/stable",
    "matplotlib": "https://matplotlib.org/stable",
}
INVENTORY_DIR = HERE / "_inventories"


def intersphinx_from(inventory_dir, online):
    """Mapping of the projects whose inventory is stored here or reachable."""
    mapping = {}
    for name, url in _INTERSPHINX_URLS.items():
        local = Path(inventory_dir) / f"{name}.inv"
        if local.is_file():
            mapping[name] = (url, str(local))
        elif online:
            mapping[name] = (url, None)
    return mapping


intersphinx_mapping = intersphinx_from(
    INVENTORY_DIR, online=bool(os.environ.get("SK_EEG_DOC_ONLINE"))
)
intersphinx_timeout = 10
# numpydoc turns parameter types (bool, array_like, ...) into links into the
# Python and NumPy inventories (glossary terms warn when missing). Type links
# are on for online builds (as before stored inventories existed); a build
# from stored inventories links explicit references (:class:`mne.Epochs`) only.
if not (
    os.environ.get("SK_EEG_DOC_ONLINE")
    and {"python", "numpy"} <= intersphinx_mapping.keys()
):
    numpydoc_xref_param_type = False

# -- Gallery -------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "doc_module": ("sk_eeg",),
    "backreferences_dir": "generated",
    "within_subsection_order": "FileNameSortKey",
    "image_scrapers": ("matplotlib",),
}

# -- The API page, generated from the public names of each subpackage ----------
# Each subpackage lists its public names in ``__all__``; a constant is
# described by the comment above its assignment. From utils only what users
# call is listed: the docstring helpers and the logger object are internals.
API_MODULES = {
    "sk_eeg.stats": "Mass-univariate mixed models with cluster permutation tests",
    "sk_eeg.inverse": "Sparse source imaging",
    "sk_eeg.panel": "Panel regression with interactive fixed effects",
    "sk_eeg.deep": "Mel-spectrogram CNN classification",
    "sk_eeg.video": "EEG-to-video generation",
    "sk_eeg.datasets": "Simulators and loaders",
    "sk_eeg.utils": "Utilities",
}
USER_UTILS = ("all_estimators", "set_log_level", "use_log_level")
SKLEARN_PLUMBING = ("get_metadata_routing", "set_output")


def public_api():
    """Return ``{module: [public names]}`` as listed on the API page."""
    api = {}
    for module_name in API_MODULES:
        module = import_module(module_name)
        names = list(module.__all__)
        if module_name == "sk_eeg.utils":
            names = [name for name in USER_UTILS if name in names]
        # Classes, then functions, then constants.
        api[module_name] = sorted(names, key=lambda n: (n.isupper(), n[0].islower(), n))
    return api


def _write_api_page(app=None):
    lines = [
        "API reference",
        "=============",
        "",
        "The public classes and functions of each subpackage. Every class page",
        "documents its methods and ends with the gallery examples that use it.",
        "",
    ]
    for module_name, names in public_api().items():
        title = f":mod:`{module_name}`: {API_MODULES[module_name]}"
        lines += [
            title,
            "-" * len(title),
            "",
            f".. automodule:: {module_name}",
            "   :no-members:",
            "",
            f".. currentmodule:: {module_name}",
            "",
            ".. autosummary::",
            "   :toctree: generated/",
            "",
        ]
        lines += [f"   {name}" for name in names]
        lines.append("")
    text = "\n".join(lines)
    target = HERE / "api.rst"
    if not target.exists() or target.read_text() != text:
        target.write_text(text)


def _skip_member(app, what, name, obj, skip, options):
    """Leave scikit-learn's plumbing and builtins' methods off the class pages.

    Output containers and metadata-routing requests are documented by
    scikit-learn; ``count`` / ``index`` of a result tuple by Python. Every
    other public method, inherited ones included, is listed and documented.
    """
    if name in SKLEARN_PLUMBING or (
        name.startswith("set_") and name.endswith("_request")
    ):
        return True
    if inspect.ismethoddescriptor(obj) and not hasattr(obj, "__wrapped__"):
        return True
    return None


def _constant_comment(name):
    """The ``#`` comment block above the assignment of constant ``name``."""
    for path in sorted((HERE.parent / "sk_eeg").rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            if line.startswith(f"{name} = "):
                start = i
                while start > 0 and lines[start - 1].startswith("#"):
                    start -= 1
                return [text.lstrip("# ") for text in lines[start:i]]
    return []


def _document_constants(app, what, name, obj, options, lines):
    """Describe a public constant by its source comment, not by its type's doc."""
    short_name = name.rsplit(".", 1)[-1]
    if what == "data" and short_name.isupper():
        type_doc = " ".join((type(obj).__doc__ or "").split())
        if not lines or " ".join(" ".join(lines).split()) == type_doc:
            lines[:] = _constant_comment(short_name)


def setup(app):
    # At config time, before Sphinx lists the source files: written any later,
    # a fresh checkout's api.rst is missed by autosummary's stub generation.
    app.connect("config-inited", lambda app, config: _write_api_page(app))
    app.connect("autodoc-skip-member", _skip_member)
    # Before numpydoc (priority 500) rewrites the docstring.
    app.connect("autodoc-process-docstring", _document_constants, priority=100)


def fetch_inventories(timeout=30):
    """Download each project's ``objects.inv`` into ``_inventories/``."""
    from urllib.request import urlopen

    INVENTORY_DIR.mkdir(exist_ok=True)
    for name, url in _INTERSPHINX_URLS.items():
        try:
            with urlopen(f"{url}/objects.inv", timeout=timeout) as response:
                (INVENTORY_DIR / f"{name}.inv").write_bytes(response.read())
            print(f"stored {INVENTORY_DIR / name}.inv")
        except OSError as error:
            print(f"could not fetch {url}/objects.inv: {error}")


if __name__ == "__main__" and "--fetch-inventories" in sys.argv:
    fetch_inventories()
