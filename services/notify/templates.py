"""Message templates: a small safe renderer, the variables of each kind, validation, seeds.

A template is text with `$name` or `${name}` placeholders (Python's `string.Template`: no
attribute access, no expressions, no code) and optional parts in `[[ ... ]]` that appear only
when every placeholder inside them has a value: `Hello[[ $name]],` greets an anonymous
requester with `Hello,`. `$$` writes a dollar sign.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from services.notify import sms
from services.notify.domain import DEFAULT_LANGUAGE, ChannelName, Kind
from shared.district import read_yaml

SEED_DIRECTORY = Path(__file__).resolve().parent / "templates"
_OPTIONAL = re.compile(r"\[\[(.*?)\]\]", re.DOTALL)
MAX_SUBJECT_CHARS = 200

# `team`: the owning team in the message's language (empty until triage named it; a
# sensitive team is never named to a requester).
COMMON_VARIABLES = frozenset(
    {"district", "name", "tracking", "concern_id", "category", "team", "status_url", "case_url"}
)
# What each kind may say, beyond the common variables. Nothing here can carry student data.
KIND_VARIABLES: Mapping[Kind, frozenset[str]] = {
    Kind.ACKNOWLEDGEMENT: frozenset({"due", "pin"}),
    Kind.INFORMATION_REQUEST: frozenset({"question"}),
    Kind.REPLY: frozenset({"reply_text", "author"}),
    Kind.RESOLUTION: frozenset({"survey_url", "summary"}),
    Kind.REOPENING: frozenset(),
    Kind.MERGED: frozenset(),
    Kind.ASSIGNMENT: frozenset(),
    Kind.ASSIGNMENT_ENDED: frozenset(),
    Kind.SLA_WARNING: frozenset({"percent", "target", "due"}),
    Kind.ESCALATION: frozenset({"level", "role", "school"}),
    Kind.CRITICAL_CONCERN: frozenset({"school"}),
}
TEMPLATED_KINDS = tuple(KIND_VARIABLES)
TEMPLATED_CHANNELS = (ChannelName.EMAIL, ChannelName.SMS)

# Plausible values used to check that a template renders before it is stored.
SAMPLE: Mapping[str, str] = {
    "district": "Example Unified School District",
    "name": "Ana Pérez",
    "tracking": "CS-2026-000123",
    "concern_id": "0b9f6f0e-7d1c-4c39-9a51-2f3f0c4d5e6f",
    "category": "Transportation",
    "status_url": "https://bureau.example/status/CS-2026-000123",
    "case_url": "https://bureau.example/staff/concerns/0b9f6f0e-7d1c-4c39-9a51-2f3f0c4d5e6f",
    "due": "Thursday, March 5, 2026 at 9:30 AM CST",
    "pin": "123456",
    "reply_text": "The bus route now stops at your corner again from Monday.",
    "question": "Which stop does your child wait at?",
    "author": "Ana Kowalski",
    "survey_url": "https://bureau.example/survey/" + "x" * 43,
    "summary": "The route now stops at Oak Street at 7:40.",
    "team": "Transportation Department",
    "percent": "75",
    "target": "resolution",
    "level": "2",
    "role": "assistant_superintendent",
    "school": "Lincoln Elementary",
}


class TemplateProblem(ValueError):
    """A template that cannot render; `field` is `subject` or `body`."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class MessageTemplate:
    kind: Kind
    channel: ChannelName
    language: str
    subject: str | None
    body: str

    @property
    def key(self) -> str:
        return template_key(self.kind, self.channel, self.language)


@dataclass(frozen=True)
class Rendered:
    language: str
    subject: str
    text: str


def template_key(kind: Kind, channel: ChannelName, language: str) -> str:
    """The stored id of one template."""
    return f"{kind.value}:{channel.value}:{language}"


def placeholders(text: str, field: str = "body") -> set[str]:
    """Every placeholder name in `text`; a `$` that starts none is a problem."""
    template = string.Template(text.replace("[[", "").replace("]]", ""))
    if not template.is_valid():
        raise TemplateProblem(field, _invalid_dollar(text))
    return set(template.get_identifiers())


def _invalid_dollar(text: str) -> str:
    line = next(
        (
            n
            for n, row in enumerate(text.splitlines(), 1)
            if re.search(r"\$(?![$_a-zA-Z{])|\$\{(?![_a-zA-Z]\w*\})", row)
        ),
        1,
    )
    return (
        f"line {line}: `$` must start a placeholder like $name or ${{name}}; write $$ for a dollar"
    )


def _check_brackets(text: str, field: str) -> None:
    outside = _OPTIONAL.sub("", text)
    if "[[" in outside or "]]" in outside:
        raise TemplateProblem(field, "unbalanced `[[` or `]]` (optional parts do not nest)")
    for part in _OPTIONAL.findall(text):
        if "[[" in part:
            raise TemplateProblem(field, "optional parts `[[ ... ]]` do not nest")


def render_text(text: str, values: Mapping[str, str], field: str = "body") -> str:
    """Substitute `values`; an optional part whose placeholders are all set stays, else goes."""
    _check_brackets(text, field)

    def optional(match: re.Match[str]) -> str:
        part = match.group(1)
        names = placeholders(part, field)
        return part if names and all(values.get(n) for n in names) else ""

    try:
        return string.Template(_OPTIONAL.sub(optional, text)).substitute(
            {k: v for k, v in values.items() if v is not None}
        )
    except KeyError as exc:
        raise TemplateProblem(field, f"unknown placeholder ${exc.args[0]}") from None
    except ValueError:
        raise TemplateProblem(field, _invalid_dollar(text)) from None


