"""Persistence on SQLAlchemy 2 Core; schema managed by Alembic."""
