"""Alembic environment for the client cache (driven from core.localstore.db)."""

from __future__ import annotations

from alembic import context

from core.localstore.models import Base

config = context.config
target_metadata = Base.metadata

# FTS5 tables of the search index (and their shadow tables) are made by hand in the
# migrations; autogenerate must not offer to drop them.
_HAND_MADE = ("knowledge_title_fts", "knowledge_body_fts")


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, _other: object
) -> bool:
    return not (type_ == "table" and name is not None and name.startswith(_HAND_MADE))


def run() -> None:
    engine = config.attributes["engine"]
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=True,
            include_object=include_object,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run()
