"""Prometheus metrics: what happens in this process, and what the shared database holds.

Event counters (messages in, replies out, turn time, follow-up delay, errors by kind) are per
process, as Prometheus expects from replicas. What every replica shares — requests, decisions,
queues — is read from the database when scraped (`StateCollector`), so the numbers agree
whichever replica answers: ``chatops_audit_events_total{action,decision}`` counts triggers,
approvals, refusals, cancels and results; queue depths are gauges per state.
"""

from __future__ import annotations

import logging
from typing import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import func, select

from chatops.state import Database
from chatops.state.schema import approvals, audit, followups, inbound, outbox

logger = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    """One process's metrics, in their own registry (tests build as many as they like)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.messages_in = Counter(
            "chatops_messages_in_total",
            "DingTalk messages received, by what became of them",
            ["result"],  # accepted, duplicate, unsigned, too_large, malformed, unsupported
            registry=r,
        )
        self.turn_seconds = Histogram(
            "chatops_turn_seconds",
            "From a DingTalk message accepted to its replies queued",
            buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5, 10, 30),
            registry=r,
        )
        self.replies_out = Counter(
            "chatops_replies_out_total",
            "Messages sent to DingTalk, by outcome",
            ["outcome"],  # sent, undeliverable
            registry=r,
        )
        self.reply_wait_seconds = Histogram(
            "chatops_reply_wait_seconds",
            "From a reply queued to DingTalk accepting it (pacing, retries, throttling)",
            buckets=(0.05, 0.1, 0.3, 1, 3, 10, 30, 60, 300, 900),
            registry=r,
        )
        self.followup_delay_seconds = Histogram(
            "chatops_followup_delay_seconds",
            "From a Zadig task ending to its result queued in the chat",
            buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300),
            registry=r,
        )
        self.errors = Counter(
            "chatops_errors_total",
            "Errors by kind",
            ["kind"],  # turn_failed, no_reply, followup_row, sweep
            registry=r,
        )

    def watch_state(self, db: Database) -> None:
        self.registry.register(StateCollector(db))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class StateCollector:
    """Counts read from the shared database at scrape time."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def describe(self) -> Iterator[Metric]:
        return iter(())  # collected lazily: no database query at registration

    def collect(self) -> Iterator[Metric]:
        try:
            with self.db.begin() as conn:
                decisions = conn.execute(
                    select(audit.c.action, audit.c.decision, func.count()).group_by(
                        audit.c.action, audit.c.decision
                    )
                ).all()
                queues = {
                    name: conn.execute(
                        select(table.c.state, func.count()).group_by(table.c.state)
                    ).all()
                    for name, table in (
                        ("outbox", outbox),
                        ("followups", followups),
                        ("inbound", inbound),
                        ("approvals", approvals),
                    )
                }
        except Exception:  # a scrape must not fail because the database is briefly away
            logger.exception("could not read state for metrics")
            return
        events = CounterMetricFamily(
            "chatops_audit_events",
            "Requests and decisions in the audit trail (all replicas)",
            labels=["action", "decision"],
        )
        for action, decision, count in decisions:
            events.add_metric([action, decision], count)
        yield events
        depth = GaugeMetricFamily(
            "chatops_queue_rows",
            "Rows per table and state (all replicas)",
            labels=["table", "state"],
        )
        for name, rows in queues.items():
            for state, count in rows:
                depth.add_metric([name, state], count)
        yield depth
