"""Shared docstring text: one wording for arguments that many public functions take."""

from __future__ import annotations

import textwrap

__all__: list[str] = []  # private module


def fill_doc(func, marker: str, text: str):
    """Replace the line ``{marker}`` of ``func.__doc__`` by ``text``, indented like the marker; return ``func``."""
    doc = func.__doc__
    line = next((s for s in doc.splitlines() if s.strip() == "{" + marker + "}"), None)
    if line is None:
        raise ValueError(f"{func.__qualname__}: the docstring has no line {{{marker}}}")
    indent = line[: len(line) - len(line.lstrip())]
    func.__doc__ = doc.replace(line, textwrap.indent(text, indent))
    return func
