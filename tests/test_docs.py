"""The documentation: every public name documented, a user guide per method.

Walks what the API page lists (``doc/conf.py:public_api``, built from each
subpackage's ``__all__``) and checks that every public class, method and
function has a numpydoc docstring with a Parameters section naming each of its
parameters and a Returns (or Yields) section when it returns a value. Known
gaps are listed once, in ``KNOWN_UNDOCUMENTED``, each with its reason; an entry
that has been fixed fails the test until it is removed from the list.
"""

import ast
import functools
import importlib.util
import inspect
import re
import warnings
from pathlib import Path

import pytest

docscrape = pytest.importorskip("numpydoc.docscrape")

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "doc"
USER_GUIDE = DOC / "user_guide"
METHOD_PAGES = ["cluster_lme", "sparse_source", "ife_panel", "melspec_cnn", "eeg2video"]
ESTIMATORS = {
    "sk_eeg.stats": "ClusterLMETest",
    "sk_eeg.inverse": "SparseSourceLocalizer",
    "sk_eeg.panel": "IFEPanelRegressor",
    "sk_eeg.deep": "MelSpecCNNClassifier",
    "sk_eeg.video": "EEG2VideoGenerator",
}

# Public docstrings that do not yet meet the bar, "module.Name[.method]" (or
# "module.Name:References" for an estimator without references) -> why. The
# owners of each subpackage fix these; an entry fails once it passes, until it
# is removed from here.
KNOWN_UNDOCUMENTED = {}


def _load_conf():
    spec = importlib.util.spec_from_file_location("sk_eeg_doc_conf", DOC / "conf.py")
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    return conf


CONF = _load_conf()


def _public_methods(cls):
    """The methods the API page documents (as ``conf._skip_member`` filters)."""
    for name in sorted(dir(cls)):
        static = inspect.getattr_static(cls, name)
        if name.startswith("_") or CONF._skip_member(
            None, "method", name, static, False, {}
        ):
            continue
        if isinstance(static, property | classmethod | staticmethod):
            static = getattr(static, "__func__", static)
        if isinstance(static, property) or not callable(getattr(cls, name)):
            continue
        yield name, getattr(cls, name)
    if "__call__" in vars(cls):
        yield "__call__", cls.__call__


def _documented_objects():
    """Yield ("module.Name[.method]", object, is_method) for the API page."""
    from importlib import import_module

    for module_name, names in CONF.public_api().items():
        module = import_module(module_name)
        for name in names:
            obj = getattr(module, name)
            if not callable(obj):
                continue  # a constant, described by its source comment
            key = f"{module_name}.{name}"
            yield key, obj, False
            if inspect.isclass(obj):
                for method_name, method in _public_methods(obj):
                    yield f"{key}.{method_name}", method, True


DOCUMENTED = list(_documented_objects())


def _signature_parameters(obj, is_method):
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    names = []
    for i, param in enumerate(signature.parameters.values()):
        if is_method and i == 0 and param.name in ("self", "cls"):
            continue
        prefix = {param.VAR_POSITIONAL: "*", param.VAR_KEYWORD: "**"}.get(
            param.kind, ""
        )
        names.append(prefix + param.name)
    return names


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


def _returns_value(func):
    """Whether the function's own body returns a value or yields."""
    func = inspect.unwrap(func)
    try:
        source = inspect.getsource(func)
    except (OSError, TypeError):
        return None
    # Under an ``if`` a method's indented source parses whatever its docstring
    # lines look like (textwrap.dedent would stop at a less-indented line).
    if source[:1].isspace():
        tree = ast.parse("if True:\n" + source).body[0].body[0]
    else:
        tree = ast.parse(source).body[0]

    def walk(node):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, _SCOPES):
                continue  # a nested function's returns are not ours
            if isinstance(child, ast.Yield | ast.YieldFrom):
                return True
            if isinstance(child, ast.Return) and child.value is not None:
                if not (
                    isinstance(child.value, ast.Constant) and child.value.value is None
                ):
                    return True
            if walk(child):
                return True
        return False

    return walk(tree)


class _AnyOption(dict):
    def __contains__(self, key):
        return True

    def __getitem__(self, key):
        from docutils.parsers.rst import directives

        return directives.unchanged


