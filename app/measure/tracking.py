"""Send-time link rewriting: the sender asks here for each delivery's messages with tracked URLs."""

from __future__ import annotations

from typing import Any

from app.config import Settings
from app.measure.links import LinkSigner, rewrite, step_links
from app.scenarios.render import render_messages
from app.scenarios.schema import ScenarioDef, StepDef


def links_of(scenario_id: str, version: int, step: StepDef) -> list[str]:
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

    def url(self, delivery_id: int, index: int) -> str:
        assert self.signer is not None
        return self.prefix + self.signer.token(delivery_id, index)

    def apply(self, scn: ScenarioDef, version: int, step: StepDef, delivery_id: int,
              messages: list[dict[str, Any]], content_key: str) -> tuple[list[dict[str, Any]], str]:
        """Messages and content key for one delivery: unchanged when nothing is tracked; else with
        URLs unique to the delivery and a content key of its own (so it goes out by push)."""
        if self.signer is None or not scn.track_links:
            return messages, content_key
        links = links_of(scn.id, version, step)
        if not links:
            return messages, content_key
        tracked, count = rewrite(messages, links, lambda index: self.url(delivery_id, index))
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
