"""Admin API of the routing rules, and the dry run that explains a route without changing it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from services.triage.context import TriageContext
from services.triage.domain import route
from services.triage.handlers import routing_view
from services.triage.rules import Facts, Rule, RuleBody, rule_problems
from services.triage.schemas import DryRunCreate, DryRunRead, RuleCreate, RuleOrder, RuleRead
from shared.authz import Access, Permission
from shared.http import Problem, authorize, service_context

router = APIRouter(prefix="/v1/rules", tags=["rules"])

Ctx = Annotated[TriageContext, Depends(service_context)]
ConfigReader = Annotated[Access, Depends(authorize(Permission.CONFIG_READ))]
ConfigWriter = Annotated[Access, Depends(authorize(Permission.CONFIG_WRITE))]


def _validated(rule: Rule, ctx: TriageContext) -> Rule:
    problems = rule_problems(rule, ctx.district)
    if problems:
        raise Problem(
            422,
            "Invalid rule",
            "; ".join(f"{field}: {message}" for field, message in problems),
            errors=[{"field": f, "message": m} for f, m in problems],
        )
    return rule


async def _read_all(ctx: TriageContext) -> list[RuleRead]:
    return [RuleRead(**r.model_dump(), position=i) for i, r in enumerate(await ctx.rules.ordered())]


@router.get("", response_model=list[RuleRead])
async def list_rules(ctx: Ctx, who: ConfigReader) -> list[RuleRead]:
    """The routing rules in the order they are tried."""
    return await _read_all(ctx)


@router.post("", response_model=RuleRead, status_code=201)
async def create_rule(body: RuleCreate, ctx: Ctx, who: ConfigWriter) -> RuleRead:
    """Add a rule (validated against the district: teams, categories, schools, patterns)."""
    rule = _validated(Rule(**body.model_dump(exclude={"position"})), ctx)
    if not await ctx.rules.create(rule, body.position):
        raise Problem(
            409,
            "Rule exists",
            f"A rule {rule.id!r} exists; change it with PUT.",
            errors=[{"field": "id", "message": "already used"}],
        )
    return next(r for r in await _read_all(ctx) if r.id == rule.id)


@router.post("/dry-run", response_model=DryRunRead)
async def dry_run(body: DryRunCreate, ctx: Ctx, who: ConfigReader) -> dict[str, Any]:
    """Which rule would route this concern, and why; changes nothing."""
    facts = Facts(
        category=body.category,
        school_id=body.school_id,
        channel=body.channel,
        description=body.description,
        relationship=body.requester_relationship,
        student_flags=tuple(body.student_flags),
        school_contacted=body.school_contacted,
    )
    return routing_view(
        route(
            facts,
            await ctx.rules.ordered(),
            ctx.district,
            (await ctx.rules.safety_words(ctx.config.safety_words)).words,
            ctx.config.school_first,
        )
    )


@router.post("/reorder", response_model=list[RuleRead])
async def reorder_rules(body: RuleOrder, ctx: Ctx, who: ConfigWriter) -> list[RuleRead]:
    """Set the order rules are tried in; the list must name every rule exactly once."""
    current = {r.id for r in await ctx.rules.ordered()}
    if sorted(body.rule_ids) != sorted(current):
        missing = sorted(current - set(body.rule_ids))
        unknown = sorted(set(body.rule_ids) - current)
        raise Problem(
            422,
            "Invalid order",
            f"Name every rule once (missing: {missing}, unknown: {unknown}).",
            errors=[{"field": "rule_ids", "message": "must name every rule once"}],
        )
    await ctx.rules.reorder(body.rule_ids)
    return await _read_all(ctx)


@router.get("/{rule_id}", response_model=RuleRead)
async def read_rule(rule_id: str, ctx: Ctx, who: ConfigReader) -> RuleRead:
    """One rule."""
    found = next((r for r in await _read_all(ctx) if r.id == rule_id), None)
    if found is None:
        raise Problem(404, "No such rule", f"No rule {rule_id!r}.")
    return found


@router.put("/{rule_id}", response_model=RuleRead)
async def replace_rule(rule_id: str, body: RuleBody, ctx: Ctx, who: ConfigWriter) -> RuleRead:
    """Change a rule's conditions and actions; its place in the order stays."""
    try:
        rule = Rule(id=rule_id, **body.model_dump())
    except ValueError:
        raise Problem(404, "No such rule", f"No rule {rule_id!r}.") from None
    if not await ctx.rules.replace(_validated(rule, ctx)):
        raise Problem(404, "No such rule", f"No rule {rule_id!r}.")
    return await read_rule(rule_id, ctx, who)


@router.delete("/{rule_id}", status_code=204)
async def delete_rule(rule_id: str, ctx: Ctx, who: ConfigWriter) -> Response:
    """Remove a rule; concerns it routed keep their decisions."""
    if not await ctx.rules.delete(rule_id):
        raise Problem(404, "No such rule", f"No rule {rule_id!r}.")
    return Response(status_code=204)
