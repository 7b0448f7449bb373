"""Adds the hub's "Deliveries" page to the Airflow UI (nav), served by ketenhub.orchestration.ui."""
from airflow.plugins_manager import AirflowPlugin

from ketenhub.orchestration import chain
from ketenhub.orchestration.ui import app

app.include_router(chain.router)  # "Find an event" and "Chain health"


class KetenhubPlugin(AirflowPlugin):
    name = "ketenhub"
    fastapi_apps = [{"app": app, "url_prefix": "/ketenhub", "name": "Ketenhub deliveries"}]
    external_views = [{"name": "Deliveries", "href": "ketenhub/deliveries", "destination": "nav",
                       "url_route": "ketenhub-deliveries", "icon": None},
                      {"name": "Find an event", "href": "ketenhub/search", "destination": "nav",
                       "url_route": "ketenhub-search", "icon": None},
                      {"name": "Chain health", "href": "ketenhub/health", "destination": "nav",
                       "url_route": "ketenhub-health", "icon": None}]
