"""The use cases of the records service: load the book, decide with the domain, write the
change conditionally on the version it was decided on, call the ports. One entry class,
``Records``, grouped by use case: issuing (``issuing.py``), access — visit codes, grants,
lookups (``access.py``) —, signed records and signing keys (``signed.py``), reading
(``reading.py``), share codes and the public check (``sharing.py``), the printable extract
(``extract.py``), the FHIR export (``exporting.py``), over what they share (``core.py``).
Refusals become ``Problem`` here.

Access (DOMAIN.md, API.md): the holder sees their own book; a medical worker sees a book
only while a lookup (СНИЛС and number, or a visit code) has opened it to their organisation;
an operator sees its status and due dates with a stated reason; nobody else sees anything.
Whatever is not yours is a 404, what your role may not do a 403. Every access by someone
other than the holder goes into the access log the holder reads.
"""

from __future__ import annotations

from records.service.access import Access, VisitCode
from records.service.exporting import Exporting
from records.service.extract import Extracting
from records.service.issuing import Issuing
from records.service.reading import STATUS_READING, Reading
from records.service.sharing import EmployerItem, Sharing
from records.service.signed import Signed

__all__ = ["STATUS_READING", "EmployerItem", "Records", "VisitCode"]


class Records(Issuing, Exporting, Access, Signed, Reading, Extracting, Sharing):
    """The records service's use cases (``app.build`` makes the one instance)."""
