"""Airflow glue of the dupmon pipeline: the DAG factory and the task runtime.

The domain package ``dupmon`` imports no Airflow; everything that does lives here.
"""
