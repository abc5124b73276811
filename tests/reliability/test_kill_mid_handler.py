"""A service killed outright (``kill -9``) while it is handling a status change loses nothing
and doubles nothing: once the supervision has brought it back, every SMS of the journey has
reached the citizen exactly once.

The kills land at points the test makes sure of, not by luck of timing (identity or Kafka
frozen with SIGSTOP holds the victim at the point, and the test checks it was there):

- notifications the moment its consumer's handler has committed the SMS to send (identity
  frozen, so the dispatcher cannot have sent it): the offset commit may or may not have
  followed — if not, the event comes again after the restart and the inbox drops it — and
  the staged SMS is sent by the restarted dispatcher, once;
- notifications while its dispatcher holds a claimed delivery mid-send (identity frozen: it
  waits for the contacts, so it dies before it could send): the claim's lease lapses and the
  restarted dispatcher sends it, once;
- applications right after a state change's request returned, its relay connected and woken
  by the commit — while the relay publishes — and after a state change committed with Kafka
  frozen, so its event cannot have left the outbox: the restarted relay publishes what is
  still there, perhaps a second time, and notifications' inbox drops the copy.

One stack for the module, with ``Stack.supervise`` (what ``make run`` runs) in a thread.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from emk_common.outbox import PENDING_FIELD
from emk_devstack.demo import Journey
from emk_devstack.stack import Ports, Stack
from emk_testing import eventually

from .support import (
    Doc,
    back,
    citizen_with_a_draft,
    consuming,
    frozen,
    operator_token,
    patient,
    pid_of,
    told_exactly_once,
)

pytestmark = pytest.mark.integration  # starts its own stack

# A claimed delivery is sent again only once its lease lapses (60 s by default, to outlast
# the slowest send); shorter here so the dispatcher killed mid-send is taken over soon.
LEASE_SECONDS = "10"
CODE = "one_time_code"  # the kind of a delivery that carries a login code


@dataclass
class Platform:
    stack: Stack
    journey: Journey
    mongo: AsyncMongoClient[Doc]
    operator: str
    log: list[str]


@pytest.fixture(scope="module")
def supervised(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, list[str]]]:
    log: list[str] = []
    var_dir = tmp_path_factory.mktemp("kill") / "var"
    with pytest.MonkeyPatch.context() as env:
        # Read by every (re)start of notifications: the supervision's too.
        env.setenv("NOTIFICATIONS_DELIVERY_LEASE_SECONDS", LEASE_SECONDS)
        with Stack(var_dir, Ports.free(), kafka_storage="s3", log=log.append) as stack:
            stack.start()
            stop = threading.Event()
            supervising = threading.Thread(target=stack.supervise, args=(stop,), daemon=True)
            supervising.start()
            try:
                yield stack, log
            finally:
                stop.set()
                supervising.join(30)


@pytest.fixture(scope="module")
async def platform(supervised: tuple[Stack, list[str]]) -> AsyncIterator[Platform]:
    stack, log = supervised
    journey = await patient(Journey.on(stack, lambda _: None))
    mongo: AsyncMongoClient[Doc] = AsyncMongoClient(stack.env["MONGODB_URI"], tz_aware=True)
    try:
        yield Platform(stack, journey, mongo, await operator_token(journey), log)
    finally:
        await journey.http.aclose()
        await mongo.close()


def kill(stack: Stack, name: str) -> int:
    pid = pid_of(stack, name)
    os.kill(pid, signal.SIGKILL)
    return pid


async def test_notifications_killed_while_handling_a_status_change(platform: Platform) -> None:
    stack, journey, mongo = platform.stack, platform.journey, platform.mongo
    citizen = await citizen_with_a_draft(journey, stack.var_dir)
    application = f"/{citizen.draft_id}"
    deliveries = mongo["emk_notifications"]["deliveries"]
    sms_of_the_person: Doc = {"user_id": citizen.user_id, "channel": "sms", "kind": {"$ne": CODE}}

    # Identity frozen: the dispatcher cannot learn the contacts, so it sends nothing; the kill
    # comes as soon as the consumer's handler has committed the SMS to send — before the
    # offset commit that follows, or with it (then the event comes again after the restart,
    # and the inbox has to drop it).
    await consuming(stack, "notifications")
    with frozen(stack, "identity"):
        await journey.call("POST", "applications", f"{application}/submit", token=citizen.token)

        async def staged() -> list[Doc]:
            return await deliveries.find(sms_of_the_person).to_list()

        [first] = await eventually(staged, within=30, interval=0.01, what="the SMS staged")
        killed = kill(stack, "notifications")
    await back(stack, "notifications", killed)
    after = await deliveries.find_one({"_id": first["_id"]})
    assert after is not None
    assert after["attempts"] == [], "sent before the kill: nothing was tested"
    await consuming(stack, "notifications")  # its groups joined again: it hears the next event

    # Identity frozen again: the dispatcher that claims the next SMS waits for the contacts,
    # so it dies holding the claim, before it could send; the lease lapses, the restarted
    # dispatcher takes it over.
    with frozen(stack, "identity"):
        taken = await journey.call(
            "POST", "applications", f"{application}/take", token=platform.operator
        )
        assert taken["status"] == "in_review"

        async def claimed() -> list[Doc]:
            now = datetime.now(UTC)
            return await deliveries.find({
                **sms_of_the_person, "_id": {"$ne": first["_id"]}, "state": "pending",
                "claimed_until": {"$gt": now},
            }).to_list()  # fmt: skip

        [held] = await eventually(claimed, within=30, interval=0.01, what="the SMS claimed")
        killed = kill(stack, "notifications")
    await back(stack, "notifications", killed)
    after = await deliveries.find_one({"_id": held["_id"]})
    assert after is not None
    assert after["attempts"] == [], "sent before the kill: nothing was tested"

    final = await journey.call("GET", "applications", application, token=citizen.token)
    assert statuses(final) == ["submitted", "in_review"]
    await told_exactly_once(stack, mongo, citizen.phone, citizen.user_id, final)
    assert crashes(platform.log, "notifications service") == 2
    # Whether the first kill beat the offset commit is the race the inbox is there for; say.
    metrics = await journey.http.get(f"{stack.service_url('notifications')}/metrics")
    dropped = [n for n in metrics.text.splitlines() if n.startswith("emk_inbox_duplicates")]
    print("redelivered events the inbox dropped:", dropped[-1:] or "none")


async def test_applications_killed_between_its_commit_and_the_publish(
    platform: Platform,
) -> None:
    stack, journey, mongo, operator = (
        platform.stack, platform.journey, platform.mongo, platform.operator,
    )  # fmt: skip
    # The test before may have left notifications rejoining its group after a kill: the
    # login code below is its to send.
    await consuming(stack, "notifications")
    citizen = await citizen_with_a_draft(journey, stack.var_dir)
    application = f"/{citizen.draft_id}"
    await journey.call("POST", "applications", f"{application}/submit", token=citizen.token)
    await journey.call("POST", "applications", f"{application}/take", token=operator)

    # Everything running, its relay connected: killed while the relay publishes the event of
    # the state change just committed (woken by the commit, it is on its way).
    await consuming(stack, "applications")
    asked = await journey.call(
        "POST", "applications", f"{application}/request-clarification", token=operator,
        json={"comment": "Уточните, пожалуйста, должность."},
    )  # fmt: skip
    assert asked["status"] == "clarification_requested"
    await back(stack, "applications", kill(stack, "applications"))

    # Kafka frozen: the state change commits, its event cannot leave the outbox — whether the
    # relay is already trying to publish it or not, it dies before it could.
    with frozen(stack, "kafka"):
        answered = await journey.call(
            "POST", "applications", f"{application}/resubmit", token=citizen.token,
            json={"comment": "Повар горячего цеха."},
        )  # fmt: skip
        assert answered["status"] == "in_review"
        pending = await mongo["emk_applications"]["applications"].count_documents(
            {"_id": citizen.draft_id, PENDING_FIELD: {"$exists": True}}
        )
        killed = kill(stack, "applications")
    assert pending == 1, "the event left the outbox with Kafka frozen"
    await back(stack, "applications", killed)

    final = await journey.call("GET", "applications", application, token=citizen.token)
    assert statuses(final) == ["submitted", "in_review", "clarification_requested", "in_review"]
    await told_exactly_once(stack, mongo, citizen.phone, citizen.user_id, final)
    assert crashes(platform.log, "applications service") == 2


def statuses(application: dict[str, Any]) -> list[str]:
    """The status changes of its history (a draft's edits are history entries too)."""
    return [h["status"] for h in application["history"] if h["status"] != "draft"]


def crashes(log: list[str], label: str) -> int:
    return len([m for m in log if m.startswith(f"{label} was killed by SIGKILL")])
