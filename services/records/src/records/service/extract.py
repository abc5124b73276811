"""The printable extract: the holder's book on paper, with the QR of a share code made for it.

Each extract gets a new code (through the share use case, so the limit of live codes, the
``BookShared`` event and the holder's list of codes apply to it as to any other): the holder
sees it among their codes, with its checks, and can revoke it when the paper is lost.
"""

from __future__ import annotations

from emk_common.auth import Principal
from records.domain.extract import Extract, extract_of
from records.service.sharing import Sharing

# How long the code printed on an extract lets its reader check the book: a month, after
# which a paper kept in a file should not be taken for a valid book without a new one.
EXTRACT_SHARE_DAYS = 30


class Extracting(Sharing):
    async def extract(self, who: Principal) -> Extract:
        """What the holder's extract prints now, with a new share code (no employer)."""
        book = await self.own_book(who, records=True)
        made = await self.share_book(book, employer_inn=None, days=EXTRACT_SHARE_DAYS)
        return extract_of(book, made, url=self.check_url(made.code), now=self.clock())
