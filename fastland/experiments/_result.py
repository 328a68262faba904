"""The protocol every experiment's result follows.

Every result of :mod:`fastland.experiments` derives from :class:`ExperimentResult`
and offers:

- ``table()``: a short table (Markdown, or fixed-width text);
- ``verdict``: the verdict as text -- a first sentence with the label and the key
  number, then short lines for the evidence, the tests and their thresholds, and
  the caveats; ``verdict_label``: one of the experiment's ``VERDICT_LABELS``;
  ``assess()``: the same as a :class:`Verdict` (label, :class:`Check` s with
  values and thresholds, the settings the verdict rests on);
- ``to_dict()``: the numbers as plain JSON values (non-finite numbers as null);
- ``report()``: Markdown (title, setting, table, further tables, verdict, files);
- ``write(out_dir, overwrite=False)``: the JSON summary and ``report.md``, never
  replacing a file unless ``overwrite``.

The experiment functions share one calling convention: keyword-only ``seed``,
``out_dir``, ``figures``, ``progress`` and ``overwrite`` with the same defaults
and wording (:func:`protocol_doc`); every file a call writes is claimed before the
computation starts (:meth:`ExperimentResult.claim`).
"""

from __future__ import annotations

import json
import math
import textwrap
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, NamedTuple

from .._docs import fill_doc
from .._outputs import write_text
from .._validate import check_bool, check_int
from ._files import claim_outputs, result_file
from ._json import json_default, jsonable

__all__ = ["Check", "ExperimentResult", "Section", "Verdict", "protocol_doc"]

_NEGATION = {
    "<=": ">",
    "<": ">=",
    ">": "<=",
    ">=": "<",
    "==": "!=",
    "!=": "==",
    "excludes": "does not exclude",
    "in": "not in",
}


def _fmt(v) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.3g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return str(v)


@dataclass(frozen=True)
class Check:
    """One test a verdict rests on: ``value`` compared with ``threshold`` by ``rule``.

    Attributes
    ----------
    name : str
        Short identifier, e.g. ``"loss_ks_pvalue_min"``.
    about : str
        What is tested, in words.
    passed : bool or None
        Whether ``value rule threshold`` holds (None: not tested).
    value, threshold : number, list or None
        The measured value and what it is compared with.
    rule : str
        The comparison: ``"<="``, ``"<"``, ``">"``, ``">="``, ``"=="``, ``"!="``,
        ``"excludes"`` (an interval ``value`` and a number) or ``"in"``.
    """

    name: str
    about: str
    passed: bool | None
    value: object = None
    threshold: object = None
    rule: str = "<="

    def line(self) -> str:
        """One line: what, the comparison as it turned out, and whether it holds."""
        if self.passed is None:
            return f"{self.about}: not tested"
        if self.threshold is None and self.value is None:
            return f"{self.about}: {'passed' if self.passed else 'failed'}"
        rule = self.rule if self.passed else _NEGATION.get(self.rule, f"not {self.rule}")
        outcome = "passed" if self.passed else "failed"
        return f"{self.about}: {_fmt(self.value)} {rule} {_fmt(self.threshold)} ({outcome})"

    def to_dict(self) -> dict:
        """JSON-able fields."""
        return jsonable({k: getattr(self, k) for k in ("name", "about", "passed", "value", "threshold", "rule")})


