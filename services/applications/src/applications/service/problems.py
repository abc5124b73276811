"""The domain's and the ports' refusals, as the API answers them: the one place where they
become problems."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from applications.domain.parts import DocumentsNotVerifiedError, HeldByAnotherError
from applications.domain.statuses import TransitionNotAllowedError
from applications.domain.vocabulary import DOCUMENT_LABELS
from applications.ports import PeerUnavailableError, SignedOutError
from emk_common.auth import PersonalData
from emk_common.problems import Problem

_NOT_FOUND = "Заявление не найдено."
POLICY = PersonalData(
    what="к заявлению",
    not_found=_NOT_FOUND,
    admin_refused="Администратор не просматривает заявления граждан.",
)
_PEERS = {"identity": "Сервис учётных записей", "documents": "Сервис документов"}


def not_found() -> Problem:
    return Problem.not_found(_NOT_FOUND)


def no_comment() -> Problem:
    """No change at that place of the history, or one without a comment."""
    return Problem.not_found("Комментарий к изменению заявления не найден.")


@contextlib.contextmanager
def problems() -> Iterator[None]:
    """The domain's and the ports' refusals, as the API answers them."""
    try:
        yield
    except TransitionNotAllowedError as refused:
        raise Problem.conflict(refused.message, current_state=str(refused.current)) from None
    except HeldByAnotherError as held:
        raise Problem.conflict(
            "Заявление в работе у другого оператора.", current_state=str(held.status)
        ) from None
    except DocumentsNotVerifiedError as waiting:
        raise Problem.conflict(
            "Одобрить можно, только когда все прикреплённые документы подтверждены. "
            "Не подтверждены: " + ", ".join(DOCUMENT_LABELS[k] for k in waiting.kinds) + ".",
            current_state="documents_not_verified",
        ) from None
    except SignedOutError:
        raise Problem(401, code="unauthorized", detail="Войдите в систему заново.") from None
    except PeerUnavailableError as down:
        raise Problem.unavailable(
            f"{_PEERS[down.peer]} временно недоступен, изменения не сохранены. Попробуйте позже.",
            retry_after_seconds=10,
        ) from None
