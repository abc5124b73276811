"""What the owner sees of their account: masked identifiers, and the personal data's members
only once it is entered."""

from __future__ import annotations

from .conftest import Identity
from .test_login import P, auth, ready_citizen, sign_in
from .test_staff import PERSONAL_DATA

ALWAYS = {
    "user_id", "role", "status", "status_label", "last_name", "first_name", "middle_name",
    "birth_date", "sex", "phone", "email", "snils", "contacts_verified", "two_factor",
    "organization_id",
}  # fmt: skip


async def test_the_profile_masks_identifiers_and_grows_with_personal_data(
    identity: Identity, ip: str
) -> None:
    async with identity.client(ip) as http:
        data, user_id = await ready_citizen(identity, http)
        tokens = await sign_in(identity, http, data)
        before = (await http.get(f"{P}/me", headers=auth(tokens["access_token"]))).json()
        saved = await http.put(
            f"{P}/me/personal-data", headers=auth(tokens["access_token"]), json=PERSONAL_DATA
        )
        assert saved.status_code == 200, saved.text
        after = (await http.get(f"{P}/me", headers=auth(tokens["access_token"]))).json()
    assert set(before) == ALWAYS
    assert before["user_id"] == user_id
    assert before["status"] == "pending_personal_data"
    assert before["birth_date"] == data["birth_date"]
    assert before["phone"] == f"+7 {data['phone'][2:5]} ***-**-{data['phone'][-2:]}"
    assert before["email"].endswith("@example.ru")
    assert before["email"].startswith(data["email"][0] + "***@")
    assert before["contacts_verified"] == {"sms": True, "email": True}
    assert before["two_factor"] == "sms"
    assert before["organization_id"] is None
    assert set(after) == ALWAYS | {"passport", "oms_policy", "inn"}
    assert after["passport"] == {"series": "**09", "number": "****56"}
    assert after["oms_policy"] is None
    assert after["inn"] is None
    assert after["status"] == "ready"
