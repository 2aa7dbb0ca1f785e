"""One exception root for adcov; subclasses also inherit the matching builtin.

The CLI turns any :class:`AdcovError` into one line on stderr and exit status 2; any
other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


class AdcovError(Exception):
    """Root of every error adcov raises on purpose (bad input, missing data)."""


class CatalogError(AdcovError, ValueError):
    """The published-systems catalog is malformed or a lookup failed."""


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
    """One problem found in a scenario file: where, what is wrong, what would be valid."""

    file: str
    line: int | None
    key_path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.key_path}: {self.message}" if self.key_path else f"{where}: {self.message}"


class ScenarioError(AdcovError, ValueError):
    """A scenario file is invalid; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem] | Problem | str):
        if isinstance(problems, str):
            problems = [Problem(file="<scenario>", line=None, key_path="", message=problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))
