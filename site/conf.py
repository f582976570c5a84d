# Sphinx configuration of the course website. Do not run sphinx-build on site/ itself: `make site`
# (scripts/build_site.py) lays the sources out in site/_build/src (these pages, the committed notebooks,
# docs/data.md and docs/gpu.md, and the generated course map and models table) and builds from there.
# The notebooks are rendered with the outputs they carry; nothing is executed.
import json
from pathlib import Path

_COURSE = json.loads((Path(__file__).parent / "course.json").read_text())

project = "Generative models, one notebook per assignment"
author = "the genmodels course"
copyright = "the genmodels course"

# MathJax 3 from the PyPI package sphinx-mathjax-offline: copied into _static/mathjax/ and set as mathjax_path,
# so that the math is typeset without a CDN (offline, and in the browser check of scripts/site_check.py).
extensions = ["myst_nb", "sphinx.ext.mathjax", "sphinx-mathjax-offline"]

exclude_patterns = ["_generated/*"]  # pieces that pages include, not pages of their own

# Notebooks: never executed here; their committed outputs are the content.
nb_execution_mode = "off"
nb_output_stderr = "show"
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "html_image"]
myst_heading_anchors = 3
myst_dmath_double_inline = True  # `$$...$$` inside a paragraph is display math, as in Jupyter
# The notebooks' headings go Part (##) -> Task (###) and sometimes skip a level; that is not an error.
suppress_warnings = ["myst.header"]

html_theme = "sphinx_book_theme"
html_title = "Generative models"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
# pydata-sphinx-theme's colour mode: with none set, a first visit logs "Got invalid theme mode" as a console
# error. Light keeps the notebooks' white-background figures readable; the reader can switch.
html_context = {"default_mode": "light"}
html_show_sourcelink = False
html_copy_source = False
html_theme_options = {
    "repository_url": _COURSE["repository"],
    "repository_branch": _COURSE["branch"],
    "path_to_docs": "",  # notebooks/NN_*.ipynb pages map to the same paths in the repository
    "use_repository_button": True,
    "use_download_button": False,
    "use_fullscreen_button": False,
    "launch_buttons": {"colab_url": "https://colab.research.google.com"},
    "home_page_in_toc": True,
    "show_toc_level": 2,
}
