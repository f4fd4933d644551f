"""The PySide6 user interface: windows, panes, item models and the Qt adapters."""
