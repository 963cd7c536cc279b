"""Sphinx configuration: API reference, user guide and example gallery.

Build (warnings are errors)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

``SPHINX_GALLERY_PLOT=0`` builds the gallery pages without running the
examples (the test suite runs them separately).
"""

import os

import sklearn_thermo

project = "sklearn-thermo"
release = version = sklearn_thermo.__version__
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
templates_path = ["_templates"]
autosummary_generate = True
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
html_theme = "pydata_sphinx_theme"
html_title = "sklearn-thermo"
exclude_patterns = [
    "_build",
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "auto_examples/*.zip",
    "auto_examples/*.md5",
]
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": "/plot_",
    "plot_gallery": os.environ.get("SPHINX_GALLERY_PLOT", "1") != "0",
    "download_all_examples": False,
    "within_subsection_order": "FileNameSortKey",
}