def render(template: MessageTemplate, values: Mapping[str, str]) -> Rendered:
    """A message from a template; missing optional values render as empty text. An
    acknowledgement whose text has no `$pin` (an administrator's own wording) still tells the
    family their PIN: the PIN line of its language is added at the end."""
    allowed = COMMON_VARIABLES | KIND_VARIABLES.get(template.kind, frozenset())
    filled = {name: values.get(name) or "" for name in allowed}
    subject = render_text(template.subject or "", filled, "subject")
    text = render_text(template.body, filled, "body")
    if lacks_pin(template) and filled.get("pin"):
        line = render_text(pin_line(template.language, template.channel), filled)
        text = (
            f"{text.rstrip()} {line}"
            if template.channel is ChannelName.SMS
            else f"{text.rstrip()}\n\n{line}\n"
        )
    return Rendered(language=template.language, subject=" ".join(subject.split()), text=text)


def lacks_pin(template: MessageTemplate) -> bool:
    """Whether an acknowledgement's text leaves out the PIN (which `render` then adds)."""
    if template.kind is not Kind.ACKNOWLEDGEMENT:
        return False
    try:
        return "pin" not in placeholders(template.body)
    except TemplateProblem:
        return False  # a text that does not render is refused before any PIN matters


def pin_line(language: str, channel: ChannelName) -> str:
    """The PIN line added to an acknowledgement without `$pin`: the `pin_line` of the
    language's seed file (`acknowledgement: {email|sms: {pin_line: ...}}`), else English's."""
    lines = _pin_lines()
    return lines.get((language, channel)) or lines[(DEFAULT_LANGUAGE, channel)]


@functools.cache
def _pin_lines(directory: Path = SEED_DIRECTORY) -> dict[tuple[str, ChannelName], str]:
    found: dict[tuple[str, ChannelName], str] = {}
    for path in sorted(directory.glob("*.yaml")):
        raw = read_yaml(path) or {}
        for channel_name, fields in (raw.get(Kind.ACKNOWLEDGEMENT.value) or {}).items():
            if fields.get("pin_line"):
                found[(path.stem, ChannelName(channel_name))] = fields["pin_line"].strip()
    return found


def validate(template: MessageTemplate, *, sms_max_segments: int) -> list[TemplateProblem]:
    """Why a template may not be stored (empty when it renders well)."""
    problems: list[TemplateProblem] = []
    allowed = COMMON_VARIABLES | KIND_VARIABLES.get(template.kind, frozenset())
    if template.kind not in KIND_VARIABLES:
        return [TemplateProblem("kind", f"{template.kind.value} messages have no template")]
    if template.channel not in TEMPLATED_CHANNELS:
        return [TemplateProblem("channel", f"{template.channel.value} has no templates")]
    fields = {"body": template.body}
    if template.channel is ChannelName.EMAIL:
        if not (template.subject or "").strip():
            problems.append(TemplateProblem("subject", "an email needs a subject"))
        fields["subject"] = template.subject or ""
    elif template.subject:
        problems.append(TemplateProblem("subject", "an SMS has no subject"))
    if not template.body.strip():
        problems.append(TemplateProblem("body", "the body is empty"))
    for field, text in fields.items():
        try:
            _check_brackets(text, field)
            unknown = sorted(placeholders(text, field) - allowed)
        except TemplateProblem as problem:
            problems.append(problem)
            continue
        if unknown:
            problems.append(
                TemplateProblem(
                    field,
                    f"unknown placeholder {', '.join('$' + u for u in unknown)}; "
                    f"{template.kind.value} knows {', '.join(sorted(allowed))}",
                )
            )
    if problems:
        return problems
    rendered = render(template, SAMPLE)
    if template.channel is ChannelName.EMAIL and len(rendered.subject) > MAX_SUBJECT_CHARS:
        problems.append(TemplateProblem("subject", f"longer than {MAX_SUBJECT_CHARS} characters"))
    if template.channel is ChannelName.SMS:
        used = sms.segments(" ".join(rendered.text.split()))
        if used > sms_max_segments:
            problems.append(
                TemplateProblem(
                    "body",
                    f"renders to {used} SMS segments with sample values; "
                    f"the limit is {sms_max_segments}",
                )
            )
    return problems


def load_seed(directory: Path = SEED_DIRECTORY) -> list[MessageTemplate]:
    """Templates shipped with notify: one YAML file per language, `kind: {channel: {...}}`."""
    found: list[MessageTemplate] = []
    for path in sorted(directory.glob("*.yaml")):
        language = path.stem
        raw = read_yaml(path) or {}
        for kind_name, channels in raw.items():
            for channel_name, fields in channels.items():
                found.append(
                    MessageTemplate(
                        kind=Kind(kind_name),
                        channel=ChannelName(channel_name),
                        language=language,
                        subject=fields.get("subject"),
                        body=fields["body"],
                    )
                )
    return found


def fallback_languages(language: str) -> list[str]:
    """The languages to look for, best first: the requester's, then English."""
    return [language] if language == DEFAULT_LANGUAGE else [language, DEFAULT_LANGUAGE]
