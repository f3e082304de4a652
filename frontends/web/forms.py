"""The concern form: what a family typed, checked the way intake will check it, with
messages a parent understands (translated where they are shown). Pure: no I/O."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from frontends.common.intake import FieldError
from frontends.web.i18n import N_
from services.intake.attachment_schemas import AttachmentLimits, refusal, safe_filename

CONTACTS = ("email", "phone", "sms", "none")
RELATIONSHIPS = ("parent_guardian", "student", "staff", "community", "alumni")
GRADES = ("PK", "K", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12")
DESCRIPTION_MIN, DESCRIPTION_MAX = 10, 5000
MESSAGE_MAX = 5000
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
STUDENT_ID = re.compile(r"^[A-Za-z0-9-]{1,32}$")
# The order fields appear on the page (the error summary follows it).
FIELDS = (
    "category",
    "school_id",
    "description",
    "files",
    "contact",
    "name",
    "email",
    "phone",
    "relationship",
    "language",
    "student_name",
    "student_id",
    "grade",
    "special_education",
)


# A message with its values (`%(name)s`), translated where it is shown: (msgid, values).
Said = tuple[str, dict[str, str]]


@dataclass
class ConcernForm:
    """The answers, as typed (strings), and what is wrong with them."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    # each file refused, said in the summary and under the file field (a message with names)
    file_errors: list[Said] = field(default_factory=list)

    @property
    def ordered_errors(self) -> list[tuple[str, str | Said]]:
        ordered: list[tuple[str, str | Said]] = []
        for name in FIELDS:
            if name == "files":
                ordered += [("files", said) for said in self.file_errors]
            elif name in self.errors:
                ordered.append((name, self.errors[name]))
        return ordered

    def get(self, name: str) -> str:
        return self.values.get(name, "")

    @property
    def has_student(self) -> bool:
        return (
            any(self.get(n) for n in ("student_name", "student_id", "grade"))
            or self.get("special_education") == "yes"
        )


def normalize_phone(raw: str) -> str | None:
    """A US number as typed (555-123-4567, (555) 123 4567, +1 ...) in E.164, or None."""
    digits = re.sub(r"[\s().-]", "", raw)
    if digits.startswith("+"):
        return digits if re.fullmatch(r"\+[1-9]\d{6,14}", digits) else None
    if re.fullmatch(r"1?\d{10}", digits):
        return "+1" + digits[-10:]
    return None


def read_form(
    data: Mapping[str, Any], *, categories: set[str], schools: set[str], languages: tuple[str, ...]
) -> ConcernForm:
    """Check the answers; `errors` is empty when intake will accept them."""
    values = {name: str(data.get(name, "") or "").strip() for name in FIELDS if name != "files"}
    values["description"] = str(data.get("description", "") or "").strip()
    errors: dict[str, str] = {}
    if values["category"] not in categories:
        errors["category"] = N_("Choose what your concern is about.")
    if values["school_id"] and values["school_id"] not in schools:
        errors["school_id"] = N_("Choose a school from the list.")
    description = values["description"]
    if len(description) < DESCRIPTION_MIN:
        errors["description"] = N_("Describe your concern in at least 10 characters.")
    elif len(description) > DESCRIPTION_MAX:
        errors["description"] = N_("Your description must be 5,000 characters or fewer.")
    contact = values["contact"]
    if contact not in CONTACTS:
        errors["contact"] = N_("Choose how we should contact you, or choose not to be contacted.")
    if len(values["name"]) > 200:
        errors["name"] = N_("Your name must be 200 characters or fewer.")
    if values["email"] and not EMAIL.match(values["email"]):
        errors["email"] = N_("Enter an email address like name@example.com.")
    elif contact == "email" and not values["email"]:
        errors["email"] = N_("Enter your email address, or choose another way to contact you.")
    if values["phone"] and normalize_phone(values["phone"]) is None:
        errors["phone"] = N_("Enter a phone number like 555-123-4567.")
    elif contact in ("phone", "sms") and not values["phone"]:
        errors["phone"] = N_("Enter your phone number, or choose another way to contact you.")
    if values["relationship"] and values["relationship"] not in RELATIONSHIPS:
        errors["relationship"] = N_("Choose who you are from the list.")
    if values["language"] not in languages:
        errors["language"] = N_("Choose the language for our replies.")
    if len(values["student_name"]) > 200:
        errors["student_name"] = N_("The student's name must be 200 characters or fewer.")
    if values["student_id"] and not STUDENT_ID.match(values["student_id"]):
        errors["student_id"] = N_("A student ID has only letters, digits and dashes.")
    if values["grade"] and values["grade"] not in GRADES:
        errors["grade"] = N_("Choose a grade from the list.")
    values["special_education"] = "yes" if values["special_education"] == "yes" else ""
    return ConcernForm(values=values, errors=errors)


