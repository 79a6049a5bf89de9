"""Monitoring of duplicate pupil accounts (учащиеся-«дубли») in a regional school system.

The layers, one module each: ``ingest`` (raw exports to staging tables),
``validate`` (Great Expectations), ``normalise`` (municipalities, pair keys),
``snapshot`` (Parquet per monitoring date), ``delta`` (the appendices),
``render`` (справка and reminders) and ``mail``. ``pipeline`` runs them.
"""

__version__ = "0.1.0"
