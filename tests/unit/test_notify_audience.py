"""Who hears what: requesters, staff, and nobody else; by which channel, in which language."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.notify import audience
from services.notify.audience import ContactUnknown
from services.notify.config import NotifyConfig
from services.notify.domain import ChannelName, Kind
from services.notify.repository import ConcernFacts, Contact
from shared.district import DistrictConfig, load_district
from shared.events import (
    ConcernAssigned,
    ConcernContactShared,
    ConcernEscalated,
    ConcernMerged,
    ConcernMessageAdded,
    ConcernReplyShared,
    ConcernResolutionShared,
    ConcernStatusChanged,
    ConcernTriaged,
    EventData,
    MessageAuthor,
    MessageVisibility,
    Priority,
    RequesterContact,
    SlaTarget,
    SlaWarning,
)
from shared.settings import DEFAULT_DISTRICT_CONFIG

pytestmark = pytest.mark.unit

SUMMARY = "The driver now stops at Oak Street."  # what staff wrote when resolving


def resolution_of(concern_id: str, at: datetime) -> ConcernResolutionShared:
    """A resolution as intake shares it with notify (with the summary staff wrote)."""
    return ConcernResolutionShared(concern_id=concern_id, summary=SUMMARY, resolved_at=at)


NOW = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)
BOTH = frozenset({ChannelName.EMAIL, ChannelName.SMS})
CONFIG = NotifyConfig()


def district_with_staff_contacts() -> DistrictConfig:
    base = load_district(DEFAULT_DISTRICT_CONFIG).model_dump(mode="json")
    for member in base["staff"]:
        member["email"] = f"{member['id']}@district.example"
    base["staff"] = [
        {**m, "phone": "+15125550100"} if m["id"] == "tr-lead" else m for m in base["staff"]
    ]
    return DistrictConfig.model_validate(base)


DISTRICT = district_with_staff_contacts()


def facts(
    *,
    email: str | None = "ana@example.org",
    phone: str | None = None,
    language: str = "es",
    assignee: str | None = None,
    team: str | None = "transportation",
) -> ConcernFacts:
    return ConcernFacts(
        concern_id="c-1",
        tracking_number="CS-2026-000123",
        category="transportation",
        resolution_due_at=NOW + timedelta(hours=72),
        contact=Contact(name="Ana", email=email, phone=phone, language=language),
        team_id=team,
        assignee_id=assignee,
    )


def plan(
    data: EventData, known: ConcernFacts | None = None, survey_url: str | None = None
) -> list[audience.Planned]:
    return audience.plan(
        "x",
        data,
        facts=known if known is not None else facts(),
        district=DISTRICT,
        config=CONFIG,
        available=BOTH,
        survey_url=survey_url,
    )


def status(to: str) -> ConcernStatusChanged:
    return ConcernStatusChanged(
        concern_id="c-1", from_status="acknowledged", to_status=to, changed_at=NOW
    )


def asked(question: str = "Which stop does your child wait at?") -> ConcernReplyShared:
    """A request for information: its question, the one message the requester gets."""
    return ConcernReplyShared(
        concern_id="c-1", message_id="m-9", text=question, added_at=NOW, information_request=True
    )


def test_request_for_information_goes_to_the_requester_in_their_language() -> None:
    [planned] = plan(asked())

    assert planned.kind is Kind.INFORMATION_REQUEST
    assert planned.facts["question"] == "Which stop does your child wait at?"
    assert planned.recipient == "requester"
    assert (planned.channel, planned.address, planned.language) == (
        ChannelName.EMAIL,
        "ana@example.org",
        "es",
    )


@pytest.mark.parametrize(
    "to", ["acknowledged", "awaiting_requester", "resolved", "reopened", "closed"]
)
def test_status_changes_tell_nobody(to: str) -> None:
    # awaiting_requester: the request for information (its question) told the requester once
    assert plan(status(to)) == []


def test_requester_with_only_a_phone_gets_an_sms() -> None:
    [planned] = plan(asked(), facts(email=None, phone="+15125550123"))

    assert (planned.channel, planned.address) == (ChannelName.SMS, "+15125550123")


def test_anonymous_requester_is_planned_as_skipped() -> None:
    [planned] = plan(asked(), facts(email=None))

    assert planned.channel is None and planned.note


def test_requester_message_before_the_contact_arrived_asks_for_a_retry() -> None:
    with pytest.raises(ContactUnknown):
        audience.plan("x", asked(), facts=None, district=DISTRICT, config=CONFIG, available=BOTH)


def test_reply_carries_its_text_and_is_keyed_by_the_message() -> None:
    reply = ConcernReplyShared(
        concern_id="c-1",
        message_id="m-7",
        text="The bus is back.",
        author_name="Ana Kowalski",
        added_at=NOW,
    )

    [planned] = plan(reply)

    assert planned.kind is Kind.REPLY and planned.occurrence == "m-7"
    assert planned.facts["reply_text"] == "The bus is back."


def test_resolution_carries_the_survey_link() -> None:
    resolved = resolution_of("c-1", NOW)

    [planned] = plan(resolved, survey_url="https://x.example/survey/t")

    assert planned.kind is Kind.RESOLUTION
    assert planned.facts["survey_url"] == "https://x.example/survey/t"


def test_requester_is_told_of_a_merge_in_their_language() -> None:
    """Security #1: a merged concern went quiet; its requester now hears of it (and that
    they may reopen it)."""
    merged = ConcernMerged(
        concern_id="c-1", into_concern_id="c-0", merged_at=NOW, decided_by="p-lincoln"
    )

    [planned] = plan(merged, facts(language="es"))

    assert (planned.kind, planned.recipient, planned.language) == (Kind.MERGED, "requester", "es")
    assert planned.channel is ChannelName.EMAIL


def test_assignment_goes_to_the_assignee_by_email_only() -> None:
    assigned = ConcernAssigned(
        concern_id="c-1",
        team_id="transportation",
        assignee_id="tr-lead",
        assignee_name="Ana Kowalski",
        assigned_at=NOW,
    )

    [planned] = plan(assigned)

    assert (planned.kind, planned.recipient, planned.channel, planned.address) == (
        Kind.ASSIGNMENT,
        "tr-lead",
        ChannelName.EMAIL,
        "tr-lead@district.example",
    )
    assert planned.language == "en"


def warning() -> SlaWarning:
    return SlaWarning(
        concern_id="c-1",
        target=SlaTarget.RESOLUTION,
        due_at=NOW,
        warned_at=NOW,
        percent=75,
        policy="standard",
    )


def test_sla_warning_goes_to_the_assignee_when_there_is_one() -> None:
    [planned] = plan(warning(), facts(assignee="enr-lead"))

    assert planned.recipient == "enr-lead"


def test_sla_warning_goes_to_the_team_lead_when_nobody_is_assigned() -> None:
    [planned] = plan(warning(), facts(assignee=None, team="special-education"))

    assert planned.recipient == "sped-lead"


def test_escalation_goes_to_the_person_it_was_escalated_to() -> None:
    escalated = ConcernEscalated(
        concern_id="c-1",
        level=2,
        role="assistant_superintendent",
        escalated_to="as-north",
        escalated_to_name="Helen Okafor",
        escalated_at=NOW,
        school_id="lincoln-es",
    )

    [planned] = plan(escalated)

    assert (planned.kind, planned.recipient) == (Kind.ESCALATION, "as-north")
    values = audience.template_values(
        planned, language="en", concern_id="c-1", facts=facts(), district=DISTRICT, config=CONFIG
    )
    assert values["case_url"] == "https://bureau.district.example/staff/concerns/c-1"
    assert values["role"] == "assistant superintendent"
    assert values["school"] == "Lincoln Elementary"


def triaged(priority: Priority) -> ConcernTriaged:
    return ConcernTriaged(
        concern_id="c-1",
        category="transportation",
        team_id="transportation",
        team_name="Transportation Department",
        priority=priority,
        rule="category",
        triaged_at=NOW,
    )


def staff(planned: list[audience.Planned]) -> list[audience.Planned]:
    """The messages to staff of the district's directory (the safety desk aside)."""
    return [p for p in planned if not p.recipient.startswith("safety-desk:")]


