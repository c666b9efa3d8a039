"""The documentation site (mkdocs.yml, docs/): ``mkdocs build --strict`` passes, its API
reference has an entry for every public name, nothing on a page comes from another host, and
in Chromium its math, code and figures render.

Public names: every name in the ``__all__`` of lenet_xp and of each of its modules that has
one; a module named there without an ``__all__`` of its own (``lenet_xp.losses``,
``lenet_xp.export``, ...) must have an entry itself, as must each class and function it
defines. An entry is a line of the site's inventory (``objects.inv``, which mkdocstrings
writes for every object it renders) under the public path or the path where the object is
defined."""

from __future__ import annotations

import functools
import http.server
import importlib
import inspect
import os
import pkgutil
import re
import subprocess
import sys
import threading
import types
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

import lenet_xp
from docs_tools import ROOT, docsite, require

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
#: pages looked at in the browser: (path, whether it has math), and what each must show
PAGES = {"": False, "api/layers/": True, "tutorial/": True, "guide/library/": False,
         "guide/web/": False}
#: the pages whose Python must be highlighted, and the figures of the README's sections a
#: user guide's page must show (found at their new place)
PYTHON = ("tutorial/", "guide/library/")
FIGURES = {"guide/web/": 5}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site, built with ``mkdocs build --strict`` into a temporary folder."""
    require("mkdocs", "material", "mkdocstrings_handlers.python", "mkdocs_include_markdown_plugin")
    out = tmp_path_factory.mktemp("site")
    build = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
                           cwd=ROOT, capture_output=True, text=True,
                           env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert build.returncode == 0, f"mkdocs build --strict failed:\n{build.stderr[-4000:]}"
    return out


def _inventory(site: Path) -> set[tuple[str, str]]:
    """(name, role) of each line of the site's objects.inv (Sphinx inventory version 2: four
    lines, then zlib): role py:module, py:class, py:function, py:data, ..."""
    raw = (site / "objects.inv").read_bytes()
    body = zlib.decompress(raw.split(b"\n", 4)[4]).decode()
    return {tuple(line.split(" ", 2)[:2]) for line in body.splitlines()}


def _modules_with_all() -> list[types.ModuleType]:
    modules = [lenet_xp]
    for info in pkgutil.walk_packages(lenet_xp.__path__, "lenet_xp."):
        module = importlib.import_module(info.name)
        if hasattr(module, "__all__"):
            modules.append(module)
    return modules


def _defined_in(module: types.ModuleType) -> dict[str, object]:
    """The public classes and functions a module without ``__all__`` defines itself."""
    return {name: value for name, value in vars(module).items()
            if not name.startswith("_") and (inspect.isclass(value) or inspect.isfunction(value))
            and value.__module__ == module.__name__}


def _entries(public: str, value: object) -> set[tuple[str, str]]:
    """The inventory lines that document ``value``: its public path or the path where it is
    defined, with its kind of object (a function ``elastic`` is not its module ``elastic``)."""
    if isinstance(value, types.ModuleType):
        return {(path, "py:module") for path in (public, value.__name__)}
    if inspect.isclass(value) or inspect.isfunction(value):
        role = "py:class" if inspect.isclass(value) else "py:function"
        return {(path, role) for path in (public, f"{value.__module__}.{value.__qualname__}")}
    return {(public, "py:data"), (public, "py:attribute")}


def public_names() -> dict[str, object]:
    """Public path -> object, for every name the site's API reference must cover."""
    names: dict[str, object] = {}
    for module in _modules_with_all():
        for name in module.__all__:
            value = getattr(module, name)
            names[f"{module.__name__}.{name}"] = value
            if isinstance(value, types.ModuleType) and not hasattr(value, "__all__"):
                names.update({f"{value.__name__}.{member}": obj
                              for member, obj in _defined_in(value).items()})
    return names