@functools.cache
def _register_sphinx_markup():
    """Let plain docutils parse Sphinx roles and directives (as literals)."""
    from docutils import nodes
    from docutils.parsers.rst import Directive, directives, roles

    def literal_role(name, rawtext, text, lineno, inliner, options=None, content=()):
        return [nodes.literal(rawtext, text)], []

    for domain in ("", "py:"):
        for role in ("class", "func", "meth", "mod", "attr", "obj", "data", "exc"):
            roles.register_local_role(domain + role, literal_role)
    for role in ("term", "ref", "doc", "cite", "footcite"):
        roles.register_local_role(role, literal_role)

    class Container(Directive):
        has_content = True
        optional_arguments = 1
        final_argument_whitespace = True
        option_spec = _AnyOption()

        def run(self):
            node = nodes.container()
            self.state.nested_parse(self.content, self.content_offset, node)
            return [node]

    for name in ("seealso", "only", "autosummary", "versionadded", "versionchanged"):
        directives.register_directive(name, Container)


def _rst_problems(docstring):
    """reST warnings and errors of the docstring as numpydoc renders it."""
    import io

    from docutils import nodes
    from docutils.core import publish_doctree
    from numpydoc.docscrape_sphinx import SphinxDocString

    _register_sphinx_markup()
    rst = str(SphinxDocString(docstring, config={}))
    doctree = publish_doctree(
        rst,
        settings_overrides={
            "report_level": 2,
            "halt_level": 5,
            "warning_stream": io.StringIO(),
        },
    )
    # Unresolved references are reported by transforms, outside the tree.
    messages = [*doctree.findall(nodes.system_message), *doctree.transform_messages]
    return [
        f"reST: {message.astext().splitlines()[0]}"
        for message in messages
        if message["level"] >= 2
    ]


def _docstring_problems(obj, is_method):
    docstring = inspect.getdoc(obj)
    if not docstring:
        return ["no docstring"]
    problems = []
    with warnings.catch_warnings():
        # numpydoc warns on unknown sections; report them as problems.
        warnings.simplefilter("error")
        doc = docscrape.NumpyDocString(docstring)
    if not doc["Summary"]:
        problems.append("no one-line summary")
    wanted = _signature_parameters(obj, is_method)
    documented = set()
    sections = ["Parameters", "Other Parameters"]
    if inspect.isclass(obj) and issubclass(obj, tuple):
        sections.append("Attributes")  # a result tuple: its fields
    for param in sum((doc[section] for section in sections), []):
        documented.update(part.strip() for part in param.name.split(","))
    if wanted:
        if not any(doc[section] for section in sections):
            problems.append("no Parameters section")
        missing = [
            name
            for name in wanted
            if name not in documented and name.lstrip("*") not in documented
        ]
        if missing and any(doc[section] for section in sections):
            problems.append(f"parameters not documented: {missing}")
    if not inspect.isclass(obj) and _returns_value(obj):
        if not (doc["Returns"] or doc["Yields"]):
            problems.append("returns a value but has no Returns section")
    placeholders = re.findall(r"%\(\w+\)s|%%", docstring)
    if placeholders:
        problems.append(f"docstring not filled (fill_doc): {sorted(set(placeholders))}")
    # What would fail a -W build of the API pages.
    problems += _rst_problems(docstring)
    return problems


@pytest.mark.parametrize(
    "key, obj, is_method",
    DOCUMENTED,
    ids=[key for key, _, _ in DOCUMENTED],
)
def test_public_docstring_has_parameters_and_returns(key, obj, is_method):
    try:
        problems = _docstring_problems(obj, is_method)
    except Warning as warning:  # numpydoc could not parse the docstring
        problems = [f"numpydoc: {warning}"]
    if key in KNOWN_UNDOCUMENTED:
        if not problems:
            pytest.fail(f"{key} is documented now: remove it from KNOWN_UNDOCUMENTED")
        pytest.xfail(f"{KNOWN_UNDOCUMENTED[key]} ({'; '.join(problems)})")
    assert not problems, f"{key}: {'; '.join(problems)}"


def test_known_undocumented_entries_exist():
    keys = {key for key, _, _ in DOCUMENTED}
    keys |= {f"{module}.{name}:References" for module, name in ESTIMATORS.items()}
    stale = sorted(set(KNOWN_UNDOCUMENTED) - keys)
    assert not stale, f"KNOWN_UNDOCUMENTED names no public object: {stale}"
    assert all(reason.strip() for reason in KNOWN_UNDOCUMENTED.values())


def test_walk_covers_the_estimators_methods():
    keys = {key for key, _, _ in DOCUMENTED}
    for module, name in ESTIMATORS.items():
        for method in ("fit", "get_params", "set_params"):
            assert f"{module}.{name}.{method}" in keys
    assert "sk_eeg.inverse.SparseSourceLocalizer.to_stc" in keys
    assert "sk_eeg.video.EEG2VideoGenerator.save" in keys


