"""The operators' webhook: a JSON POST, optionally signed, as a Dagster resource.

The URL often carries a secret (Slack, Teams), so it comes from the environment and is never
logged or recorded: notifications name the webhook by `name` instead.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from typing import Any

import dagster as dg
import requests
from pydantic import Field

from resources.alerts.smtp import DeliveryError


class WebhookResource(dg.ConfigurableResource):
    """Where operators' notifications go; an empty URL means no webhook is configured."""

    url: str = Field(
        default="", description="The webhook URL (use an EnvVar: it may hold a secret)."
    )
    secret: str | None = Field(
        default=None,
        description="When set, the body's HMAC-SHA256 goes in X-Touchpoint-Signature.",
    )
    name: str = Field(default="operators", description="How notifications name this webhook.")
    timeout_seconds: float = Field(default=10.0)

    @property
    def configured(self) -> bool:
        return bool(self.url.strip())

    def post(self, payload: dict[str, Any]) -> None:
        """POST `payload` as JSON; raises DeliveryError with our own code on any failure."""
        if not self.configured:
            raise DeliveryError("webhook_not_configured")
        body = json.dumps(payload, sort_keys=True).encode()
        headers = {"Content-Type": "application/json"}
        if self.secret:
            digest = hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
            headers["X-Touchpoint-Signature"] = f"sha256={digest}"
        session = requests.Session()
        # Operators' endpoints are reached directly; a machine-wide proxy is not ours to use.
        session.trust_env = False
        try:
            answer = session.post(
                self.url, data=body, headers=headers, timeout=self.timeout_seconds
            )
        except requests.Timeout:
            raise DeliveryError("webhook_timeout") from None
        except requests.RequestException:
            raise DeliveryError("webhook_unreachable") from None
        finally:
            session.close()
        if not 200 <= answer.status_code < 300:
            raise DeliveryError(f"webhook_http_{answer.status_code}")


WEBHOOK_URL_ENV = "TOUCHPOINT_WEBHOOK_URL"
WEBHOOK_SECRET_ENV = "TOUCHPOINT_WEBHOOK_SECRET"


def webhook_from_env() -> WebhookResource:
    """The operators' webhook, URL and secret as EnvVars; unset URL: no webhook."""
    return WebhookResource(
        url=dg.EnvVar(WEBHOOK_URL_ENV) if os.environ.get(WEBHOOK_URL_ENV) else "",
        secret=dg.EnvVar(WEBHOOK_SECRET_ENV) if os.environ.get(WEBHOOK_SECRET_ENV) else None,
    )
