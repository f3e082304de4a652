"""What a mail to the bureau is, and what a person wrote in it. Pure: no I/O, no framework.

`read_mail` turns the raw bytes of one mail into an `InboundMail`: its kind (a new concern, a
reply to one, or noise the bureau must not answer), the sender, the tracking number or the
bureau's own Message-IDs it refers to, the text the person wrote (quoted history and signature
stripped, HTML turned to text, any charset), its language and its attachments.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from email.utils import getaddresses, parseaddr
from enum import StrEnum

import html2text
from mailparser_reply.constants import (
    GENERIC_MAIL_SEPARATOR,
    NOLIST_SIGNATURE_REGEX,
    OUTLOOK_MAIL_SEPARATOR,
    QUOTED_MATCH_INCLUDE,
)
from mailparser_reply.parser import EmailMessage as ReplyParse

# The bureau's tracking numbers, as intake issues them (`CS-2026-000123`), in any case.
TRACKING_PATTERN = re.compile(r"\bCS-(\d{4})-(\d{6})\b", re.IGNORECASE)
# A Message-ID the bureau wrote names its concern first: `<concern-uuid.hash@domain>`.
_MESSAGE_ID = re.compile(r"<([^<>@\s]+)@([^<>\s]+)>")
MAX_DESCRIPTION = 5000
MIN_DESCRIPTION = 10


class Kind(StrEnum):
    NEW = "new"
    REPLY = "reply"
    AUTO_REPLY = "auto_reply"
    MAILING_LIST = "mailing_list"
    SPAM = "spam"
    BOUNCE = "bounce"


IGNORED = frozenset({Kind.AUTO_REPLY, Kind.MAILING_LIST, Kind.SPAM, Kind.BOUNCE})


class SenderCheck(StrEnum):
    """What the district's mail server found of the sender (its `Authentication-Results`)."""

    PASSED = "passed"  # the From domain authenticated (DMARC, or aligned DKIM or SPF)
    FAILED = "failed"  # forged: DMARC or SPF failed
    UNCHECKED = "unchecked"  # no verdict of a trusted server: a parent's first mail, never a reply


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class Bounce:
    """A delivery status notification (RFC 3464): who could not be reached, for which mail."""

    failed_recipients: tuple[str, ...]
    original_message_ids: tuple[str, ...]
    status: str | None = None


@dataclass(frozen=True)
class InboundMail:
    kind: Kind
    reason: str
    message_id: str | None
    from_name: str | None
    from_address: str | None
    subject: str
    tracking_number: str | None
    references: tuple[str, ...]
    body: str
    language: str
    attachments: tuple[Attachment, ...] = ()
    bounce: Bounce | None = None
    sender_check: SenderCheck = SenderCheck.PASSED

    @property
    def sender_authenticated(self) -> bool:
        """Whether a trusted mail server vouched for the sender: only then is a reply the
        requester's own."""
        return self.sender_check is SenderCheck.PASSED


def parse(raw: bytes) -> EmailMessage:
    """A mail from its bytes (any charset, any transfer encoding)."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    if not isinstance(message, EmailMessage):  # the default policy always builds one
        raise TypeError(f"the parser built a {type(message).__name__}, not an EmailMessage")
    return message


def _header(message: Message, name: str) -> str:
    try:
        value = message.get(name)
    except (ValueError, IndexError, TypeError):  # a malformed header: as if absent
        return ""
    return " ".join(str(value).split()) if value is not None else ""


def tracking_number_in(text: str) -> str | None:
    """The first tracking number in a subject, in intake's spelling."""
    found = TRACKING_PATTERN.search(text or "")
    return f"CS-{found.group(1)}-{found.group(2)}" if found else None


def message_ids(value: str) -> list[str]:
    """The Message-IDs in a `References` or `In-Reply-To` header, in order."""
    return [f"<{local}@{domain}>" for local, domain in _MESSAGE_ID.findall(value or "")]


