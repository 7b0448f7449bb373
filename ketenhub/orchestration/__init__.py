"""Airflow: DAGs generated from the adapter definitions."""
