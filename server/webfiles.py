"""Where the browser files are: inside the installed package, or at the top of a source checkout.

The repository keeps the pages in `web/` beside the Python packages; the wheel installs them as
`server/web/` (pyproject.toml maps one onto the other), so an installed Hemicycle serves them from any
working directory, with no path to set.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def find_web_dir() -> Path:
    """The directory holding index.html, css/, js/ ...; RuntimeError if neither place has it."""
    installed = resources.files(__package__ or "server").joinpath("web")
    if isinstance(installed, Path) and (installed / "index.html").is_file():
        return installed.resolve()
    checkout = Path(__file__).resolve().parent.parent / "web"
    if (checkout / "index.html").is_file():
        return checkout
    raise RuntimeError(f"the browser files are missing: neither {installed} nor {checkout} holds index.html")


WEB_DIR = find_web_dir()