def bureau_references(message: Message, domain: str) -> tuple[str, ...]:
    """The Message-IDs of the bureau's own mails this mail answers (In-Reply-To, References)."""
    ids = message_ids(_header(message, "In-Reply-To")) + message_ids(_header(message, "References"))
    own = [i for i in ids if i.rstrip(">").rpartition("@")[2].lower() == domain.lower()]
    return tuple(dict.fromkeys(own))


# --- noise: automatic answers, lists, spam, bounces ------------------------------------------

_AUTO_SUBJECT = re.compile(
    r"^\s*(automatic reply|auto[- ]?reply|out of (the )?office|respuesta autom[aá]tica|"
    r"fuera de la oficina|autoreply|abwesenheitsnotiz)\b",
    re.IGNORECASE,
)
_VACATION_HEADERS = (
    "X-Autoreply",
    "X-Autorespond",
    "X-Autoresponder",
    "X-Vacation",
    "X-Mailer-Autoreply",
)
_DAEMONS = re.compile(r"^(mailer-daemon|postmaster|noreply|no-reply|do-not-reply)@", re.IGNORECASE)


def classify_noise(
    message: Message,
    *,
    envelope_sender: str | None = None,
    own_addresses: frozenset[str] = frozenset(),
) -> tuple[Kind, str] | None:
    """The kind and reason of a mail the bureau must neither answer nor turn into a concern."""
    if _is_dsn(message):
        return Kind.BOUNCE, "delivery status notification"
    spam_flag = _header(message, "X-Spam-Flag").lower()
    spam_status = _header(message, "X-Spam-Status").lower()
    if spam_flag.startswith("yes") or spam_status.startswith("yes"):
        return Kind.SPAM, "flagged as spam"
    auto = _header(message, "Auto-Submitted").lower()
    if auto and not auto.startswith("no"):
        return Kind.AUTO_REPLY, f"auto-submitted: {auto.split(';')[0]}"
    precedence = _header(message, "Precedence").lower()
    if precedence == "list":
        return Kind.MAILING_LIST, "precedence: list"
    if precedence in ("bulk", "junk", "auto_reply"):
        return Kind.AUTO_REPLY, f"precedence: {precedence}"
    if _header(message, "List-Id") or _header(message, "List-Unsubscribe"):
        return Kind.MAILING_LIST, "mailing list"
    for name in _VACATION_HEADERS:
        if _header(message, name):
            return Kind.AUTO_REPLY, f"vacation responder ({name})"
    suppress = _header(message, "X-Auto-Response-Suppress").lower()
    if any(word in suppress for word in ("oof", "autoreply", "all")):
        return Kind.AUTO_REPLY, "automatic answer (X-Auto-Response-Suppress)"
    if envelope_sender in ("", "<>") or _header(message, "Return-Path") == "<>":
        return Kind.AUTO_REPLY, "null sender"
    sender = parseaddr(_header(message, "From"))[1].lower()
    if _DAEMONS.match(sender):
        return Kind.AUTO_REPLY, "robot sender"
    if sender and sender in own_addresses:
        return Kind.AUTO_REPLY, "sent by the bureau itself"
    if _header(message, "X-Loop").lower() in own_addresses:
        return Kind.AUTO_REPLY, "mail loop"
    if _AUTO_SUBJECT.match(_header(message, "Subject")):
        return Kind.AUTO_REPLY, "automatic answer (subject)"
    return None


def _is_dsn(message: Message) -> bool:
    return (
        message.get_content_type() == "multipart/report"
        and str(message.get_param("report-type", "")).lower() == "delivery-status"
    )


def bounce_details(message: Message) -> Bounce:
    """Who a delivery status notification says failed, and which mail it was about."""
    failed: list[str] = []
    status: str | None = None
    originals: list[str] = []
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/delivery-status":
            for block in _dsn_blocks(part):
                action = block.get("action", "").lower()
                recipient = block.get("final-recipient") or block.get("original-recipient")
                if action == "failed" and recipient:
                    failed.append(recipient.partition(";")[2].strip() or recipient.strip())
                    status = status or block.get("status")
        elif kind in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers"):
            originals += message_ids(_original_header(part, "Message-ID"))
    return Bounce(tuple(dict.fromkeys(failed)), tuple(dict.fromkeys(originals)), status)


