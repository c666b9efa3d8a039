"""The pages and their files: a fixed table from URL path to a file of the package's
``static/`` folder, read once. No URL is ever turned into a file-system path.
"""

from __future__ import annotations

from importlib import resources

#: URL path -> (file in lenet_xp/web/static, Content-Type)
FILES = {
    "/": ("draw.html", "text/html; charset=utf-8"),
    "/runs": ("runs.html", "text/html; charset=utf-8"),
    "/evaluate": ("evaluate.html", "text/html; charset=utf-8"),
    "/static/style.css": ("style.css", "text/css; charset=utf-8"),
    "/static/common.js": ("common.js", "text/javascript; charset=utf-8"),
    "/static/draw.js": ("draw.js", "text/javascript; charset=utf-8"),
    "/static/layers.js": ("layers.js", "text/javascript; charset=utf-8"),
    "/static/runs.js": ("runs.js", "text/javascript; charset=utf-8"),
    "/static/evaluate.js": ("evaluate.js", "text/javascript; charset=utf-8"),
    "/static/favicon.svg": ("favicon.svg", "image/svg+xml"),
    "/static/uPlot.iife.min.js": ("uPlot.iife.min.js", "text/javascript; charset=utf-8"),
    "/static/uPlot.min.css": ("uPlot.min.css", "text/css; charset=utf-8"),
    "/static/uPlot.LICENSE": ("uPlot.LICENSE", "text/plain; charset=utf-8"),
}


def load_files() -> dict[str, tuple[bytes, str]]:
    """URL path -> (the file's bytes, its Content-Type), for every entry of :data:`FILES`."""
    folder = resources.files(__package__) / "static"
    return {url: ((folder / name).read_bytes(), kind) for url, (name, kind) in FILES.items()}
