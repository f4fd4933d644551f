"""Dialogs; each offers an ``ask``-style classmethod that tests can replace."""