def _dsn_blocks(part: Message) -> list[dict[str, str]]:
    """The per-message and per-recipient field blocks of a message/delivery-status part."""
    payload = part.get_payload()
    if isinstance(payload, list):  # the standard library parses the blocks as messages
        return [
            {k.lower(): " ".join(str(v).split()) for k, v in block.items()}
            for block in payload
            if isinstance(block, Message)
        ]
    text = payload if isinstance(payload, str) else ""
    blocks = []
    for chunk in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        fields = {}
        for line in chunk.splitlines():
            name, sep, value = line.partition(":")
            if sep:
                fields[name.strip().lower()] = value.strip()
        blocks.append(fields)
    return blocks


def _original_header(part: Message, name: str) -> str:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return _header(payload[0], name)
    text = part.get_payload(decode=True) or b""
    headers = email.message_from_bytes(
        text if isinstance(text, bytes) else b"", policy=email.policy.default
    )
    return _header(headers, name)


# --- the text a person wrote -----------------------------------------------------------------

REPLY_LANGUAGES = ("en", "es")  # the reply parser's headers and sign-offs
# What an employer's legal notice at the foot of a mail says about the mail itself.
_LEGAL_NOTICE = re.compile(
    r"\bintended\b|\brecipient|\bin error\b|\bdestinatario|\bpor error\b", re.IGNORECASE
)


class _ReplyParse(ReplyParse):
    """mail-parser-reply, but a parent's "the teacher wrote:" is no mail client's attribution
    (`HEADER_REGEX`), and a sign-off ("Thanks,", "Gracias,", "Best regards,") ends what
    the person wrote only as a line of its own (a name may follow on it) with at most a short
    signature block after it: "Thanks, but the bus still did not come" is what they wrote.
    A list written with dashes is never a signature. The rest is the library's own
    signature expression (its `SIGNATURE_REGEX`, version 1.x)."""

    def _process_signatures_disclaimers(self, text: str) -> tuple[list[str], str]:
        """The library's, keeping only disclaimers that read as an employer's legal notice
        about the mail itself; "Warning: the driver was texting" is what the parent wrote."""
        disclaimers, signature = super()._process_signatures_disclaimers(text)
        legal = [d for d in disclaimers if _LEGAL_NOTICE.search(d)]
        return legal, signature

    @property
    def HEADER_REGEX(self) -> re.Pattern[str]:
        """The library's, without its "On ... wrote:" lines (`_history_starts` finds those
        that a mail client wrote): the "From:/Sent:" blocks and "Original Message"."""
        cached: re.Pattern[str] | None = getattr(self, "_header_regex", None)
        if cached is not None:
            return cached
        headers = [self._get_language_regex(lang, "from_header") for lang in self.languages]
        pattern = re.compile(
            "|".join([*(h for h in headers if h), f"({GENERIC_MAIL_SEPARATOR})"]),
            flags=re.MULTILINE | re.IGNORECASE,
        )
        self._header_regex = pattern  # the library's cache
        return pattern

    @property
    def SIGNATURE_REGEX(self) -> re.Pattern[str]:
        cached: re.Pattern[str] | None = getattr(self, "_signature_regex", None)
        if cached is not None:
            return cached
        sent_from = "|".join(
            r for r in (self._get_language_regex(lang, "sent_from") for lang in self.languages) if r
        )
        sign_offs = "|".join(
            r
            for r in (self._get_language_regex(lang, "signatures") for lang in self.languages)
            if r
        )
        pattern = re.compile(
            rf"(({NOLIST_SIGNATURE_REGEX}|{OUTLOOK_MAIL_SEPARATOR}|"
            rf"\s*^{QUOTED_MATCH_INCLUDE}(?:{sent_from}) ?(?:(?:[\w.<>:// ]+)|(?:\w+ ){{1,3}})$|"
            rf"(?<!\A)^{QUOTED_MATCH_INCLUDE}(?:{sign_offs})[^\n.?!]{{0,40}}$"
            rf"(?=(?:\n[^\n]*){{0,8}}\Z))(.|\s)*)",
            flags=re.MULTILINE | re.IGNORECASE,
        )
        self._signature_regex = pattern  # the library's cache
        return pattern


