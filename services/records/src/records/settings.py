"""Settings of the records service (environment prefix ``RECORDS_``)."""

from __future__ import annotations

from typing import ClassVar

from emk_common.settings import ServiceSettings


class RecordsSettings(ServiceSettings):
    service_name: ClassVar[str] = "records"
