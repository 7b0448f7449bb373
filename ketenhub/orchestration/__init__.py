"""Airflow: DAGs generated from the adapter definitions, and the hooks that read Connections."""
