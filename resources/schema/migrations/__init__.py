"""Alembic's script directory (env.py, versions/); a package so the wheel ships it."""
