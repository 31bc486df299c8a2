"""The docs site renders the lecture's notebooks (docs/notebooks/*.ipynb): each is a page
of the site, made at build time by the MkDocs hook docs/hooks/notebooks.py, with the
notebook's headings, text and code, listed in the menu under "Cuadernos (notebooks)",
linked from docs/content/notebooks.md, and loading nothing from the network."""

import html
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CONFIG = DOCS / "mkdocs.yml"
NOTEBOOKS = sorted((DOCS / "notebooks").glob("*.ipynb"))
SECTION = "Cuadernos (notebooks)"

for module in ("mkdocs", "mkdocstrings", "nbformat", "yaml"):
    pytest.importorskip(module, reason="the docs build needs the docs extra: pip install '.[docs]'")

import nbformat  # noqa: E402
import yaml  # noqa: E402


def load_hook():
    spec = importlib.util.spec_from_file_location("notebooks_hook", DOCS / "hooks" / "notebooks.py")
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    return hook


def text_of(page_html):
    """The visible text of a page's article, tags removed and entities decoded."""
    main = page_html[page_html.index('<div role="main"') :]
    return html.unescape(re.sub(r"<[^>]+>", "", main))


def heads(source, tag):
    """The inner HTML of every <tag> heading of a page."""
    return re.findall(rf"<{tag}[^>]*>(.*?)</{tag}>", source, re.S)


def squash(s):
    return " ".join(s.split())


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    r = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(CONFIG), "-d", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=out,
    )
    assert r.returncode == 0, f"mkdocs build --strict failed:\n{r.stdout}\n{r.stderr}"
    return out


def test_there_are_ten_notebooks():
    assert len(NOTEBOOKS) == 10, [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_each_notebook_is_a_page_with_its_headings_text_and_code(site, path):
    page = site / "notebooks" / f"{path.stem}.html"
    assert page.is_file(), f"the site has no page for {path.name}"
    source = page.read_text(encoding="utf-8")
    shown = squash(text_of(source))
    nb = nbformat.read(path, as_version=4)
    code_cells = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    assert code_cells, f"{path.name} has no code"
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for level, heading in re.findall(r"^(#+) (.+)$", cell.source, re.M):
                tag = f"h{len(level)}"
                headings = [squash(html.unescape(re.sub(r"<[^>]+>|¶|&para;", "", h))) for h in heads(source, tag)]
                assert squash(heading.replace("`", "")) in headings, f"{page.name}: {heading!r} is not an <{tag}>"
            for paragraph in re.split(r"\n\s*\n", cell.source):
                if not paragraph.lstrip().startswith(("#", "|", "-", "*", "1.")):
                    plain = squash(paragraph.replace("`", ""))  # code spans lose their backticks
                    assert plain in shown or plain.replace("*", "") in shown, (
                        f"{page.name}: the text {plain[:60]!r}... is missing"
                    )
        elif cell.cell_type == "code":
            for line in cell.source.splitlines():
                if line.strip():
                    assert squash(line) in shown, f"{page.name}: the code line {line!r} is missing"
    # code cells are highlighted python blocks, one per cell
    assert source.count('<div class="highlight">') == len(code_cells)


def test_the_menu_has_the_section_with_the_ten_pages_in_order(site):
    nav = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))["nav"]
    (section,) = [entry[SECTION] for entry in nav if isinstance(entry, dict) and SECTION in entry]
    pages = [p for entry in section for p in entry.values() if p.startswith("notebooks/")]
    assert pages == [f"notebooks/{p.stem}.md" for p in NOTEBOOKS]
    index = (site / "index.html").read_text(encoding="utf-8")
    assert html.escape(SECTION) in index
    for p in NOTEBOOKS:
        assert f'href="notebooks/{p.stem}.html"' in index, f"the menu does not link {p.stem}"


def test_the_notebooks_page_links_every_notebook_page(site):
    listing = (site / "notebooks.html").read_text(encoding="utf-8")
    for p in NOTEBOOKS:
        assert f'href="notebooks/{p.stem}.html"' in listing, f"notebooks.md does not link the page of {p.name}"


def test_the_notebook_pages_load_nothing_from_the_network(site):
    for page in sorted((site / "notebooks").glob("*.html")):
        text = page.read_text(encoding="utf-8")
        remote = re.findall(r"<(?:script|link|img|iframe)[^>]*(?:src|href)=\"(?:https?:)?//[^\"]+\"", text)
        assert not remote, f"{page.name} loads {remote}"
        assert "cdn" not in " ".join(re.findall(r"<(?:script|link)[^>]*>", text)).lower()


def test_the_hook_fences_code_and_keeps_markdown(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Título\n\nTexto *con* énfasis."),
        nbformat.v4.new_code_cell('s = """\n```\n"""\nprint(s)'),  # a fence inside the code
        nbformat.v4.new_raw_cell("raw: not shown"),
        nbformat.v4.new_code_cell("   "),  # empty cells are skipped
    ]
    path = tmp_path / "01-prueba.ipynb"
    nbformat.write(nb, path)
    md = load_hook().notebook_markdown(path)
    assert md.startswith('# Título\n\nTexto *con* énfasis.\n\n````python\ns = """\n```\n"""\nprint(s)\n````\n')
    assert "raw: not shown" not in md and md.count("python\n") == 1
    assert "docs/notebooks/01-prueba.ipynb" in md