def test_critical_concern_reaches_the_team_lead_by_email_and_urgent_sms() -> None:
    planned = plan(triaged(Priority.CRITICAL))

    assert [(p.recipient, p.channel) for p in staff(planned)] == [
        ("tr-lead", ChannelName.EMAIL),
        ("tr-lead", ChannelName.SMS),
    ]
    assert all(p.urgent for p in planned)


def test_critical_sms_can_be_turned_off() -> None:
    planned = audience.plan(
        "x",
        triaged(Priority.CRITICAL),
        facts=facts(),
        district=DISTRICT,
        config=NotifyConfig(critical_sms=False),
        available=BOTH,
    )

    assert [p.channel for p in staff(planned)] == [ChannelName.EMAIL]


@pytest.mark.parametrize("priority", [Priority.HIGH, Priority.NORMAL, Priority.LOW])
def test_non_critical_triage_tells_nobody(priority: Priority) -> None:
    assert plan(triaged(priority)) == []


def test_staff_without_an_email_is_planned_as_skipped() -> None:
    raw = load_district(DEFAULT_DISTRICT_CONFIG).model_dump(mode="json")
    for member in raw["staff"]:
        member.pop("email", None)
        member.pop("phone", None)
    bare = DistrictConfig.model_validate(raw)
    assigned = ConcernAssigned(
        concern_id="c-1",
        team_id="transportation",
        assignee_id="tr-lead",
        assignee_name="Ana Kowalski",
        assigned_at=NOW,
    )

    [planned] = audience.plan(
        "x", assigned, facts=facts(), district=bare, config=CONFIG, available=BOTH
    )

    assert planned.channel is None and planned.recipient == "tr-lead"


