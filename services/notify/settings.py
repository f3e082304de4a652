from __future__ import annotations

from pydantic import Field, model_validator

from shared.settings import ServiceSettings


class NotifySettings(ServiceSettings):
    service_name: str = "notify"
    port: int = 8004

    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=1025, gt=0, lt=65536)
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = Field(default=False, description="upgrade a plain connection (port 587)")
    smtp_tls: bool = Field(default=False, description="TLS from the first byte (port 465)")
    mail_from: str = "Customer Service Bureau <bureau@district.example>"

    # One attempt per delivery of the event: the first plus one per retry queue.
    delivery_attempts: int = Field(default=4, ge=1)
    delivery_lease_s: float = Field(default=60.0, gt=0)

    @model_validator(mode="after")
    def _consistent(self) -> NotifySettings:
        if self.smtp_tls and self.smtp_starttls:
            raise ValueError("choose SMTP_TLS (implicit TLS) or SMTP_STARTTLS, not both")
        if (self.smtp_username is None) != (self.smtp_password is None):
            raise ValueError("SMTP_USERNAME and SMTP_PASSWORD go together")
        # A lease shorter than one SMTP exchange would let a second replica send while the
        # first is still talking to the relay: the acknowledgement would go out twice.
        if self.delivery_lease_s <= self.io_timeout_s:
            raise ValueError("DELIVERY_LEASE_S must be longer than IO_TIMEOUT_S (the SMTP timeout)")
        # Attempts are made when the consumer delivers the event; with more attempts than
        # deliveries the event would park in the dead-letter queue before the delivery is
        # marked failed, and `notification.failed` would never be published.
        if self.delivery_attempts > len(self.retry_delays_ms) + 1:
            raise ValueError("DELIVERY_ATTEMPTS must not exceed the number of RETRY_DELAYS_MS + 1")
        return self
