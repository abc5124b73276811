"""Settings of the applications service (environment prefix ``APPLICATIONS_``)."""

from __future__ import annotations

from typing import ClassVar

from emk_common.settings import ServiceSettings


class ApplicationsSettings(ServiceSettings):
    service_name: ClassVar[str] = "applications"
