from __future__ import annotations

from pydantic import Field, model_validator

from shared.settings import ServiceSettings

DEVELOPMENT_SURVEY_KEY = "development-only-survey-key"


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

    # SMS through a Twilio-shaped HTTP API; unset means no SMS (requesters get email only).
    sms_api_url: str | None = Field(default=None, description="e.g. https://api.twilio.com")
    sms_account_sid: str | None = None
    sms_auth_token: str | None = None
    sms_from: str | None = Field(default=None, description="sender number in E.164")

    delivery_attempts: int = Field(default=5, ge=1)
    delivery_lease_s: float = Field(default=60.0, gt=0)
    # Wait after the n-th failed attempt (the last value repeats).
    delivery_backoff_s: list[float] = Field(default=[5.0, 30.0, 120.0, 600.0], min_length=1)
    dispatch_tick_s: float = Field(
        default=1.0, gt=0, description="how often due deliveries are looked for"
    )
    dispatch_batch: int = Field(default=16, ge=1, description="deliveries sent concurrently")

    public_base_url: str = Field(
        default="http://127.0.0.1:8000",
        pattern=r"^https?://",
        description="the web frontend families open: `{public_base_url}` in the district "
        "file's links (the status page of an acknowledgement)",
    )

    webhook_allowed_targets: list[str] = Field(
        default=[],
        description="internal hosts or networks (CIDR) webhooks may reach; every "
        "other loopback, private or link-local target is refused",
    )
    survey_token_key: str = Field(
        default=DEVELOPMENT_SURVEY_KEY,
        min_length=16,
        description="keys the survey links and the published ids of staff deliveries; "
        "keep it secret",
    )

    @model_validator(mode="after")
    def _consistent(self) -> NotifySettings:
        if self.smtp_tls and self.smtp_starttls:
            raise ValueError("choose SMTP_TLS (implicit TLS) or SMTP_STARTTLS, not both")
        if (self.smtp_username is None) != (self.smtp_password is None):
            raise ValueError("SMTP_USERNAME and SMTP_PASSWORD go together")
        sms = (self.sms_api_url, self.sms_account_sid, self.sms_auth_token, self.sms_from)
        if any(sms) and not all(sms):
            raise ValueError(
                "SMS_API_URL, SMS_ACCOUNT_SID, SMS_AUTH_TOKEN and SMS_FROM go together"
            )
        # A lease shorter than one provider exchange would let a second replica send while
        # the first is still talking to the provider: the message would go out twice.
        if self.delivery_lease_s <= self.io_timeout_s:
            raise ValueError("DELIVERY_LEASE_S must be longer than IO_TIMEOUT_S (the SMTP timeout)")
        if any(d <= 0 for d in self.delivery_backoff_s):
            raise ValueError("DELIVERY_BACKOFF_S must hold positive seconds")
        if self.environment != "development" and self.survey_token_key == DEVELOPMENT_SURVEY_KEY:
            raise ValueError("SURVEY_TOKEN_KEY must be set outside development")
        return self

    @property
    def sms_enabled(self) -> bool:
        return self.sms_api_url is not None
