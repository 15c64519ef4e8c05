"""Nothing the course serves loads anything from outside the machine.

Three things reached out of a hospital network before:

* nbgrader's formgrade and feedback pages loaded MathJax from a public CDN (nbgrader's templates
  call nbconvert's ``mathjax()`` macro with no URL, so ``HTMLExporter.mathjax_url`` has no effect);
* JupyterLab fetched its news feed and checked for a newer release (server side, on the learner's
  behalf), and asked every learner whether to fetch news (its ``fetchNews`` setting, "none" by
  default, is what the page asks from; the server's ``news_url`` alone does not stop the question);
* JupyterLab's extension manager searched PyPI.

:func:`configure_exporter` (called by the course's ``nbgrader_config.py``) puts this package's
``templates/`` before nbconvert's, so that its ``base/mathjax.html.j2`` loads MathJax from the
Jupyter server itself (``jupyter_server_mathjax``, a dependency). :func:`configure_server` (called
by the course's ``jupyter_server_config.py``, which ``hipaa-lab lab`` passes to JupyterLab) turns
news, update checks and the extension manager's searches off, sets the page's news setting to
"false" (``lab-settings/overrides.json``, JupyterLab's application settings folder for the course)
and serves MathJax. It also serves the learner's progress page
(:mod:`hipaa_lab.course.progress`), which those settings link from the "Course" menu.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["LAB_SETTINGS", "MATHJAX_PATH", "TEMPLATES", "configure_exporter", "configure_server"]

#: Folder whose ``base/mathjax.html.j2`` replaces nbconvert's (a CDN) in the course's HTML.
TEMPLATES = Path(__file__).resolve().parent / "templates"

#: JupyterLab's application settings folder for the course: ``overrides.json`` sets news off.
LAB_SETTINGS = Path(__file__).resolve().parent / "lab-settings"

#: Where the Jupyter server serves MathJax (jupyter_server_mathjax), below its base URL.
MATHJAX_PATH = "static/jupyter_server_mathjax/MathJax.js"


def _nbgrader_templates() -> Path:
    import nbgrader

    return (
        Path(nbgrader.__file__).resolve().parent / "server_extensions" / "formgrader" / "templates"
    )


def configure_exporter(c: Any) -> None:
    """Set the course's HTML (formgrader, feedback) to load MathJax from the server, not a CDN.

    ``c`` is a traitlets ``Config`` (``get_config()`` in ``nbgrader_config.py``). nbgrader's own
    template folder stays second: its ``formgrade`` and ``feedback`` templates are found there.
    """
    c.HTMLExporter.extra_template_basedirs = [str(TEMPLATES), str(_nbgrader_templates())]


def configure_server(c: Any) -> None:
    """Set JupyterLab to fetch nothing from outside: no news, no update check, no PyPI search,
    and MathJax served by the server itself.

    ``c`` is a traitlets ``Config`` (``get_config()`` in ``jupyter_server_config.py``).
    """
    c.LabApp.news_url = None  # the server fetches no feed; the page no longer asks about news
    c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
    c.LabApp.extension_manager = "readonly"  # lists what is installed; never searches PyPI
    # the page's own setting: without it every learner is asked whether to fetch news
    c.LabApp.app_settings_dir = str(LAB_SETTINGS)
    c.ServerApp.jpserver_extensions = {"jupyter_server_mathjax": True}
    # the settings folder above also holds the Course menu's link to the learner's progress page:
    # serve the page wherever those settings are used (``hipaa-lab lab``, a hub's learners)
    from hipaa_lab.course.progress import configure_lab

    configure_lab(c)
