"""Conversations (SPEC §9): the message log, rule sets, handoffs, operator messages, rich menus."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONType, UTCDateTime, utcnow

DIRECTION_IN = "in"
DIRECTION_OUT = "out"
KIND_MESSAGE = "message"
KIND_POSTBACK = "postback"
KIND_STEP = "step"  # never stored: step entries are read from the deliveries table
KIND_REPLY = "reply"
KIND_OPERATOR = "operator"

RULESET_LIVE = "live"
RULESET_PAUSED = "paused"

OPERATOR_QUEUED = "queued"
OPERATOR_SENT = "sent"
OPERATOR_FAILED = "failed"
OPERATOR_HELD = "held"  # quota exhausted: nothing was sent


class ConversationMessage(Base):
    """One message in or out of a friend's chat (steps excepted: those are the sent deliveries).

    An incoming message keeps its reply token so an operator can answer it for free while it is
    young; ``token_used`` marks it spent (a rule reply or an operator message used it).
    """

    __tablename__ = "conversation_messages"
    __table_args__ = (sa.Index("ix_conversation_messages_friend_at", "friend_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    friend_id: Mapped[int] = mapped_column(sa.ForeignKey("friends.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    direction: Mapped[str] = mapped_column(sa.String(3))
    kind: Mapped[str] = mapped_column(sa.String(16))
    text: Mapped[str | None] = mapped_column(sa.Text)
    meta: Mapped[dict[str, Any] | None] = mapped_column(JSONType)  # sticker ids, image/file metadata
    scenario_id: Mapped[str | None] = mapped_column(sa.String(100))
    ruleset_id: Mapped[str | None] = mapped_column(sa.String(100))
    staff: Mapped[str | None] = mapped_column(sa.String(200))
    event_id: Mapped[int | None] = mapped_column()  # the ledger row it came from / answered
    reply_token: Mapped[str | None] = mapped_column(sa.String(200))
    token_used: Mapped[bool] = mapped_column(default=False)


class RuleSet(Base):
    """An account-wide set of keyword/postback rules (Lステップ's 自動応答); content in versions."""

    __tablename__ = "rulesets"

    id: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    channel: Mapped[str] = mapped_column(sa.String(64), default="default")
    status: Mapped[str] = mapped_column(sa.String(16), default=RULESET_LIVE)
    priority: Mapped[int] = mapped_column(default=0)
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class RuleSetVersion(Base):
    """An immutable uploaded rule set definition plus its source text."""

    __tablename__ = "ruleset_versions"
    __table_args__ = (sa.UniqueConstraint("ruleset_id", "version", name="uq_ruleset_versions_ruleset_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ruleset_id: Mapped[str] = mapped_column(sa.ForeignKey("rulesets.id", ondelete="CASCADE"))
    version: Mapped[int]
    definition: Mapped[dict[str, Any]] = mapped_column(JSONType)
    source: Mapped[str] = mapped_column(sa.Text)
    source_name: Mapped[str] = mapped_column(sa.String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Handoff(Base):
    """A friend handed to staff: rule replies stop until it is closed (at most one open per friend)."""

    __tablename__ = "handoffs"
    __table_args__ = (
        sa.Index("uq_handoffs_one_open", "friend_id", unique=True,
                 postgresql_where=sa.text("closed_at IS NULL"), sqlite_where=sa.text("closed_at IS NULL")),
        sa.Index("ix_handoffs_open", "opened_at",
                 postgresql_where=sa.text("closed_at IS NULL"), sqlite_where=sa.text("closed_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    friend_id: Mapped[int] = mapped_column(sa.ForeignKey("friends.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(sa.String(64), default="default")
    note: Mapped[str | None] = mapped_column(sa.Text)
    pause_steps: Mapped[bool] = mapped_column(default=False)
    # enrollment id → its next_run_at (ISO) when the steps were paused, restored on close
    paused: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    source: Mapped[str | None] = mapped_column(sa.String(200))  # "scenario:<id>" / "ruleset:<id>"
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_by: Mapped[str | None] = mapped_column(sa.String(200))
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # the staff webhook accepted it
    notify_attempts: Mapped[int] = mapped_column(default=0, server_default="0")


class OperatorMessage(Base):
    """A staff member's message to a friend: the outbox row that makes it go out exactly once.

    ``idempotency_key`` comes from the client (a double submit finds the row), ``retry_key`` is
    drawn before the first push attempt so every retry repeats it.
    """

    __tablename__ = "operator_messages"
    __table_args__ = (
        sa.UniqueConstraint("friend_id", "idempotency_key", name="uq_operator_messages_friend_idempotency_key"),
        sa.Index("ix_operator_messages_status", "status", postgresql_where=sa.text("status = 'queued'"),
                 sqlite_where=sa.text("status = 'queued'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    friend_id: Mapped[int] = mapped_column(sa.ForeignKey("friends.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(sa.String(64), default="default")
    idempotency_key: Mapped[str] = mapped_column(sa.String(200))
    messages: Mapped[list[Any]] = mapped_column(JSONType)
    staff: Mapped[str | None] = mapped_column(sa.String(200))
    via: Mapped[str] = mapped_column(sa.String(8))  # reply | push
    reply_token: Mapped[str | None] = mapped_column(sa.String(200))
    retry_key: Mapped[str | None] = mapped_column(sa.String(36))
    quota_reserved: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(sa.String(16), default=OPERATOR_QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RichMenu(Base):
    """A rich menu definition; ``id`` is its LINE alias, ``line_id`` the menu LINE created last."""

    __tablename__ = "rich_menus"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    channel: Mapped[str] = mapped_column(sa.String(64), default="default")
    name: Mapped[str] = mapped_column(sa.String(300))
    line_id: Mapped[str] = mapped_column(sa.String(100))
    is_default: Mapped[bool] = mapped_column(default=False)
    definition: Mapped[dict[str, Any]] = mapped_column(JSONType)
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class FriendRichMenu(Base):
    """The rich menu linked to one friend (no row: the channel default)."""

    __tablename__ = "friend_rich_menus"

    friend_id: Mapped[int] = mapped_column(sa.ForeignKey("friends.id", ondelete="CASCADE"), primary_key=True)
    rich_menu_id: Mapped[str] = mapped_column(sa.ForeignKey("rich_menus.id", ondelete="CASCADE"), index=True)
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
