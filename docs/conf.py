"""Sphinx configuration for the ot_gradnets documentation.

Build (from the repository root; warnings are errors):

    .venv/bin/sphinx-build -W --keep-going -b html docs docs/_build/html

Add ``-D plot_gallery=0`` to render the tutorials without running them (quick mode, what
``tests/test_docs.py`` does).
"""

import inspect
import os
import re
import sys

from sphinx.pycode import ModuleAnalyzer, PycodeError

import ot_gradnets

project = "ot_gradnets"
author = "ot_gradnets developers"
copyright = "ot_gradnets developers"
release = ot_gradnets.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "auto_tutorials/*.py"]

# --- API reference ------------------------------------------------------------------------------
autosummary_generate = True
autosummary_ignore_module_all = False  # a package's public names are its __all__
autodoc_typehints = "none"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_class_signature = "mixed"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

# Broken references to this package's objects are errors; names from other libraries resolve to
# nothing (no intersphinx: the build runs offline), so they are not reported.
nitpicky = True
nitpick_ignore_regex = [
    (
        r"py:.*",
        r"(torch|nn|np|numpy|scipy|sklearn|ot|geomloss|matplotlib|pathlib|abc|typing|"
        r"collections|functools)\..*",
    ),
    (r"py:class", r"Tensor|Module|Generator|Path"),
    # private classes (annotations, bases) have no page by design
    (r"py:class", r"ot_gradnets\.[\w.]*\._[A-Za-z]\w*"),
]

# --- tutorials (sphinx-gallery) -----------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../tutorials",
    "gallery_dirs": "auto_tutorials",
    "filename_pattern": r"/plot_",
    "plot_gallery": "True",  # -D plot_gallery=0: render the scripts without running them
    "download_all_examples": False,
    "write_computation_times": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
}
os.environ.setdefault("MPLBACKEND", "Agg")


def _registry_docstring(app, what, name, obj, options, lines) -> None:  # noqa: ANN001
    """Give re-exported module data (the registries) the ``#:`` comment of their definition.

    autodoc finds ``#:`` comments only in the module that documents the name (the package), not
    in the private module that defines it, and falls back to the docstring of the value's type
    (``dict``'s), which is not ours and not valid reST.
    """
    if what != "data" or getattr(obj, "__doc__", None) != getattr(type(obj), "__doc__", None):
        return
    attr = name.rpartition(".")[2]
    lines[:] = []
    for modname in sorted(m for m in sys.modules if m.startswith("ot_gradnets.")):
        if getattr(sys.modules[modname], attr, None) is not obj:
            continue
        try:
            analyzer = ModuleAnalyzer.for_module(modname)
            analyzer.analyze()
        except PycodeError:
            continue
        if ("", attr) in analyzer.attr_docs:
            lines[:] = list(analyzer.attr_docs[("", attr)])
            return


def _dedupe_attributes(app, what, name, obj, options, lines) -> None:  # noqa: ANN001
    """Keep napoleon's ``Attributes:`` entries of a class out of the index for its properties.

    A property listed in the class docstring's ``Attributes:`` section is also documented by
    autodoc as a member: two descriptions of one object, which Sphinx reports.
    """
    if what != "class":
        return
    out = []
    for line in lines:
        out.append(line)
        match = re.fullmatch(r"(\s*)\.\. attribute:: (\w+)", line)
        if match and isinstance(inspect.getattr_static(obj, match[2], None), property):
            out.append(f"{match[1]}   :no-index:")
    lines[:] = out


def _public_bases(app, name, obj, options, bases) -> None:  # noqa: ANN001
    """Show the first public ancestors instead of private base classes (``_Cascade``...)."""
    out = []
    todo = list(bases)
    while todo:
        base = todo.pop(0)
        if base.__name__.startswith("_"):
            todo[:0] = [b for b in base.__bases__ if b is not object]
        elif base not in out:
            out.append(base)
    bases[:] = out


def _skip_member(app, what, name, obj, skip, options) -> bool | None:  # noqa: ANN001
    """Leave out scikit-learn's generated metadata-routing setters (``set_fit_request``...)."""
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app) -> None:  # noqa: ANN001
    app.connect("autodoc-process-docstring", _registry_docstring)
    app.connect("autodoc-process-docstring", _dedupe_attributes)
    app.connect("autodoc-process-bases", _public_bases)
    app.connect("autodoc-skip-member", _skip_member)


# --- HTML ---------------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"ot_gradnets {release}"
html_static_path = []
