"""Importing this module registers every mutation handler and extra pull loader."""

from server.services import notes  # noqa: F401
