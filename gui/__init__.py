"""adcov desktop GUI (PySide6 + pyqtgraph): a thin view over the simulator API."""
