"""The password adapter: argon2id, counted verifications, re-hashing on new parameters."""

from __future__ import annotations

from identity.adapters.passwords import Argon2Passwords as Passwords


def test_passwords_are_argon2id_verified_counted_and_rehashed_on_new_parameters() -> None:
    weak = Passwords(time_cost=1, memory_cost_kib=8192)
    hashed = weak.hash("Правильный-пароль-1")
    assert hashed.startswith("$argon2id$")
    assert weak.verify(hashed, "Правильный-пароль-1")
    assert not weak.verify(hashed, "неправильный")
    assert not weak.verify_dummy("что угодно")
    assert weak.verifications == 3
    assert not weak.needs_rehash(hashed)
    assert Passwords(time_cost=2, memory_cost_kib=8192).needs_rehash(hashed)
