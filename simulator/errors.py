"""One exception root for adcov; subclasses also inherit the matching builtin.

The CLI turns any :class:`AdcovError` into one line on stderr and exit status 2; any
other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar


class AdcovError(Exception):
    """Root of every error adcov raises on purpose (bad input, missing data)."""


class ProblemsError(AdcovError):
    """An error that carries every :class:`Problem` found in a file, not just the first.

    ``problems`` is the list of them, in the order found; the message is one problem a line, at
    most ``shown`` of them followed by ``... and N more problems``, then ``note`` if given.

    A plain string is accepted too: a subclass that sets ``text_file`` turns it into one
    problem of that file (``ScenarioError("x")`` reads ``<scenario>: x``); otherwise the string
    is the whole message and ``problems`` is empty (``CatalogError`` for a failed lookup).

    >>> error = CatalogError([Problem("c.yaml", 3, "sources", "expected a mapping")] * 3, shown=2)
    >>> print(error)
    c.yaml:3: sources: expected a mapping
    c.yaml:3: sources: expected a mapping
    ... and 1 more problems
    >>> len(error.problems)
    3
    >>> CatalogError("unknown source id 'x'").problems
    []
    """

    #: The file a plain-string message is attributed to; None: the string is the message as is.
    text_file: ClassVar[str | None] = None

    def __init__(self, problems: Iterable[Problem] | Problem | str, *, shown: int | None = None,
                 note: str | None = None):
        if isinstance(problems, str):
            if self.text_file is None:
                self.problems: list[Problem] = []
                super().__init__(problems)
                return
            problems = [Problem(file=self.text_file, line=None, key_path="", message=problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems = list(problems)
        lines = [str(p) for p in self.problems[:shown]]
        if len(lines) < len(self.problems):
            lines.append(f"... and {len(self.problems) - len(lines)} more problems")
        if note is not None:
            lines.append(note)
        super().__init__("\n".join(lines))

    def __reduce__(self) -> tuple:
        # copy and pickle keep the message and the problems as they are (the default would call
        # __init__ again with the message alone: no problems, and ScenarioError would prefix it)
        return _rebuild, (type(self), self.args), self.__dict__


def _rebuild(cls: type[ProblemsError], args: tuple) -> ProblemsError:
    return cls.__new__(cls, *args)


class CatalogError(ProblemsError, ValueError):
    """The published-systems catalog is malformed (``problems`` says where) or a lookup failed."""


class UnknownSystemError(CatalogError, KeyError):
    """A system name or id is not in the catalog; the message lists close names."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class TerrainError(AdcovError, OSError):
    """A terrain raster cannot be read or is unusable."""


class OutsideTerrainError(TerrainError, ValueError):
    """A point (site, query) lies outside the loaded terrain."""


class CacheError(AdcovError, OSError):
    """The envelope cache cannot be used (not for corrupt entries: those are recomputed)."""


class ArgumentError(AdcovError, ValueError):
    """An argument -- a command-line option or a parameter of a library call -- is not valid;
    the message names it and says what would be."""


class OutputError(AdcovError):
    """An output cannot be written where asked (refused before writing, or a write failed):
    the previous output, if any, is left as it was. Not an OSError: it is raised from inside
    ``except OSError`` handlers and must pass through the others unchanged."""


class NothingInRangeError(AdcovError, ValueError):
    """No analysis cell lies within range of a site: the unit covers nothing of the grid."""


class ComputationCancelled(AdcovError):
    """A long computation was stopped through its cancel token."""


@dataclass(frozen=True)
class Problem:
    """One problem found in a scenario or catalog file: where, what is wrong, what would be valid.

    >>> print(Problem("catalog.yaml", 12, "systems[0].id", "duplicate system id 's300v4'"))
    catalog.yaml:12: systems[0].id: duplicate system id 's300v4'
    >>> print(Problem("catalog.yaml", None, "", "not valid YAML: found unexpected end of stream"))
    catalog.yaml: not valid YAML: found unexpected end of stream
    """

    file: str
    line: int | None
    key_path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.key_path}: {self.message}" if self.key_path else f"{where}: {self.message}"


class ScenarioError(ProblemsError, ValueError):
    """A scenario file is invalid; carries every problem found, not just the first."""

    text_file = "<scenario>"