@dataclass(frozen=True)
class Verdict:
    """A verdict in structured form.

    Attributes
    ----------
    label : str
        One of the experiment's ``VERDICT_LABELS``.
    headline : str
        The first sentence: the label (in words) and the key number.
    evidence : tuple of str
        Short lines: the numbers behind the headline.
    checks : tuple of Check
        The tests, with their values and thresholds.
    caveats : tuple of str
        What limits the verdict (unconverged sampling, a setting other than the seed's, ...).
    settings : dict
        The settings the verdict rests on (thresholds, tolerances, sizes).
    """

    label: str
    headline: str
    evidence: tuple = ()
    checks: tuple = ()
    caveats: tuple = ()
    settings: dict = field(default_factory=dict)

    def check(self, name: str) -> Check:
        """The check called ``name`` (KeyError if there is none)."""
        return pick(self.checks, "name", name, "check")

    def text(self) -> str:
        """The headline, then one block per kind of line (Markdown lists; readable as plain text)."""
        blocks = [self.headline]
        for title, lines in (
            ("Evidence", self.evidence),
            ("Tests", [c.line() for c in self.checks]),
            ("Caveats", self.caveats),
        ):
            if lines:
                blocks.append(f"{title}:\n" + "\n".join(f"- {s}" for s in lines))
        if self.settings:
            blocks.append("Settings: " + ", ".join(f"{k} = {_fmt(v)}" for k, v in self.settings.items()) + ".")
        return "\n\n".join(blocks)

    def to_dict(self) -> dict:
        """JSON-able fields (checks as dicts)."""
        return {
            "label": self.label,
            "headline": self.headline,
            "evidence": list(self.evidence),
            "checks": [c.to_dict() for c in self.checks],
            "caveats": list(self.caveats),
            "settings": jsonable(self.settings),
        }


class Section(NamedTuple):
    """A further table or paragraph of a result: ``report()`` and the command print it after ``table()``."""

    heading: str
    text: str
    preformatted: bool = False


