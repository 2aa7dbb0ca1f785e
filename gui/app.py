"""Entry point of ``adcov-gui``.

The GUI itself is tracked in its own issue; until it lands this entry point says so plainly
instead of pretending to work.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print(
        "adcov-gui: the desktop GUI is not built yet (see the project's GUI issue). "
        "Use the `adcov` command line meanwhile.",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