# "On Tue, 1 Dec 2026 at 09:12, Bureau <x@y> wrote:" (may wrap over two lines in Gmail), and
# the Spanish "El mar, 1 dic 2026 a las 9:20, Oficina (<x@y>) escribió:": where history starts.
_ATTRIBUTION = re.compile(
    r"^>?\s*(On|El)\s[^\n]{0,300}(\n[^\n]{0,200})?\s(wrote|escribió):\s*$",
    re.MULTILINE | re.IGNORECASE,
)
# What a mail client's attribution has and a parent's "the teacher wrote:" has not: a time
# or an address.
_CLIENT_MADE = re.compile(r"\d{1,2}:\d{2}|@")


def _history_starts(text: str) -> int | None:
    """Where the quoted history starts, by a mail client's attribution line."""
    for found in _ATTRIBUTION.finditer(text):
        if found.start() > 0 and _CLIENT_MADE.search(found.group()):
            return found.start()
    return None


# A line that is the rule a mail client draws above the quoted mail (Outlook's <hr>, which
# html2text writes "* * *", "____"): left at the end once the history below it is cut.
_RULE = re.compile(r"[*_=-](\s?[*_=-]){2,}")


# html2text writes Markdown: it escapes what a person wrote that Markdown would read as a list
# ("1\\.", "\\-", "\\+" at the start of a line) and a backslash before such a character.
_MD_ESCAPES = (
    (re.compile(r"^(\s*\d+)\\(\.)(?=\s)", re.MULTILINE), r"\1\2"),
    (re.compile(r"^(\s*)\\([-+])", re.MULTILINE), r"\1\2"),
    (re.compile(r"\\(\\)(?=[\\`*_{}\[\]()#+\-.!])"), r"\1"),
)


def html_to_text(html: str) -> str:
    """Readable text from an HTML body, as the person wrote it: links kept, images dropped,
    accents kept (an entity such as `&iacute;` is "í", never "i"), no Markdown escapes."""
    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_images = True
    converter.ignore_emphasis = True
    converter.unicode_snob = True
    text = converter.handle(html)
    for escaped, written in _MD_ESCAPES:
        text = escaped.sub(written, text)
    return text.strip()


# A charset that says nothing of 8-bit text: ASCII is what a mail without one is said to be.
_UNTOLD = frozenset({"us-ascii", "ascii", "unknown-8bit", "x-unknown", "unknown"})


def _decoded(part: Message) -> str:
    """A text part's words in its declared charset; when it declares none Python knows (none,
    `unknown-8bit`, a misspelt name, ASCII around 8-bit bytes), UTF-8, else Windows-1252: what
    such mail most often is, so "autobús" is not read as "autob?s"."""
    raw = part.get_payload(decode=True)
    if not isinstance(raw, bytes):
        return ""
    declared = (part.get_content_charset() or "").strip()
    if declared and (declared not in _UNTOLD or raw.isascii()):
        try:
            return raw.decode(declared, errors="replace")
        except LookupError:  # not a charset Python knows: read as undeclared
            pass
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def full_text(message: EmailMessage) -> str:
    """The body as plain text: the text part, else the HTML part turned to text."""
    try:
        part = message.get_body(preferencelist=("plain", "html"))
    except (KeyError, ValueError):
        part = None
    if part is None:
        return ""
    text = _decoded(part)
    if part.get_content_type() == "text/html":
        text = html_to_text(text)
    return text.replace("\r\n", "\n").strip()


def written_text(text: str) -> str:
    """What the person wrote this time: quoted history and signature removed."""
    cut = _history_starts(text)
    if cut is not None:
        text = text[:cut]
    if not text.strip():
        return ""
    try:
        parsed = _ReplyParse(text=text, languages=list(REPLY_LANGUAGES)).read()
        latest = parsed.replies[0].body if parsed.replies else text
    except Exception:  # the parser is heuristic: never lose a mail because of it
        latest = text
    latest = latest.strip()
    # lines quoted with ">" that the parser did not cut (quoted inline, no attribution)
    lines = [line for line in latest.splitlines() if not line.lstrip().startswith(">")]
    while len(lines) > 1 and (not lines[-1].strip() or _RULE.fullmatch(lines[-1].strip())):
        lines.pop()
    kept = "\n".join(lines).strip()
    return re.sub(r"\n{3,}", "\n\n", kept) or text.strip()


