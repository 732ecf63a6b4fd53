"""The Azure Functions app: built from the blueprints in `shared.triggers`, nothing else.

Importing this module must do no I/O and read no setting: an import error hides every function of the app.
"""

import azure.functions as func

from shared.triggers import alerts, api, dashboard, health, operations, pipeline

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(health.bp)
app.register_functions(pipeline.bp)
app.register_functions(alerts.bp)
app.register_functions(operations.bp)
app.register_functions(dashboard.bp)
app.register_functions(api.bp)
