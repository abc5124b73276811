"""``DeliverOtp`` (on ``emk.notifications.commands``) → one pending one-time-code delivery.

Runs inside the inbox transaction, so a redelivered command creates nothing new. It sends
nothing and opens nothing: the delivery keeps the command's sealed box (encrypted to this
service's own key — as safe as the Kafka record it came in), and the dispatcher opens it
in memory only to send, after the commit, with quick retries. An already expired command
is recorded as ``expired`` and never reaches the dispatcher.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from pymongo.asynchronous.client_session import AsyncClientSession

from emk_common.catalog import DeliverOtp
from emk_common.clock import Clock, utc_now
from emk_common.events import Envelope
from emk_common.inbox import after_commit
from notifications.domain.retry import State
from notifications.store import ONE_TIME_CODE, SEALED, Deliveries

log = logging.getLogger(__name__)


class OtpDelivery:
    def __init__(
        self,
        deliveries: Deliveries,
        *,
        deliveries_staged: Callable[[], None],
        clock: Clock = utc_now,
    ) -> None:
        self.deliveries = deliveries
        self._deliveries_staged = deliveries_staged
        self.clock = clock

    async def handle(
        self, command: DeliverOtp, envelope: Envelope, session: AsyncClientSession
    ) -> None:
        now = self.clock()
        delivery_id = uuid.uuid4().hex
        delivery = Deliveries.pending(
            delivery_id=delivery_id,
            channel=command.channel,
            user_id=command.user_id,
            # As before: a code's NotificationSent/Failed names its delivery.
            notification_id=delivery_id,
            now=now,
            kind=ONE_TIME_CODE,
            purpose=command.purpose,
            # The id of the event carrying the box: its associated data.
            trigger_event_id=envelope.id,
            expires_at=command.expires_at,
        )
        if command.expires_at <= now:
            log.info(
                "one-time code expired before delivery; dropped", extra={"event_id": envelope.id}
            )
            delivery.update(state=State.EXPIRED.value, next_attempt_at=None, finished_at=now)
            await self.deliveries.add_pending([delivery], session)
            return
        delivery[SEALED] = command.sealed.model_dump()
        await self.deliveries.add_pending([delivery], session)
        after_commit(self._deliveries_staged)
