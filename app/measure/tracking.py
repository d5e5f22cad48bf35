"""Send-time link rewriting: the sender asks here for each delivery's messages with tracked URLs."""

from __future__ import annotations

from typing import Any, NamedTuple

from app.config import Settings
from app.measure.links import LinkRef, LinkSigner, rewrite, step_links
from app.scenarios.render import render_messages
from app.scenarios.schema import ScenarioDef, StepDef


def links_of(step: StepDef) -> list[str]:
    """The step's link list (index → original URL), from its messages with variables left empty:
    a URL that only a friend's attribute completes is not in it and stays untracked."""
    return step_links(step, lambda: render_messages(step.messages, display_name=None, attributes={}))


class LinkTracking:
    """Rewrites a delivery's links to ``PUBLIC_URL/l/<token>``; inactive without PUBLIC_URL or a key."""

    def __init__(self, public_url: str, signer: LinkSigner | None) -> None:
        self.prefix = f"{public_url.rstrip('/')}/l/"
        self.signer = signer
        self._plans: dict[tuple[int, int], _StepPlan] = {}

    @classmethod
    def from_settings(cls, settings: Settings | None) -> LinkTracking:
        if settings is None or not settings.tracks_links:
            return cls("", None)
        return cls(settings.public_url, LinkSigner(settings.link_signing_key))

    @property
    def active(self) -> bool:
        return self.signer is not None

    def url(self, ref: LinkRef, scope: str) -> str:
        assert self.signer is not None
        return self.prefix + self.signer.token(ref, scope)

    def wants(self, scn: ScenarioDef, step: StepDef) -> bool:
        """Whether this step's deliveries get tracked URLs."""
        return self.signer is not None and scn.track_links and bool(links_of(step))

    def apply(self, scn: ScenarioDef, version: int, version_row: int, step: StepDef, delivery_id: int,
              messages: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        """One delivery's messages with URLs unique to it (so it goes out by push, under a content
        key of its own), or None when nothing in them is tracked."""
        if not self.wants(scn, step):
            return None
        plan = self._plan(scn, version, version_row, step)
        signer = self.signer
        assert signer is not None
        tracked, count = rewrite(messages, plan.positions, lambda index: self.prefix + signer.token(
            LinkRef(delivery_id, version_row, plan.step_index, index), plan.scope))
        return tracked if count else None

    def _plan(self, scn: ScenarioDef, version: int, version_row: int, step: StepDef) -> _StepPlan:
        """What every delivery of one step of one version shares, worked out once."""
        key = (id(step), version_row)
        plan = self._plans.get(key)
        if plan is None or plan.step is not step:
            if len(self._plans) > 4096:
                self._plans.clear()
            plan = self._plans[key] = _StepPlan(step, scn.step_index(step.id), f"{scn.id}:{version}",
                                                {url: i for i, url in enumerate(links_of(step))})
        return plan


class _StepPlan(NamedTuple):
    step: StepDef  # held so its id stays its own while cached
    step_index: int
    scope: str
    positions: dict[str, int]  # link URL → its index in the step's link list


_cached: tuple[Settings | None, LinkTracking] | None = None


def tracking_for(settings: Settings | None) -> LinkTracking:
    """One :class:`LinkTracking` per bound settings (the signer's key is derived once)."""
    global _cached
    if _cached is None or _cached[0] is not settings:
        _cached = (settings, LinkTracking.from_settings(settings))
    return _cached[1]
