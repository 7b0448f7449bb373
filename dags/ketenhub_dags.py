"""Airflow DAGs of the hub: one per partner adapter and per destination in adapters/.

No DAG code is written per partner: add an adapter definition and its DAG appears.
"""
from ketenhub.orchestration.dags import build

globals().update(build())
