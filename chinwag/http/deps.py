"""Where blueprints get the runtime and settings: from the app that serves the request.

`create_app` stores them (and the integrations) in `app.config`; reading them through these
helpers (instead of module globals) lets several apps (tests, embedding programs) live in one
process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from quart import current_app

if TYPE_CHECKING:
    from chinwag.config import Settings
    from chinwag.http.metrics import Metrics
    from chinwag.integrations.manager import IntegrationManager
    from chinwag.service import ChinwagService

SERVICE_KEY = "CHINWAG_SERVICE"
SETTINGS_KEY = "CHINWAG_SETTINGS"
METRICS_KEY = "CHINWAG_METRICS"
INTEGRATIONS_KEY = "CHINWAG_INTEGRATIONS"


def service() -> ChinwagService:
    """The runtime facade of the app handling the current request."""
    return current_app.config[SERVICE_KEY]


def integrations() -> IntegrationManager:
    """The Telegram/Z-API integrations of the runtime (handed to `create_app` by the wiring)."""
    return current_app.config[INTEGRATIONS_KEY]


def settings() -> Settings:
    """The settings of the app handling the current request."""
    return current_app.config[SETTINGS_KEY]


def metrics() -> Metrics:
    """The metrics registry of the app handling the current request."""
    return current_app.config[METRICS_KEY]
