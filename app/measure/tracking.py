"""Send-time link rewriting: the sender asks here for each delivery's messages with tracked URLs."""

from __future__ import annotations

from typing import Any

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
              messages: list[dict[str, Any]], content_key: str) -> tuple[list[dict[str, Any]], str]:
        """Messages and content key for one delivery: unchanged when nothing is tracked; else with
        URLs unique to the delivery and a content key of its own (so it goes out by push)."""
        if not self.wants(scn, step):
            return messages, content_key
        step_index = scn.step_index(step.id)
        scope = f"{scn.id}:{version}"
        tracked, count = rewrite(messages, links_of(step),
                                 lambda index: self.url(LinkRef(delivery_id, version_row, step_index, index), scope))
        if not count:
            return messages, content_key
        return tracked, f"tracked:{delivery_id}"


_cached: tuple[Settings | None, LinkTracking] | None = None


def tracking_for(settings: Settings | None) -> LinkTracking:
    """One :class:`LinkTracking` per bound settings (the signer's key is derived once)."""
    global _cached
    if _cached is None or _cached[0] is not settings:
        _cached = (settings, LinkTracking.from_settings(settings))
    return _cached[1]
