"""Which files the wheel carries (the rest of the metadata is in pyproject.toml).

The code packages are found under ``core``, ``sync``, ``ui`` and ``server``; every data
file next to them ships too (the calendar, the migration scripts of both databases).
The checkout's ``resources/`` folder (demo data, join-page templates, sounds, sample
walkthroughs) ships as the package ``bangban_resources``; ``core.resources`` finds it
in a checkout and in an installed wheel alike.
"""

from setuptools import find_packages, setup

CODE = ["core", "core.*", "sync", "sync.*", "ui", "ui.*", "server", "server.*"]

setup(
    packages=[*find_packages(include=CODE), "bangban_resources"],
    package_dir={"bangban_resources": "resources"},
    package_data={
        "": ["*.json", "*.mako", "migrations/versions/*.py"],
        "bangban_resources": ["**/*"],
    },
    py_modules=["main"],
)
