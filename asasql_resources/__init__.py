"""Configurable resources of asasql: storage, models, sandbox, annotator."""
