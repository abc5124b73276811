"""After the ``make demo`` journey, each service's ``/metrics`` (on its own port, never through
the gateway) counted the journey: requests by route template (no share code, contact or other
personal value anywhere in a scrape), the SMS sent, the outbox and scheduler gauges."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from emk_devstack.ports import SERVICES
from emk_devstack.stack import Stack

Series = list[tuple[dict[str, str], float]]

# Where every route of a service is (a path that matched no route has no http_route).
# The service's own routes, and its contracts (the fuzz test reads /openapi.json).
ROUTES = ("/api/v1/", "/check/", "/internal/", "/.well-known/", "/openapi.json", "/asyncapi")
# Every collection whose events a service's relay publishes: its aggregates', and the audit
# journal's head (its anchors).
OUTBOXES = {
    "identity": {"users", "challenges", "ghost_registrations", "sessions", "journal_head"},
    "applications": {"applications", "journal_head"},
    "documents": {"documents", "journal_head"},
    "records": {"books", "shares", "journal_head"},
    "notifications": {"deliveries", "notifications", "journal_head"},
}


@pytest.fixture(scope="module")
async def scrapes(platform: Stack, demo: tuple[dict[str, Any], list[str]]) -> dict[str, str]:
    """Each service's exposition, read once the journey is over."""
    found = {}
    async with httpx.AsyncClient(timeout=10) as http:
        for service in SERVICES:
            answer = await http.get(f"{platform.service_url(service)}/metrics")
            assert answer.status_code == 200, service
            assert answer.headers["content-type"].startswith("text/plain"), service
            found[service] = answer.text
    return found


def series(text: str, name: str) -> Series:
    """The samples called ``name`` (parsing fails on a malformed exposition)."""
    return [
        (dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


def requests(text: str) -> dict[tuple[str, str, str], float]:
    """Request counts by (route template, method, status)."""
    return {
        (labels.get("http_route", ""), labels["http_request_method"],
         labels["http_response_status_code"]): value
        for labels, value in series(text, "http_server_request_duration_seconds_count")
    }  # fmt: skip


@pytest.mark.parametrize("service", SERVICES)
def test_every_series_names_its_service_and_the_journey_s_requests_are_counted(
    scrapes: dict[str, str], service: str
) -> None:
    text = scrapes[service]
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            assert sample.labels.get("service_name") == service, sample
    counted = requests(text)
    assert any(route and value >= 1 for (route, _, _), value in counted.items()), counted
    # Route templates only: what a path holds (ids, codes) is never a label.
    for route, _, _ in counted:
        assert route == "" or route.startswith(ROUTES), route


def test_the_share_and_the_check_page_are_counted_by_template(
    scrapes: dict[str, str],
) -> None:
    counted = requests(scrapes["records"])
    assert counted.get(("/api/v1/records/book/shares", "POST", "201"), 0) >= 1, counted
    assert counted.get(("/check/{code}", "GET", "200"), 0) >= 1, counted


def test_no_scrape_holds_a_code_or_a_contact(
    scrapes: dict[str, str], demo: tuple[dict[str, Any], list[str]]
) -> None:
    record, _ = demo
    secrets = [record["share"]["code"], record["citizen_phone"], record["citizen_email"]]
    for service, text in scrapes.items():
        for secret in secrets:
            assert secret not in text, (service, "a personal value or a code in /metrics")


def test_the_sms_of_the_journey_are_counted_as_sent(scrapes: dict[str, str]) -> None:
    sent = [
        value
        for labels, value in series(scrapes["notifications"], "emk_deliveries_total")
        if labels["channel"] == "sms" and labels["outcome"] == "sent"
    ]
    # The codes of registration and login, the approval's SMS.
    assert len(sent) == 1, sent
    assert sent[0] >= 3, sent


@pytest.mark.parametrize("service", SERVICES)
def test_the_outbox_backlog_is_exported_per_collection(
    scrapes: dict[str, str], service: str
) -> None:
    pending = series(scrapes[service], "emk_outbox_pending_events")
    assert {labels["collection"] for labels, _ in pending} == OUTBOXES[service]
    ages = series(scrapes[service], "emk_outbox_oldest_age_seconds")
    assert {labels["collection"] for labels, _ in ages} == OUTBOXES[service]
    # The relay keeps up: nothing waits long (it looks again every few seconds).
    assert all(age < 60 for _, age in ages), ages


def test_the_schedulers_and_the_consumers_report_their_lag(scrapes: dict[str, str]) -> None:
    lags = {
        (service, labels["scheduler"])
        for service in ("notifications", "applications", "records")
        for labels, _ in series(scrapes[service], "emk_scheduler_lag_seconds")
    }
    assert {
        ("notifications", "dispatcher"),
        ("notifications", "reminders"),
        ("applications", "deadlines"),
        ("records", "validity"),
    } <= lags
    consumer = series(scrapes["notifications"], "emk_consumer_lag")
    assert consumer, "notifications consumes several topics: their partitions have a lag"
    assert all(value >= 0 and labels["partition"].isdigit() for labels, value in consumer)


async def test_metrics_are_not_served_through_the_gateway(platform: Stack) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.get(f"{platform.gateway_url}/metrics")
        assert answer.status_code == 404