def concern_body(form: ConcernForm) -> dict[str, Any]:
    """The `ConcernCreate` intake expects, from answers without errors."""
    v = form.values
    contact = v["contact"]
    anonymous = contact == "none"
    requester: dict[str, Any] = {"language": v["language"]}
    if not anonymous:
        if v["name"]:
            requester["name"] = v["name"]
        if v["email"]:
            requester["email"] = v["email"]
        if v["phone"]:
            requester["phone"] = normalize_phone(v["phone"])
        requester["preferred_contact"] = contact
    if v["relationship"]:
        requester["relationship"] = v["relationship"]
    body: dict[str, Any] = {
        "channel": "web",
        "category": v["category"],
        "description": v["description"],
        "requester": requester,
    }
    if v["school_id"]:
        body["school_id"] = v["school_id"]
    if form.has_student:
        student: dict[str, Any] = {"special_education": v["special_education"] == "yes"}
        for source, target in (
            ("student_name", "name"),
            ("student_id", "student_id"),
            ("grade", "grade"),
        ):
            if v[source]:
                student[target] = v[source]
        body["student"] = student
    return body


def error_field_of(intake_field: str) -> str:
    """The form field of a field intake refused (`requester.email` -> `email`)."""
    name = intake_field.rsplit(".", 1)[-1]
    return (
        {"student_id": "student_id", "school_id": "school_id"}.get(name, name)
        if name in FIELDS
        else "description"
    )


IDEMPOTENCY_FIELD = "header.Idempotency-Key"


def refused_answers(refused: Iterable[FieldError]) -> dict[str, str]:
    """What the form says when intake refuses answers this form accepted. A key already used
    with other answers means this form was sent before (a retry after the answers changed):
    the family is told so, and a new send makes a new concern."""
    fields = [e.field for e in refused]
    if IDEMPOTENCY_FIELD in fields:
        return {
            "description": N_(
                "You already sent a concern from this form, with other answers. If you want to "
                "send these answers as a new concern, continue and send them again."
            )
        }
    return {error_field_of(f): N_("Check this answer.") for f in fields} or {
        "description": N_("Check this answer.")
    }


def read_message(data: Mapping[str, Any]) -> tuple[str, str | None]:
    """A family's message; the error, if any."""
    text = str(data.get("message", "") or "").strip()
    if not text:
        return text, N_("Write your message.")
    if len(text) > MESSAGE_MAX:
        return text, N_("Your message must be 5,000 characters or fewer.")
    return text, None


def read_secret(typed: str) -> str:
    """What the family typed to open its concern: a PIN keyed in groups ("123 456",
    "123-456") is taken as its six digits; the long access code exactly as typed."""
    digits = typed.strip().replace(" ", "").replace("-", "")
    return digits if len(digits) == 6 and digits.isascii() and digits.isdigit() else typed.strip()


# --- files ------------------------------------------------------------------------------------

FILE_TYPE_REFUSED = N_(
    "“%(name)s” is a type of file we cannot take. Choose a file of a type listed under “Add files”."
)
FILE_TOO_LARGE = N_("“%(name)s” is larger than %(size)s. Choose a smaller file.")
FILE_EMPTY = N_("“%(name)s” is empty. Choose the file again.")
FILES_TOO_MANY = N_(
    "You can add up to %(count)s files. “%(name)s” was not added: remove a file first."
)
FILES_NOT_KEPT = N_(
    "We cannot keep “%(name)s” just now. Send your concern without it, then add it in a "
    "message on your concern's status page."
)
# intake's refusal, by its status, in the family's words
REFUSED = {415: FILE_TYPE_REFUSED, 413: FILE_TOO_LARGE, 422: FILE_EMPTY, 409: FILES_TOO_MANY}


@dataclass(frozen=True)
class ChosenFile:
    """A file as the family chose it: its safe name, the type intake will be told, its bytes."""

    filename: str
    content_type: str
    data: bytes


def file_type(filename: str, declared: str, data: bytes, limits: AttachmentLimits) -> str:
    """The type to send a file as: what the browser declared, when intake takes it; else the
    type its name ends with (a phone's HEIC photo often comes as application/octet-stream).
    Intake checks the file's first bytes against it."""
    declared = declared.split(";")[0].strip().lower()
    accepted = {t.content_type for t in limits.types}
    if declared in accepted:
        return declared
    ending = "." + filename.rpartition(".")[2].lower() if "." in filename else ""
    for kind in limits.types:
        if ending and ending in kind.extensions:
            return kind.content_type
    return declared or "application/octet-stream"


def check_file(
    filename: str, declared: str, data: bytes, limits: AttachmentLimits, *, size_text: str
) -> tuple[ChosenFile | None, Said | None]:
    """A chosen file, checked as intake will check it (intake's own `refusal`): the file to
    keep, or why it is refused (a message and its values)."""
    name = safe_filename(filename)
    kind = file_type(name, declared, data, limits)
    problem = refusal(kind, data, settings=limits.settings())
    if problem is None:
        return ChosenFile(name, kind, data), None
    return None, refused_file(name, problem.status, size_text=size_text)


def refused_file(name: str, status: int, *, size_text: str, count: int = 0) -> Said:
    """Why intake refused (or would refuse) a file, by its status, in the family's words."""
    message = REFUSED.get(status, FILE_TYPE_REFUSED)
    return message, {"name": name, "size": size_text, "count": str(count)}
