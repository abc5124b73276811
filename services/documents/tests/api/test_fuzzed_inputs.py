"""What the contract fuzzer (``tests/contracts/test_fuzz.py``) found, kept fixed: input the
schema let through and the code choked on is a 422 naming the field, never a 500."""

from __future__ import annotations

from documents.api.routes import MAX_OFFSET

from .conftest import DocumentsApp, Person, citizen

URL = "/api/v1/documents"
OPERATOR = Person("operator-1", "operator")


async def test_an_offset_past_64_bits_is_a_422_naming_offset(documents: DocumentsApp) -> None:
    """It was a 500: MongoDB's skip takes 64 bits and the schema set no maximum."""
    who = citizen()
    async with documents.client() as http:
        huge = await http.get(URL, params={"offset": "99999999999999999999"}, headers=who.headers)
        past = await http.get(URL, params={"offset": MAX_OFFSET + 1}, headers=who.headers)
        deepest = await http.get(URL, params={"offset": MAX_OFFSET}, headers=who.headers)
    for refused in (huge, past):
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert [error["field"] for error in refused.json()["errors"]] == ["offset"]
    assert deepest.status_code == 200, deepest.text
    assert deepest.json()["items"] == []


async def test_a_json_body_that_is_not_utf8_is_a_422_naming_the_body(
    documents: DocumentsApp,
) -> None:
    """FastAPI answers a body it cannot decode with a bare 400 the contract does not know."""
    async with documents.client() as http:
        answer = await http.post(
            f"{URL}/{'0' * 32}/reject",
            headers={**OPERATOR.headers, "Content-Type": "application/json"},
            content=b'{"reason": "\xff\xfe"}',
        )
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["errors"] == [
        {"field": "body", "code": "invalid_json", "message": "Тело запроса — некорректный JSON"}
    ]


def test_the_upload_body_and_the_offset_bound_are_in_the_schema(documents: DocumentsApp) -> None:
    operations = documents.app.openapi()["paths"][URL]
    body = operations["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert body["required"] == ["file", "kind"]
    assert body["properties"]["file"]["format"] == "binary"
    for status in ("403", "413", "415", "422"):
        assert status in operations["post"]["responses"]
    offset = next(p for p in operations["get"]["parameters"] if p["name"] == "offset")
    assert offset["schema"]["maximum"] == MAX_OFFSET
