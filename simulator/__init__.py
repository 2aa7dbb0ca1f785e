"""adcov simulator core: catalog, scenarios, terrain, line of sight, coverage.

Nothing below this package imports Qt, pyqtgraph or the GUI (enforced by import-linter
and ``tests/test_architecture.py``).
"""

__version__ = "0.1.0"
