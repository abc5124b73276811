"""Settings of the documents service (environment prefix ``DOCUMENTS_``)."""

from __future__ import annotations

from typing import ClassVar

from emk_common.settings import ServiceSettings


class DocumentsSettings(ServiceSettings):
    service_name: ClassVar[str] = "documents"
