"""Adds the hub's "Deliveries" page to the Airflow UI (nav), served by ketenhub.orchestration.ui."""
from airflow.plugins_manager import AirflowPlugin

from ketenhub.orchestration.ui import app


class KetenhubPlugin(AirflowPlugin):
    name = "ketenhub"
    fastapi_apps = [{"app": app, "url_prefix": "/ketenhub", "name": "Ketenhub deliveries"}]
    external_views = [{"name": "Deliveries", "href": "ketenhub/deliveries", "destination": "nav",
                       "url_route": "ketenhub-deliveries", "icon": None}]