@dataclass(kw_only=True)
class ExperimentResult:
    """Base of every experiment's result (module notes: the protocol).

    Attributes
    ----------
    settings : dict
        The experiment's settings (JSON-able).
    out_dir : str or None
        Where :meth:`write` last wrote (None: nothing written).
    files : list of str
        Every file the experiment and :meth:`write` wrote, in order.
    """

    settings: dict = field(default_factory=dict)
    out_dir: str | None = None
    files: list = field(default_factory=list)

    #: the report's title
    TITLE: ClassVar[str] = "Experiment"
    #: the HDF5 data file (None: the experiment has none of its own) and its format stamp
    DATA_FILE: ClassVar[str | None] = None
    FORMAT: ClassVar[str | None] = None
    FORMAT_VERSION: ClassVar[int] = 1
    #: the JSON summary (``to_dict()``) and the Markdown report (``report()``)
    JSON_FILE: ClassVar[str] = "result.json"
    REPORT_FILE: ClassVar[str] = "report.md"
    #: the labels ``verdict_label`` takes
    VERDICT_LABELS: ClassVar[tuple[str, ...]] = ()

    # ------------------------------------------------------------------ what subclasses give
    def table(self) -> str:
        """A short table of the results (Markdown or fixed-width text)."""
        raise NotImplementedError

    def assess(self) -> Verdict:
        """The verdict in structured form, computed from the result's numbers."""
        raise NotImplementedError

    def sections(self) -> list[Section]:
        """Further tables and paragraphs shown after :meth:`table` (none by default)."""
        return []

    def _intro(self) -> str:
        """The report's first paragraph: what was run (Markdown)."""
        return ""

    def _summary(self) -> dict:
        """The experiment's own numbers for :meth:`to_dict` (verdict, settings and files are added)."""
        return {}

    # ------------------------------------------------------------------------- the protocol
    @property
    def verdict(self) -> str:
        """The verdict as text: the headline, then evidence, tests and caveats (:meth:`Verdict.text`)."""
        return self._checked().text()

    @property
    def verdict_label(self) -> str:
        """The verdict's label, one of ``VERDICT_LABELS``."""
        return self._checked().label

    def _checked(self) -> Verdict:
        v = self.assess()
        if v.label not in self.VERDICT_LABELS:  # a bug in the subclass, not a user error
            raise RuntimeError(f"{type(self).__name__}: verdict label {v.label!r} is not in {self.VERDICT_LABELS}")
        return v

    def to_dict(self) -> dict:
        """The numbers as plain JSON values, with the verdict (text, label, structured), settings and files."""
        v = self._checked()
        out = dict(self._summary())
        out.update(
            verdict=v.text(),
            verdict_label=v.label,
            assessment=v.to_dict(),
            settings=self.settings,
            files=list(self.files),
        )
        return jsonable(out)

    def report(self) -> str:
        """Markdown: title, what was run, the table, further sections, the verdict and the files."""
        lines = [f"# {self.TITLE}", ""]
        intro = self._intro()
        if intro:
            lines += [intro, ""]
        lines += [_markdown(self.table()), ""]
        for s in self.sections():
            if s.heading:
                lines += [s.heading, ""]
            lines += [_markdown(s.text) if s.preformatted else s.text, ""]
        lines += [f"**Verdict.** {self.verdict}", ""]
        if self.files:
            lines += ["Files: " + ", ".join(Path(f).name for f in self.files), ""]
        return "\n".join(lines)

    def __str__(self) -> str:
        parts = [self.table()]
        parts += [(s.heading + "\n" if s.heading else "") + s.text for s in self.sections()]
        return "\n\n".join([*parts, self.verdict])

    def console_text(self, width: int = 100) -> str:
        """What the ``fastland`` command prints: table, sections and the verdict, wrapped to ``width``."""
        parts = [self.table()]
        for s in self.sections():
            text = s.text if s.preformatted else _wrap(s.text, width)
            parts.append((s.heading + "\n" if s.heading else "") + text)
        parts.append(_wrap(self.verdict, width))
        return "\n\n".join(parts)

    def write(self, out_dir, overwrite: bool = False) -> list[str]:
        """Write the JSON summary (``to_dict()``) and ``report.md`` (``report()``) to ``out_dir``.

        Parameters
        ----------
        out_dir : str or path
            The folder (made if missing).
        overwrite : bool, default False
            Replace these two files; without it an existing one raises
            FileExistsError naming it, and neither is written.

        Returns
        -------
        list of str
            The two paths (also added to ``files``).
        """
        overwrite = check_bool("overwrite", overwrite)
        out = claim_outputs(out_dir, [self.JSON_FILE, self.REPORT_FILE], overwrite)
        paths = [str(out / self.JSON_FILE), str(out / self.REPORT_FILE)]
        self.out_dir = str(out)
        self.files.extend(p for p in paths if p not in self.files)  # listed in the files they describe
        text = json.dumps(self.to_dict(), indent=2)
        write_text(paths[0], text, overwrite=overwrite, argname="out_dir")
        write_text(paths[1], self.report(), overwrite=overwrite, argname="out_dir")
        return paths

    # -------------------------------------------------------------- for the experiment functions
    @classmethod
    def claim(cls, out_dir, figures: bool, overwrite: bool, names: Iterable[str] = (), figure_names=()) -> Path | None:
        """Check the protocol arguments and claim every file a call will write, before the computation.

        ``names`` are files of the experiment's own (besides ``DATA_FILE``,
        ``JSON_FILE`` and ``REPORT_FILE``); ``figure_names`` are claimed when
        ``figures``. Returns the folder, or None when ``out_dir`` is None.
        """
        figures = check_bool("figures", figures)
        overwrite = check_bool("overwrite", overwrite)
        if out_dir is None:
            if figures:
                raise ValueError("figures: the figures are files; pass out_dir too")
            return None
        own = [cls.DATA_FILE] if cls.DATA_FILE else []
        everything = [*names, *own, cls.JSON_FILE, cls.REPORT_FILE, *(figure_names if figures else ())]
        return claim_outputs(out_dir, everything, overwrite)

    @contextmanager
    def data_file(self, out: Path, overwrite: bool) -> Iterator:
        """Create ``out / DATA_FILE`` stamped with ``FORMAT``, the settings and the verdict; yield its h5py.File."""
        path = Path(out) / self.DATA_FILE
        with result_file(path, self.FORMAT, self.FORMAT_VERSION, overwrite) as f:
            f.attrs["settings"] = json.dumps(self.settings, default=json_default)
            v = self._checked()
            f.attrs["verdict"] = v.text()
            f.attrs["verdict_label"] = v.label
            yield f
        self.files.append(str(path))

    def save(self, out: Path | None, overwrite: bool, fill: Callable | None = None, figures: Callable | None = None):
        """The end of every experiment: the data file (``fill(h5file)``), the figures, JSON and report.

        ``figures()`` returns the paths of the figures it wrote. Nothing
        happens when ``out`` is None.
        """
        if out is None:
            return
        if self.DATA_FILE:
            with self.data_file(out, overwrite) as f:
                fill(f)
        if figures is not None:
            self.files.extend(figures())
        self.write(out, overwrite)