def missing_entries(names: dict[str, object], inventory: set[tuple[str, str]]) -> list[str]:
    """The public paths without an entry; a module with an ``__all__`` of its own needs none
    (its names are checked one by one)."""
    return sorted(public for public, value in names.items()
                  if not (isinstance(value, types.ModuleType) and hasattr(value, "__all__"))
                  and not _entries(public, value) & inventory)


def test_every_public_name_has_an_api_entry(site):
    names = public_names()
    assert {"lenet_xp.load_model", "lenet_xp.training.RunConfig", "lenet_xp.training.run",
            "lenet_xp.layers.Conv2d", "lenet_xp.losses.SoftmaxCrossEntropy"} <= set(names)
    missing = missing_entries(names, _inventory(site))
    assert not missing, (f"{len(missing)} public names have no entry in docs/api/ "
                         f"(add a ::: line for each): {', '.join(missing)}")


def test_a_name_without_an_entry_is_found():
    names = {"lenet_xp.layers.Conv2d": lenet_xp.layers.Conv2d, "lenet_xp.losses": lenet_xp.losses,
             "lenet_xp.layers": lenet_xp.layers, "lenet_xp.data.augment.warp": lenet_xp.data.augment.warp}
    inventory = {("lenet_xp.layers.conv.Conv2d", "py:class"),  # where it is defined counts
                 ("lenet_xp.data.augment.warp", "py:module")}  # the module, not the function
    # lenet_xp.layers has an __all__ of its own, checked name by name
    assert missing_entries(names, inventory) == ["lenet_xp.data.augment.warp", "lenet_xp.losses"]


def test_the_docstrings_rest_becomes_markdown():
    require("griffe")
    import griffe

    rst = docsite("rst_markup")
    table = ("Cells::\n\n    literal\n\n==========  ====\nname        kind\n==========  ====\n"
             "``a``       one that\n            goes on\n``a_much_longer``  spills\n==========  ====\n")
    assert rst.tables_of(rst.LITERAL.sub(r"\1:\n", table)).splitlines() == [
        "Cells:", "", "    literal", "", "| name | kind |", "|---|---|",
        "| ``a`` | one that goes on |", "| ``a_much_longer`` | spills |"]
    package = griffe.load("lenet_xp", search_paths=[str(ROOT)], resolve_aliases=False)
    scope = package["data"]  # imports load_mnist from lenet_xp.data.mnist
    assert rst.markdown_of(":func:`load_mnist` and :class:`~lenet_xp.backend.Random`, :func:`nowhere`",
                           scope) == (
        '<autoref identifier="lenet_xp.data.mnist.load_mnist" optional><code>load_mnist</code></autoref>'
        ' and <autoref identifier="lenet_xp.backend.Random" optional><code>Random</code></autoref>, '
        "`nowhere`")


class _Assets(HTMLParser):
    """The URLs a page loads by itself (scripts, styles, images, frames, icons), not its links."""

    LOADS = {"script": "src", "img": "src", "iframe": "src", "source": "src", "audio": "src",
             "video": "src", "embed": "src", "link": "href"}

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "link" and not {"stylesheet", "icon", "preload", "modulepreload", "manifest"} & set(
                (attrs.get("rel") or "").split()):
            return
        if self.LOADS.get(tag) in attrs:
            self.urls.append(attrs[self.LOADS[tag]])
        for style in re.findall(r"url\(([^)]*)\)", attrs.get("style") or ""):
            self.urls.append(style.strip("'\""))


def _external(url: str) -> bool:
    return bool(re.match(r"(?i)^(https?:)?//", url.strip()))


def test_nothing_on_any_page_comes_from_another_host(site):
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 20
    for page in pages:
        assets = _Assets()
        assets.feed(page.read_text(encoding="utf-8"))
        assert assets.urls, page
        external = [url for url in assets.urls if _external(url)]
        assert not external, f"{page.relative_to(site)} loads {external}"
    for style in site.rglob("*.css"):
        external = [url for url in re.findall(r"url\(\s*['\"]?([^)'\"]+)", style.read_text(encoding="utf-8"))
                    if _external(url)]
        external += re.findall(r"@import\s+(?:url\()?['\"]?(?:https?:)?//[^;]+", style.read_text(encoding="utf-8"))
        assert not external, f"{style.relative_to(site)} loads {external}"


