"""Admin API of the safety words: the words and phrases that make a concern critical, whatever
rule routes it. The district file's (`triage.safety_words`) apply until an administrator sets
them here; then the stored ones do, on every replica within the rules' cache time."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from services.triage.context import TriageContext
from services.triage.repository import SafetyWords
from services.triage.rules import normalise
from services.triage.schemas import SafetyWordsRead, SafetyWordsUpdate
from shared.authz import Access, Permission
from shared.http import Problem, authorize, service_context

router = APIRouter(prefix="/v1/safety-words", tags=["safety words"])

Ctx = Annotated[TriageContext, Depends(service_context)]
ConfigReader = Annotated[Access, Depends(authorize(Permission.CONFIG_READ))]
ConfigWriter = Annotated[Access, Depends(authorize(Permission.CONFIG_WRITE))]
MAX_TERM_CHARS = 60


def _read(found: SafetyWords) -> SafetyWordsRead:
    return SafetyWordsRead(
        words=list(found.words),
        origin="admin" if found.updated_at else "district",
        updated_at=found.updated_at,
        updated_by=found.updated_by,
    )


def term_problem(term: str) -> str | None:
    """Why a safety word cannot match anything, if it cannot."""
    if not normalise(term).strip("* "):
        return "needs a letter or a digit"
    if len(term) > MAX_TERM_CHARS:
        return f"is longer than {MAX_TERM_CHARS} characters"
    if "*" in term.rstrip("*"):
        return "`*` only at the end of a word (any ending)"
    return None


@router.get("", response_model=SafetyWordsRead)
async def get_safety_words(ctx: Ctx, who: ConfigReader) -> SafetyWordsRead:
    """The safety words triage uses now, and whether an administrator set them."""
    return _read(await ctx.rules.safety_words(ctx.config.safety_words))


@router.put("", response_model=SafetyWordsRead)
async def put_safety_words(body: SafetyWordsUpdate, ctx: Ctx, who: ConfigWriter) -> SafetyWordsRead:
    """Replace the safety words (the district file's no longer apply); new concerns are routed
    with them at once on this replica, on the others within the cache time."""
    problems = [
        (f"words.{i}", f"{term!r} {problem}")
        for i, term in enumerate(body.words)
        if (problem := term_problem(term))
    ]
    if not body.words:
        problems.append(("words", "at least one word (without any, none makes a concern critical)"))
    if problems:
        raise Problem(
            422,
            "Invalid safety words",
            "; ".join(message for _, message in problems),
            errors=[{"field": f, "message": m} for f, m in problems],
        )
    kept: dict[str, str] = {}  # in order; a repeat (case and accents aside) dropped
    for term in body.words:
        kept.setdefault(normalise(term), term)
    words = list(kept.values())
    return _read(await ctx.rules.set_safety_words(words, now=ctx.clock.now(), actor=who.actor))