def pick(items, attr: str, key, what: str, same=None):
    """The item whose ``attr`` equals ``key`` (``same(value, key)`` when given); KeyError naming the choices."""
    for item in items:
        value = getattr(item, attr)
        if same(value, key) if same is not None else value == key:
            return item
    raise KeyError(f"{what} {key!r} was not part of this experiment (there are {[getattr(i, attr) for i in items]})")


def check_seed(seed) -> int:
    """The protocol's ``seed``: an int >= 0."""
    return check_int("seed", seed, 0)


def say(progress: bool, log=None) -> Callable[[str], None]:
    """The function an experiment reports its phases through: ``log``, else print when ``progress``."""
    progress = check_bool("progress", progress)
    if log is not None:
        if not callable(log):
            raise ValueError(f"log: expected a callable taking one str, got {type(log).__name__}")
        return log
    if progress:
        return lambda s: print(s, flush=True)
    return lambda s: None


def _markdown(text: str) -> str:
    """A Markdown table as it is; fixed-width text fenced as code."""
    return text if text.lstrip().startswith("|") else f"```\n{text}\n```"


def _wrap(text: str, width: int) -> str:
    """Wrap every line to ``width``; list items keep their indentation."""
    out = []
    for line in text.splitlines():
        if len(line) <= width:
            out.append(line)
        else:
            indent = "  " if line.startswith("- ") else ""
            out.append(textwrap.fill(line, width=width, subsequent_indent=indent, break_on_hyphens=False))
    return "\n".join(out)


# ------------------------------------------------------------------------------ docstrings
_PROTOCOL_DOC = (
    (
        "seed : int, default 0",
        "Seeds every random draw of the experiment: the same seed and sizes give the same numbers.{seed}",
    ),
    (
        "out_dir : str or path, optional",
        "Write the result files there (``result.files`` lists them): {files}the summary ``{json}`` "
        "(``to_dict()``), ``report.md`` (``report()``) and, with ``figures``, the PNG figures. "
        "Default: write nothing.",
    ),
    (
        "figures : bool, default False",
        "Also write the figures to ``out_dir`` (needs matplotlib: ``pip install 'fastland[plot]'``).",
    ),
    ("progress : bool, default False", "Report progress while running (progress bars, a line per phase)."),
    (
        "overwrite : bool, default False",
        "Replace these files in ``out_dir``. Without it a call whose files exist already raises "
        "FileExistsError naming them, before any computation, and leaves every file as it was.",
    ),
)


def protocol_doc(result_cls: type, seed: str = "", files: str = "") -> Callable:
    """Decorator: put the protocol arguments' shared description where the docstring says ``{protocol}``.

    ``seed`` adds a sentence on what the seed draws; ``files`` names files the
    experiment writes besides its ``DATA_FILE``, the JSON summary and the report.
    """
    own = f"``{result_cls.DATA_FILE}`` (HDF5, readable with h5py), " if result_cls.DATA_FILE else ""
    fill = {"seed": f" {seed}" if seed else "", "files": files + own, "json": result_cls.JSON_FILE}
    lines = []
    for head, text in _PROTOCOL_DOC:
        body = textwrap.wrap(text.format(**fill), 72, break_on_hyphens=False)
        lines += [head, *("    " + b for b in body)]

    return lambda func: fill_doc(func, "protocol", "\n".join(lines))