def test_public_message_added_event_tells_nobody_by_itself() -> None:
    added = ConcernMessageAdded(
        concern_id="c-1",
        message_id="m-1",
        author=MessageAuthor.STAFF,
        visibility=MessageVisibility.PUBLIC,
        added_at=NOW,
    )

    assert plan(added) == []


def test_events_that_tell_nobody_are_known_before_reading_the_concern() -> None:
    # notify then skips reading what it knows of the concern (a store round trip)
    silent = [
        status("acknowledged"),
        status("awaiting_requester"),
        triaged(Priority.HIGH),
        ConcernMessageAdded(
            concern_id="c-1",
            message_id="m-1",
            author=MessageAuthor.STAFF,
            visibility=MessageVisibility.PUBLIC,
            added_at=NOW,
        ),
    ]
    telling = [asked(), triaged(Priority.CRITICAL), warning(), resolution_of("c-1", NOW)]

    for data in silent:
        assert not audience.may_notify(data)
        assert plan(data) == []
    for data in telling:
        assert audience.may_notify(data)
        assert plan(data, facts(assignee="tr-lead")) != []


def test_values_are_written_in_the_template_language() -> None:
    [planned] = plan(warning(), facts(assignee="enr-lead"))

    spanish = audience.template_values(
        planned, language="es", concern_id="c-1", facts=facts(), district=DISTRICT, config=CONFIG
    )

    assert spanish["target"] == "resolución"
    assert spanish["category"] == "Transporte"
    assert spanish["due"].startswith("lunes 2 de marzo de 2026")


