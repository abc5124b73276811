"""The message templates, for admins (``/api/v1/notifications/templates``): the list, and a
preview of one rendered with sample values (``domain/templates/``).

A preview renders nothing real: the samples fill whatever the request does not give, and a
one-time code is always the sample (a ``code`` in the request is refused).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, JsonValue

from emk_common.auth import Principal, require_roles
from emk_common.field_errors import FieldError, RequestBody, field_message
from emk_common.problems import Problem, problem_responses
from notifications.domain import templates
from notifications.domain.templates.model import Sample, Template

router = APIRouter(prefix="/api/v1/notifications/templates", tags=["templates"])

Admin = Annotated[Principal, Depends(require_roles("admin"))]


class VariableView(BaseModel):
    name: str
    description: str
    type: str = Field(
        description="text, optional_text (or null), text_list, date (2027-03-12), "
        "datetime (with its offset), integer"
    )
    sample: Sample
    secret: bool = Field(description="Never taken from a preview request: the sample is used.")


class TemplateView(BaseModel):
    name: str
    channel: templates.Channel
    version: int
    description: str
    variables: list[VariableView]

    @classmethod
    def of(cls, template: Template) -> TemplateView:
        return cls(
            name=template.name,
            channel=template.channel,
            version=template.version,
            description=template.description,
            variables=[
                VariableView(
                    name=name,
                    description=variable.description,
                    type=variable.kind.value,
                    sample=variable.sample,
                    secret=variable.secret,
                )
                for name, variable in template.variables.items()
            ],
        )


class TemplateListView(BaseModel):
    items: list[TemplateView]


class PreviewBody(RequestBody):
    channel: Literal["in_app", "sms", "email"] | None = Field(
        default=None, description="One channel; all of the template's if absent."
    )
    variables: dict[str, JsonValue] = Field(
        default_factory=dict, description="Values by name; the samples fill the rest."
    )


class RenderedView(BaseModel):
    channel: templates.Channel
    version: int
    title: str | None = Field(description="In-app only.")
    subject: str | None = Field(description="E-mail only.")
    text: str
    html: str | None = Field(description="E-mail only: the same letter as HTML.")


class PreviewView(BaseModel):
    name: str
    items: list[RenderedView]


@router.get("", responses=problem_responses(401, 403))
async def list_templates(who: Admin) -> TemplateListView:
    """Every message's template per channel, with its version and declared variables."""
    return TemplateListView(items=[TemplateView.of(t) for t in templates.TEMPLATES])


@router.post("/{name}/preview", responses=problem_responses(401, 403, 404, 422))
async def preview(name: str, body: PreviewBody, who: Admin) -> PreviewView:
    """The template rendered over each of its channels (or the one asked), the samples
    filling what ``variables`` does not give."""
    try:
        rendered = templates.preview(name, body.variables, body.channel)
    except templates.UnknownTemplateError:
        raise Problem.not_found(f"Шаблон «{name}» не найден.") from None
    except templates.NoSuchChannelError as exc:
        reason = f"у шаблона «{name}» нет канала {exc.channel}"
        error = FieldError(field="channel", code="choice", message=field_message("channel", reason))
        raise Problem.validation([error]) from None
    except templates.VariablesError as exc:
        errors = [
            FieldError.of(f"variables.{problem.name}", problem.code, problem.reason)
            for problem in exc.problems
        ]
        raise Problem.validation(errors, "Проверьте переменные шаблона.") from None
    return PreviewView(
        name=name,
        items=[
            RenderedView(
                channel=template.channel,
                version=template.version,
                title=shown.title,
                subject=shown.subject,
                text=shown.text,
                html=shown.html,
            )
            for template, shown in rendered
        ],
    )
