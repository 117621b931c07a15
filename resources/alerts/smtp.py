"""The SMTP server alerts leave through, as a Dagster resource (password from the environment)."""

from __future__ import annotations

import os
import smtplib
import ssl
from email.message import EmailMessage
from typing import Literal

import dagster as dg
from pydantic import Field


class DeliveryError(Exception):
    """A notification was not delivered; `code` is our own short code (never a server's text)."""

    def __init__(self, code: str) -> None:
        super().__init__(f"notification not delivered ({code})")
        self.code = code


class SmtpResource(dg.ConfigurableResource):
    """Where alert emails are sent from. The password is an EnvVar; it never shows in config."""

    host: str = Field(description="SMTP server host name.")
    port: int = Field(default=587, description="SMTP port (587 STARTTLS, 465 SSL, 25 none).")
    security: Literal["none", "starttls", "ssl"] = Field(
        default="starttls", description="Transport security: none, starttls or ssl."
    )
    username: str | None = Field(default=None, description="Login user; none: no login.")
    password: str | None = Field(default=None, description="Login password (use an EnvVar).")
    from_address: str = Field(description="The From address of every alert.")
    timeout_seconds: float = Field(default=30.0, description="Per connection and command.")

    def send(self, message: EmailMessage) -> None:
        """Deliver `message` to its To and Cc; raises DeliveryError with our own code."""
        try:
            with self._connect() as smtp:
                if self.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self.password or "")
                refused = smtp.send_message(message)
        except smtplib.SMTPAuthenticationError:
            raise DeliveryError("smtp_auth_failed") from None
        except smtplib.SMTPRecipientsRefused:
            raise DeliveryError("smtp_recipients_refused") from None
        except (smtplib.SMTPException, ssl.SSLError):
            raise DeliveryError("smtp_refused") from None
        except TimeoutError:
            raise DeliveryError("smtp_timeout") from None
        except OSError:
            # Connection refused, host unknown, network down: the server was not reached.
            raise DeliveryError("smtp_unreachable") from None
        if refused:
            # Some recipients were accepted: delivered, but not to everyone it should reach.
            raise DeliveryError("smtp_recipients_refused")

    def _connect(self) -> smtplib.SMTP:
        if self.security == "ssl":
            return smtplib.SMTP_SSL(
                self.host,
                self.port,
                timeout=self.timeout_seconds,
                context=ssl.create_default_context(),
            )
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout_seconds)


SMTP_HOST_ENV = "TOUCHPOINT_SMTP_HOST"
SMTP_PORT_ENV = "TOUCHPOINT_SMTP_PORT"
SMTP_SECURITY_ENV = "TOUCHPOINT_SMTP_SECURITY"
SMTP_USERNAME_ENV = "TOUCHPOINT_SMTP_USERNAME"
SMTP_PASSWORD_ENV = "TOUCHPOINT_SMTP_PASSWORD"
SMTP_FROM_ENV = "TOUCHPOINT_SMTP_FROM"


def smtp_from_env() -> SmtpResource:
    """The deployment's SMTP resource: the password (and the login) stay EnvVars; unset
    optional variables mean no login. Host and From are required when an email goes out."""
    login = bool(os.environ.get(SMTP_USERNAME_ENV))
    return SmtpResource(
        host=dg.EnvVar(SMTP_HOST_ENV),
        port=int(os.environ.get(SMTP_PORT_ENV) or 587),
        security=os.environ.get(SMTP_SECURITY_ENV) or "starttls",
        username=dg.EnvVar(SMTP_USERNAME_ENV) if login else None,
        password=dg.EnvVar(SMTP_PASSWORD_ENV) if login else None,
        from_address=dg.EnvVar(SMTP_FROM_ENV),
    )
