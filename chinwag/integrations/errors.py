"""Errors of the chat-app APIs, split by what the caller should do about them."""

from __future__ import annotations

from chinwag.errors import UpstreamError


class IntegrationRejected(UpstreamError):
    """The platform refused the request for good (bad token, unknown chat, blocked bot).

    Retrying cannot help; when it happens on `PUT …/integrations` the configuration is wrong.
    """

    status = 400
    code = "integration_rejected"


class IntegrationUnavailable(UpstreamError):
    """The platform could not be reached or kept failing after retries."""

    status = 502
    code = "integration_unavailable"
