"""Settings of the identity service (environment prefix ``IDENTITY_``)."""

from __future__ import annotations

from typing import ClassVar

from emk_common.settings import ServiceSettings


class IdentitySettings(ServiceSettings):
    service_name: ClassVar[str] = "identity"
