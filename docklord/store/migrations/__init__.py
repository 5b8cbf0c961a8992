"""The Alembic migrations of the store (``env.py`` and ``versions/``), shipped in the package."""
