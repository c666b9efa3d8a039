"""A griffe extension: the reST markup of lenet_xp's docstrings, as Markdown for mkdocstrings.

lenet_xp's docstrings are written for ``help()`` and Sphinx-style readers: cross-references
as roles (``:class:`~lenet_xp.backend.Random```, ``:func:`load_mnist```) and literal blocks
introduced by ``::``. mkdocstrings renders docstrings as Markdown, where a role would show as
``:class:`` followed by code. This extension rewrites, in each docstring before it is parsed:

- a role ``:kind:`target``` into a cross-reference to ``target`` resolved in the docstring's
  scope, as its module would resolve the name (``~`` shows the last part only). It links where
  the API reference renders the object and is plain code elsewhere (autorefs' *optional*
  references: a private helper named in a docstring is not a broken link);
- ``text::`` before an indented block into ``text:`` (the indented block is then Markdown's
  code block, as it was reST's literal block);
- a simple table (columns under runs of ``=``, a first column left blank to continue the row
  above) into a Markdown table.

Loaded by mkdocs.yml (``plugins.mkdocstrings.handlers.python.options.extensions``).
"""

from __future__ import annotations

import html
import re

import griffe

#: :kind:`target` or :kind:`~target` (Sphinx's Python roles lenet_xp uses)
ROLE = re.compile(r":(?:class|func|meth|attr|data|mod|exc|obj):`(~?)([\w.]+)(\(\))?`")
#: "text::" ending a line, before a blank line (the literal block's marker)
LITERAL = re.compile(r"(\S)::\n(?=\s*\n)")


class RstMarkup(griffe.Extension):
    """Rewrites each docstring's roles and literal-block markers when the tree is loaded."""

    def on_object(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown_of(obj.docstring.value, obj)


def markdown_of(text: str, scope: griffe.Object) -> str:
    """``text`` with its roles made cross-references resolved in ``scope``, ``::`` made ``:``
    and its simple tables Markdown's."""

    def reference(match: re.Match) -> str:
        short, target, call = match.group(1), match.group(2), match.group(3) or ""
        label = (target.rsplit(".", 1)[-1] if short else target) + call
        path = resolved(target, scope)
        if path is None:
            return f"`{label}`"
        return (f'<autoref identifier="{html.escape(path)}" optional>'
                f"<code>{html.escape(label)}</code></autoref>")

    return tables_of(LITERAL.sub(r"\1:\n", ROLE.sub(reference, text)))


def resolved(target: str, scope: griffe.Object) -> str | None:
    """The full path of ``target`` (``Name``, ``Name.member`` or a full ``lenet_xp.…`` path) as
    seen from ``scope``, or None where no scope up to the module knows its first part."""
    first, _, rest = target.partition(".")
    if first == scope.package.name:
        return target
    try:
        base = scope.resolve(first)
    except griffe.NameResolutionError:
        return None
    return f"{base}.{rest}" if rest else base


#: a simple table's border: runs of "=" separated by spaces
BORDER = re.compile(r"^( *)=+( +=+)+ *$")


def tables_of(text: str) -> str:
    """``text`` with each reST simple table made a Markdown table (a headerless one gets an
    empty header row, which Markdown requires)."""
    lines, out, k = text.split("\n"), [], 0
    while k < len(lines):
        if not BORDER.match(lines[k]):
            out.append(lines[k])
            k += 1
            continue
        border, body, k = lines[k], [], k + 1
        sections = [body]
        while k < len(lines):
            if BORDER.match(lines[k]):
                k += 1
                if k == len(lines) or not lines[k].strip():
                    break  # the closing border
                body = []
                sections.append(body)  # the header's underline: rows follow
            else:
                body.append(lines[k])
                k += 1
        out.extend(_markdown_table(border, sections))
    return "\n".join(out)


def _markdown_table(border: str, sections: list[list[str]]) -> list[str]:
    indent = len(border) - len(border.lstrip())
    starts = [m.start() for m in re.finditer(r"=+", border)]
    header = _rows(sections[0], starts) if len(sections) > 1 else [[""] * len(starts)]
    rows = _rows(sections[-1], starts)
    pad = " " * indent
    lines = [pad + "| " + " | ".join(header[0]) + " |", pad + "|" + "---|" * len(starts)]
    return lines + [pad + "| " + " | ".join(row) + " |" for row in rows]


def _rows(lines: list[str], starts: list[int]) -> list[list[str]]:
    """Cells by column; a line with a blank first column continues the row above."""
    rows: list[list[str]] = []
    for line in lines:
        cells = _cells(line, starts)
        if rows and not cells[0]:
            rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells)]
        else:
            rows.append(cells)
    return [[cell.replace("|", "\\|") for cell in row] for row in rows]


def _cells(line: str, starts: list[int]) -> list[str]:
    """The line cut at the column starts; text that runs past a column's end (no gap at the
    start of the next) pushes that cut to the next double space."""
    cells, begin = [], 0
    for start in starts[1:]:
        end = max(start, begin)
        if 0 < end < len(line) and line[end - 1] != " " and line[end] != " ":
            gap = line.find("  ", end)
            end = len(line) if gap < 0 else gap
        cells.append(line[begin:end].strip())
        begin = end
    cells.append(line[begin:].strip())
    return cells
