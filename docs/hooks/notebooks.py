"""MkDocs hook: the lecture's notebooks (docs/notebooks/*.ipynb) as pages of the site.

At build time each notebook becomes the Markdown page ``notebooks/<name>.md`` of the
site (it is generated, not written to docs/content/): its markdown cells as they are,
its code cells as fenced ``python`` blocks, highlighted by Pygments like every page,
so the pages load nothing from the network. The notebooks are stored without outputs
and are not run here (tests/test_notebooks.py runs them); raw cells are left out.
``mkdocs serve`` rebuilds when a notebook changes. Listed under ``hooks:`` in
docs/mkdocs.yml; needs nbformat (in the ``docs`` extra).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from mkdocs.structure.files import File

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
FOLDER = "notebooks"  # the pages' folder in the site


def _fence(code: str) -> str:
    """A fence longer than any run of backticks in ``code``."""
    fence = "```"
    while fence in code:
        fence += "`"
    return fence


def notebook_markdown(path: Path) -> str:
    """The Markdown page of one notebook: markdown cells as they are, code cells fenced."""
    nb = nbformat.read(path, as_version=4)
    parts = []
    for cell in nb.cells:
        source = cell.source.strip("\n")
        if not source.strip():
            continue
        if cell.cell_type == "markdown":
            parts.append(source)
        elif cell.cell_type == "code":
            fence = _fence(source)
            parts.append(f"{fence}python\n{source}\n{fence}")
    parts.append(
        f"*Este cuaderno es `docs/notebooks/{path.name}` del repositorio, guardado sin salidas: "
        f"ábrelo en Jupyter y ejecútalo (`tests/test_notebooks.py` lo ejecuta entero).*"
    )
    return "\n\n".join(parts) + "\n"


def notebook_pages() -> dict:
    """{page path in the site (``notebooks/01-....md``): notebook path}, in the lecture's order."""
    return {f"{FOLDER}/{p.stem}.md": p for p in sorted(NOTEBOOKS.glob("*.ipynb"))}


def on_files(files, config):
    for uri, path in notebook_pages().items():
        files.append(File.generated(config, uri, content=notebook_markdown(path)))
    return files


def on_serve(server, config, builder):
    server.watch(str(NOTEBOOKS))
    return server