def test_the_asset_check_sees_a_script_from_elsewhere():
    assets = _Assets()
    assets.feed('<a href="https://example.org/">a link</a><script src="https://cdn.example/x.js">'
                '</script><link rel="stylesheet" href="//fonts.example/f.css"><img src="figures/a.png">')
    assert [url for url in assets.urls if _external(url)] == ["https://cdn.example/x.js",
                                                             "//fonts.example/f.css"]


def test_the_math_is_katex_served_by_the_site(site):
    page = (site / "api" / "layers" / "index.html").read_text(encoding="utf-8")
    assert 'class="arithmatex"' in page
    for asset in ("assets/katex/katex.min.js", "assets/katex/contrib/auto-render.min.js",
                  "assets/katex/katex.min.css", "assets/javascripts/katex.js"):
        assert asset in page and (site / asset).stat().st_size > 0
    fonts = re.findall(r"url\((fonts/[^)]+\.woff2)\)", (site / "assets/katex/katex.min.css").read_text())
    assert fonts and all((site / "assets" / "katex" / font).exists() for font in fonts)


@pytest.fixture(scope="module")
def served(site):
    """The built site on a loopback port, as a reader's browser gets it."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(Quiet, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Debian's Chromium, offline: every host but the loopback address resolves to nothing."""
    require("selenium", extra="test")
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            reason = f"{path} not found: apt-get install -y --no-install-recommends chromium chromium-driver"
            if os.environ.get("CI") == "true":
                pytest.fail(f"CI runs the browser tests, but {reason}")
            pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never fetch a browser or driver
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1400,1000", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    yield driver
    driver.quit()


LOOK = """
return {
  resources: performance.getEntriesByType("resource").map(e => e.name),
  math: document.querySelectorAll(".arithmatex .katex").length,
  unrendered: [...document.querySelectorAll(".arithmatex")].filter(e => !e.querySelector(".katex")).length,
  errors: document.querySelectorAll(".katex-error").length,
  code: document.querySelectorAll("pre code .k, pre code .kn, pre code .nf").length,
  images: [...document.images].map(i => [i.getAttribute("src"), i.complete && i.naturalWidth > 0]),
  fonts: [...document.fonts].filter(f => f.status === "loaded").map(f => f.family),
};
"""


@pytest.mark.browser
@pytest.mark.parametrize("path", PAGES)
def test_a_page_in_chromium_renders_its_math_code_and_figures_from_the_site_alone(
        site, served, browser, path, tmp_path):
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(served + path)
    WebDriverWait(browser, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")
    if PAGES[path]:  # KaTeX renders once Material's document$ fires
        WebDriverWait(browser, 30).until(lambda d: d.execute_script(
            "return document.querySelectorAll('.arithmatex .katex').length > 0"))
    look = browser.execute_script(LOOK)
    folder = Path(os.environ.get("LENET_XP_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(folder / f"site_{path.strip('/').replace('/', '_') or 'home'}.png"))

    assert look["resources"], "the page loaded nothing: is the site served?"
    assert all(url.startswith(served) for url in look["resources"]), look["resources"]
    assert not [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert all(loaded for _, loaded in look["images"]), look["images"]
    if PAGES[path]:
        assert look["math"] > 0 and look["unrendered"] == 0 and look["errors"] == 0, look
        assert any(family.startswith("KaTeX") for family in look["fonts"]), look["fonts"]
    if path in PYTHON:
        assert look["code"] > 0  # highlighted Python
    if path in FIGURES:
        assert len(look["images"]) >= FIGURES[path]