def attachments_of(message: EmailMessage) -> tuple[Attachment, ...]:
    """The files attached to a mail (inline images with a file name included)."""
    found: list[Attachment] = []
    for part in message.iter_attachments():
        if part.get_content_maintype() == "multipart":
            continue
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):
            continue
        name = part.get_filename() or f"attachment-{len(found) + 1}"
        found.append(
            Attachment(
                filename=_safe_filename(name), content_type=part.get_content_type(), data=data
            )
        )
    return tuple(found)


def _safe_filename(name: str) -> str:
    name = name.replace("\\", "/").rpartition("/")[2]
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).strip() or "attachment"
    return name[:200]


# --- language ----------------------------------------------------------------------------------

_SPANISH = frozenset(
    "el la los las de del que y en un una por para con no es su sus se mi mis hijo hija "
    "escuela gracias hola estimado estimada señor señora buenos buenas días autobús "
    "nuestro nuestra está están porque pero muy también cuando como sobre al lo le".split()
)
_ENGLISH = frozenset(
    "the and of to in is it that for on with my our was this are have has not be school "
    "bus son daughter hello dear thank thanks please we you they at from but when about".split()
)


def detect_language(text: str, default: str = "en") -> str:
    """`es` or `en`, by the common words of each; the default when the text does not say."""
    words = re.findall(r"[a-záéíóúñü]+", text.lower())
    spanish = sum(w in _SPANISH for w in words) + 2 * sum(c in "ñ¿¡" for c in text)
    english = sum(w in _ENGLISH for w in words)
    if spanish == english:
        return default
    return "es" if spanish > english else "en"


# --- the whole mail ----------------------------------------------------------------------------


def read_mail(
    raw: bytes,
    *,
    bureau_domain: str,
    own_addresses: frozenset[str] = frozenset(),
    envelope_sender: str | None = None,
    default_language: str = "en",
    trusted_authserv_ids: frozenset[str] | None = None,
) -> InboundMail:
    """Everything the front door needs to know of one mail; `trusted_authserv_ids`: whose
    `Authentication-Results` to believe (None: any, and none at all passes; development)."""
    message = parse(raw)
    subject = _header(message, "Subject")
    name, address = _sender(message)
    ids = message_ids(_header(message, "Message-ID"))
    message_id = ids[0] if ids else None
    own = frozenset(a.lower() for a in own_addresses)
    noise = classify_noise(message, envelope_sender=envelope_sender, own_addresses=own)
    tracking = tracking_number_in(subject)
    references = bureau_references(message, bureau_domain)
    text = full_text(message)
    body = written_text(text)[:MAX_DESCRIPTION]
    language = detect_language(f"{subject}\n{body}", default_language)
    if noise is not None:
        kind, reason = noise
    elif tracking or references:
        kind, reason = Kind.REPLY, "tracking number" if tracking else "answers the bureau's mail"
    else:
        kind, reason = Kind.NEW, "new concern"
    return InboundMail(
        kind=kind,
        reason=reason,
        message_id=message_id,
        from_name=name,
        from_address=address,
        subject=subject,
        tracking_number=tracking,
        references=references,
        body=body,
        language=language,
        attachments=attachments_of(message) if noise is None else (),
        bounce=bounce_details(message) if kind is Kind.BOUNCE else None,
        sender_check=sender_check(message, address, trusted_authserv_ids),
    )


# --- whether the sender is who From says (RFC 8601 Authentication-Results) -------------------

