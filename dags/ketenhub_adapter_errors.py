"""Partner adapters that do not load, shown as this file's import error in Airflow's UI: the
other partners' DAGs (ketenhub_dags.py) go on, the broken partner's are left out until its
adapter is mended. A destination's adapter that does not load fails ketenhub_dags.py whole, as
routing without that destination would store events that never reach it."""
from ketenhub.orchestration.dags import broken_adapters

broken_adapters()