@pytest.mark.parametrize("module, name", ESTIMATORS.items())
def test_estimator_docstring_has_references(module, name):
    from importlib import import_module

    cls = getattr(import_module(module), name)
    doc = docscrape.NumpyDocString(inspect.getdoc(cls))
    has_references = bool("".join(doc["References"]).strip())
    key = f"{module}.{name}:References"
    if key in KNOWN_UNDOCUMENTED:
        if has_references:
            pytest.fail(f"{key} is documented now: remove it from KNOWN_UNDOCUMENTED")
        pytest.xfail(KNOWN_UNDOCUMENTED[key])
    assert has_references, f"{name} has no References section"


def test_api_page_lists_public_helpers_not_internals():
    api = CONF.public_api()
    listed = {f"{module}.{name}" for module, names in api.items() for name in names}
    for name in (
        "sk_eeg.video.video_ssim",
        "sk_eeg.video.n_way_identification",
        "sk_eeg.video.LeaveOneBlockOut",
        "sk_eeg.deep.kl_divergence_scorer",
        "sk_eeg.datasets.make_nested_timeseries",
        "sk_eeg.datasets.load_hms_eeg",
        "sk_eeg.utils.set_log_level",
    ):
        assert name in listed
    for name in ("docdict", "fill_doc", "logger"):
        assert f"sk_eeg.utils.{name}" not in listed
    for module, name in ESTIMATORS.items():
        assert name in api[module]


def _section(text, title):
    """The body of the section titled ``title`` in a reST page ('' if none)."""
    match = re.search(
        rf"^{re.escape(title)}\n([=\-~^\"'`#*+])\1{{2,}}\n(.*?)(?=^\S[^\n]*\n\1{{3,}}\n|\Z)",
        text,
        flags=re.M | re.S,
    )
    return match.group(2) if match else ""


def _bib_keys():
    text = (DOC / "references.bib").read_text(encoding="utf-8")
    return set(re.findall(r"^@\w+\{([^,\s]+),", text, flags=re.M))


@pytest.mark.parametrize("page", METHOD_PAGES)
def test_user_guide_page_has_references(page):
    path = USER_GUIDE / f"{page}.rst"
    assert path.is_file(), f"missing user guide page {path}"
    text = path.read_text(encoding="utf-8")
    references = _section(text, "References")
    assert "bibliography::" in references, f"{page}: no References bibliography"
    cited = set()
    for group in re.findall(r":(?:foot)?cite[pt]?:`([^`]+)`", text):
        cited.update(key.strip() for key in group.split(","))
    assert len(cited) >= 3, f"{page} cites {sorted(cited)}"
    unknown = cited - _bib_keys()
    assert not unknown, f"{page} cites keys missing from references.bib: {unknown}"
    for heading in (
        "What it estimates",
        "The model",
        "When to use it",
        "Assumptions",
        "Recipe with MNE objects",
    ):
        assert _section(text, heading).strip(), f"{page}: no '{heading}' section"
    assert re.search(r"^Compared with .*\n-{3,}$", text, flags=re.M), (
        f"{page}: no section on what changed from the code it replaces"
    )
    recipe = _section(text, "Recipe with MNE objects")
    assert "import mne" in recipe and "from sk_eeg." in recipe
    index = (USER_GUIDE / "index.rst").read_text(encoding="utf-8")
    assert re.search(rf"^\s+{page}$", index, flags=re.M), f"{page} not in index"


def test_changelog_has_a_section_for_this_version():
    import sk_eeg

    text = (DOC / "changelog.rst").read_text(encoding="utf-8")
    version = re.sub(r"\+.*", "", sk_eeg.__version__)
    assert _section(text, version).strip(), f"no changelog section for {version}"
    index = (DOC / "index.rst").read_text(encoding="utf-8")
    assert re.search(r"^\s+changelog$", index, flags=re.M)


def test_intersphinx_uses_stored_inventories_and_needs_no_network(tmp_path):
    # Offline with nothing stored: no project is mapped, so a -W build can
    # neither fail on an unreachable inventory nor wait for a timeout.
    assert CONF.intersphinx_from(tmp_path, online=False) == {}
    (tmp_path / "mne.inv").write_bytes(b"# Sphinx inventory version 2\n")
    mapping = CONF.intersphinx_from(tmp_path, online=False)
    assert mapping == {"mne": ("https://mne.tools/stable", str(tmp_path / "mne.inv"))}
    online = CONF.intersphinx_from(tmp_path, online=True)
    assert online["mne"][1] == str(tmp_path / "mne.inv")
    assert online["sklearn"] == ("https://scikit-learn.org/stable", None)
    assert {"python", "numpy", "scipy", "sklearn", "mne", "torch"} <= online.keys()