_COMMENT = re.compile(r"\([^()]*\)")
_RESULT = re.compile(r"^\s*([a-z][a-z0-9_-]*)(?:\s*/\s*\d+)?\s*=\s*([a-z]+)", re.IGNORECASE)
_PROPERTY = re.compile(r"\b([a-z]+\.[a-z0-9_-]+)\s*=\s*\"?([^\s;\"]+)", re.IGNORECASE)


@dataclass(frozen=True)
class _Results:
    authserv_id: str
    methods: tuple[tuple[str, str, dict[str, str]], ...]  # (method, result, properties)


def _results(value: str) -> _Results:
    """One Authentication-Results header: who wrote it, and each method's result."""
    text = " ".join(value.split())
    while _COMMENT.search(text):  # comments may nest
        text = _COMMENT.sub(" ", text)
    head, *infos = text.split(";")
    words = head.split()
    authserv_id = words[0].strip('"').lower() if words else ""
    methods = []
    for info in infos:
        found = _RESULT.match(info)
        if found:
            props = {k.lower(): v.lower() for k, v in _PROPERTY.findall(info[found.end() :])}
            methods.append((found.group(1).lower(), found.group(2).lower(), props))
    return _Results(authserv_id, tuple(methods))


def _aligned(domain: str, from_domain: str) -> bool:
    """Relaxed alignment: the authenticated domain is the From domain, a parent or a child."""
    domain = domain.rpartition("@")[2].strip(".")
    return bool(domain) and (
        domain == from_domain
        or from_domain.endswith("." + domain)
        or domain.endswith("." + from_domain)
    )


def _verdict(results: _Results, from_domain: str) -> SenderCheck:
    found = {(method, result) for method, result, _ in results.methods}
    if ("dmarc", "pass") in found:
        return SenderCheck.PASSED
    if ("dmarc", "fail") in found:
        return SenderCheck.FAILED
    identity = {"dkim": ("header.d", "header.i"), "spf": ("smtp.mailfrom",)}
    for method, result, props in results.methods:
        names = identity.get(method, ())
        if result == "pass" and any(_aligned(props.get(n, ""), from_domain) for n in names):
            return SenderCheck.PASSED
    return SenderCheck.FAILED if ("spf", "fail") in found else SenderCheck.UNCHECKED


def sender_check(
    message: Message, from_address: str | None, trusted_authserv_ids: frozenset[str] | None
) -> SenderCheck:
    """What the district's mail server found of the sender. Only the topmost
    Authentication-Results written under a trusted authserv-id counts (the server adds its
    own on top; any other was written before it, by anyone); none is UNCHECKED. With
    `trusted_authserv_ids` None (development, a local sink) every header counts and a mail
    without one passes."""
    try:
        values = [str(v) for v in message.get_all("Authentication-Results") or []]
    except (ValueError, IndexError, TypeError):  # a malformed header: as if absent
        values = []
    from_domain = (from_address or "").rpartition("@")[2].lower()
    if trusted_authserv_ids is None:
        verdicts = {_verdict(_results(v), from_domain) for v in values}
        return SenderCheck.FAILED if SenderCheck.FAILED in verdicts else SenderCheck.PASSED
    trusted = {i.lower() for i in trusted_authserv_ids}
    for value in values:  # top first: the order of the headers in the mail
        results = _results(value)
        if results.authserv_id in trusted:
            return _verdict(results, from_domain)
    return SenderCheck.UNCHECKED


def _sender(message: Message) -> tuple[str | None, str | None]:
    # From, never Reply-To: who the bureau matches against the requester is who wrote
    pairs = getaddresses([_header(message, "From")])
    raw_name, raw_address = pairs[0] if pairs else ("", "")
    name = " ".join(raw_name.split())[:200] or None
    address = raw_address.strip().lower()
    return name, address if "@" in address else None


def description(mail: InboundMail) -> str:
    """A concern's description from a new mail: the body, or the subject when the body is
    too short to say anything."""
    body = mail.body.strip()
    if len(body) < MIN_DESCRIPTION:
        body = f"{mail.subject}\n\n{body}".strip() if mail.subject else body
    if len(body) < MIN_DESCRIPTION:
        body = (body + " (sent by email)").strip()
    return body[:MAX_DESCRIPTION]
