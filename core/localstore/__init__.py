"""The client's local cache: SQLite through SQLAlchemy, migrated with Alembic.

Everything the client shows is read from here, and every action a person takes is
written here first, together with its outbox row (see ``outbox.py``).
"""
