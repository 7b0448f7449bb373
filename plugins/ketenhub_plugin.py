"""Adds the hub's pages to the Airflow UI: one FastAPI app under /ketenhub (ketenhub.orchestration.ui)
and an entry per page in Airflow's navigation, under "Ketenhub".

Another page: a module with a FastAPI ``APIRouter`` whose pages call ``ui_layout.page``, a
``Tab`` appended to ``ui_layout.TABS`` in that module, and its router included below."""
from airflow.plugins_manager import AirflowPlugin

from ketenhub.orchestration import case_conflicts, chain, ui_layout
from ketenhub.orchestration.ui import app

# app.include_router(<module>.router) for each further page module, here.
app.include_router(chain.router)  # Find an event, Chain health
app.include_router(case_conflicts.router)  # Case conflicts


class KetenhubPlugin(AirflowPlugin):
    name = "ketenhub"
    fastapi_apps = [{"app": app, "url_prefix": "/ketenhub", "name": "Ketenhub"}]
    external_views = [{"name": t.label, "href": f"ketenhub/{t.href}", "destination": "nav", "category": "Ketenhub",
                       "url_route": f"ketenhub-{t.key}", "icon": None} for t in ui_layout.TABS]