def test_acknowledgement_carries_the_personal_status_link_with_the_token() -> None:
    config = NotifyConfig(status_url="{public_base_url}/status/{tracking}").at(
        "https://families.district.example/"
    )
    shared = ConcernContactShared(
        concern_id="c-1",
        tracking_number="CS-2026-000123",
        category="transportation",
        submitted_at=NOW,
        resolution_due_at=NOW + timedelta(hours=72),
        requester=RequesterContact(email="ana@example.org"),
        access_token="t0k-en_1",
        pin="482913",
    )

    for channels in (frozenset({ChannelName.EMAIL}), frozenset({ChannelName.SMS})):
        [planned] = audience.plan(
            "concern.contact_shared",
            shared,
            facts=facts(phone="+15125550199"),
            district=DISTRICT,
            config=config,
            available=channels,
        )
        values = audience.template_values(
            planned,
            language="en",
            concern_id="c-1",
            facts=facts(),
            district=DISTRICT,
            config=config,
        )
        # the page opens in the language of the message, whatever the browser's
        assert values["status_url"] == (
            "https://families.district.example/status/CS-2026-000123?token=t0k-en_1&lang=en"
        )
        assert values["pin"] == "482913"  # to check the concern by phone or on the website
    # later messages link the page without the token (it is not kept by notify)
    [info] = plan(asked())
    later = audience.template_values(
        info, language="es", concern_id="c-1", facts=facts(), district=DISTRICT, config=config
    )
    assert later["status_url"] == (
        "https://families.district.example/status/CS-2026-000123?lang=es"
    )
    assert "pin" not in later


def test_a_phone_only_requester_without_sms_is_skipped_with_the_true_reason() -> None:
    [planned] = audience.plan(
        "x",
        asked(),
        facts=facts(email=None, phone="+15125550199"),
        district=DISTRICT,
        config=CONFIG,
        available=frozenset({ChannelName.EMAIL}),
    )

    assert planned.channel is None
    assert planned.note == "requester left only a phone number and this bureau sends no SMS"


def knife_at_recess(at: datetime) -> ConcernTriaged:
    """Filed under `other`, made critical by its safety words."""
    return ConcernTriaged(
        concern_id="c-1",
        category="other",
        school_id="lincoln-es",
        team_id="service-desk",
        team_name="Service Desk",
        priority=Priority.CRITICAL,
        rule="category:other+safety-words",
        triaged_at=at,
    )


def test_a_critical_concern_reaches_the_principal_and_the_safety_desk_on_duty_at_once() -> None:
    tuesday_10am_chicago = datetime(2026, 3, 3, 16, 0, tzinfo=UTC)
    planned = audience.plan(
        "x",
        knife_at_recess(tuesday_10am_chicago),
        facts=facts(),
        district=DISTRICT,
        config=CONFIG,
        available=BOTH,
    )

    reached = {(p.recipient, p.channel, p.address) for p in planned}
    assert ("p-lincoln", ChannelName.EMAIL, "p-lincoln@district.example") in reached
    assert ("sd-lead", ChannelName.EMAIL, "sd-lead@district.example") in reached
    # the district's `safety_desk:` roster (tests/unit/test_safety_desk.py: every moment)
    assert {(r, c, a) for r, c, a in reached if r.startswith("safety-desk:")} == {
        ("safety-desk:Safety desk", ChannelName.EMAIL, "safety.desk@district.example"),
        ("safety-desk:Safety desk", ChannelName.SMS, "+15555550190"),
    }
    assert all(p.urgent for p in planned)


def test_the_night_desk_answers_after_hours_and_past_midnight() -> None:
    thursday_1am_chicago = datetime(2026, 3, 5, 7, 0, tzinfo=UTC)  # Wednesday's night shift
    planned = audience.plan(
        "x",
        knife_at_recess(thursday_1am_chicago),
        facts=facts(),
        district=DISTRICT,
        config=CONFIG,
        available=BOTH,
    )

    desks = {p.recipient for p in planned if p.recipient.startswith("safety-desk:")}
    assert desks == {"safety-desk:Security desk (nights)"}
