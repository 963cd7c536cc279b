"""Sphinx configuration (the full site, gallery and CI build are issue 6)."""

import sklearn_thermo

project = "sklearn-thermo"
release = version = sklearn_thermo.__version__
extensions = ["sphinx.ext.autodoc", "sphinx.ext.autosummary", "sphinx.ext.mathjax",
              "numpydoc"]
autosummary_generate = True
numpydoc_show_class_members = False
html_theme = "pydata_sphinx_theme"
exclude_patterns = ["_build"]
