"""The domain of Bangban Desk in plain Python, shared by the client and the server.

Nothing here imports Qt, requests or the server: the import-linter contracts in
``pyproject.toml`` fail the test suite when that rule is broken.
"""

PROTOCOL_VERSION = 1
"""The sync protocol's major version; a client refuses a server with another one."""

APP_VERSION = "0.1.0"
