"""Extra domains built from public sample databases (see each folder's build.py)."""
