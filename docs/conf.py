"""Sphinx configuration: MyST markdown pages, executed notebooks (myst-nb), autosummary API, bibtex references."""

from __future__ import annotations

import os
import sys
from datetime import datetime
from importlib.metadata import metadata
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE / "_ext"))

info = metadata("hyperst")
project = info["Name"]
author = "The hyperst developers"
copyright = f"{datetime.now():%Y}, {author}"
version = info["Version"]
release = version

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinxcontrib.bibtex",
]
# Inventories of other projects need the network: Read the Docs has it, offline builds (CI) do not.
if os.environ.get("READTHEDOCS") == "True":
    extensions.append("sphinx.ext.intersphinx")
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "anndata": ("https://anndata.readthedocs.io/en/stable/", None),
        "numpy": ("https://numpy.org/doc/stable/", None),
        "pandas": ("https://pandas.pydata.org/pandas-docs/stable/", None),
        "scanpy": ("https://scanpy.readthedocs.io/en/stable/", None),
        "spatialdata": ("https://spatialdata.scverse.org/en/stable/", None),
        "squidpy": ("https://squidpy.readthedocs.io/en/stable/", None),
        "torch": ("https://pytorch.org/docs/stable/", None),
    }

templates_path = ["_templates"]
html_static_path = ["_static"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints", "jupyter_execute"]
# ".rst" first: autosummary writes its stub pages with the first suffix whose parser reads reStructuredText, and
# with ".md" first it wrote reST into .md files that MyST rendered as plain text (no API documentation).
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
master_doc = "index"

autosummary_generate = True
autodoc_member_order = "groupwise"
# Class pages list their documented members; methods that only inherit a docstring (torch's nn.Module, Lightning's
# LightningModule hooks) are left out, so third-party docstrings are never rendered as ours.
autodoc_inherit_docstrings = False
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented"
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = True
napoleon_use_param = True
# Our Returns sections are prose with bullet lists of written keys (scanpy style), not "name : type" entries:
# render them as written (a section key napoleon does not know falls back to its generic, free-text section).
napoleon_custom_sections = [("Returns", "returns as written")]

myst_enable_extensions = ["amsmath", "colon_fence", "dollarmath", "deflist", "html_image"]
myst_heading_anchors = 3
nb_execution_mode = "cache"
nb_execution_timeout = 600
# The her2st tutorial needs the her2st files: from $HYPERST_DATA_DIR (`make docs` points it at ../shared/data when
# that folder exists) or downloaded (Read the Docs has internet). Elsewhere its page shows the code without outputs.
if not (os.environ.get("HYPERST_DATA_DIR") or os.environ.get("READTHEDOCS") == "True"):
    nb_execution_excludepatterns = ["her2st.ipynb"]
nb_execution_raise_on_error = True
nb_merge_streams = True

bibtex_bibfiles = ["references.bib"]
bibtex_reference_style = "author_year"

html_theme = "sphinx_book_theme"
html_title = "hyperst"
html_theme_options = {
    "repository_url": "https://github.com/hyperst/hyperst",
    "use_repository_button": True,
    "path_to_docs": "docs/",
    "navigation_with_keys": False,
}
pygments_style = "default"
