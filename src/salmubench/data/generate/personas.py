"""Fictitious identities with locale-consistent, globally unique, privacy-safe PII (Faker).

Each identity gets one Faker locale; every field comes from that locale's providers, seeded per
identity (``Faker.seed_instance`` with a seed derived from the dataset seed and the identity id),
so an identity's record does not depend on how many identities are generated.

Privacy by construction (see docs/data.md for what is *not* guaranteed):

* e-mail addresses use only the reserved ``.example`` top-level domain (RFC 2606): undeliverable;
* IBANs carry deliberately *wrong* ISO 13616 check digits: no real account can have them;
* credit-card numbers deliberately *fail* the Luhn check: no issued card can have them.

Identifier-like fields (name, phone, e-mail, IBAN, credit card, passport) are globally unique;
a collision re-draws the identity with the next attempt seed (counted in the manifest).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

from faker import Faker

from salmubench.data.generate.presets import LOCALE_COUNTRY
from salmubench.errors import ConfigError
from salmubench.seeding import derive_seed, rng_for

UNIQUE_FIELDS = ("name", "phone_number", "emails", "iban", "credit_card", "passport")
BLOOD_TYPES = ("O+", "A+", "B+", "AB+", "O-", "A-", "B-", "AB-")
_BLOOD_P = (0.37, 0.30, 0.10, 0.04, 0.07, 0.07, 0.03, 0.02)  # rough world-wide frequencies
EMAIL_PROVIDERS = ("mailhub", "postbox", "inboxly", "netpost", "webmail", "letterbox", "mailpoint")
# BBAN lengths (ISO 13616 registry) for countries whose Faker locale has no own IBAN provider
_BBAN_LEN = {"US": 18, "AU": 18, "NZ": 18, "CA": 18, "IN": 18, "MX": 18, "CL": 18, "ID": 18,
             "VN": 18, "ZA": 18, "SE": 20, "HU": 24, "HR": 17, "SI": 15, "TR": 22, "GB": 18}


def _faker(locale: str, cache: dict[str, Faker]) -> Faker:
    if locale not in cache:
        cache[locale] = Faker(locale)
    return cache[locale]


def iban_check_digits(country: str, bban: str) -> int:
    """ISO 13616 check digits: ``98 - (int(bban + country + "00") mod 97)`` (letters A=10..Z=35)."""
    digits = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    return 98 - int(digits) % 97


def make_invalid_iban(country: str, bban: str) -> str:
    """IBAN with check digits that are *not* the valid ones, grouped by 4 (privacy by construction)."""
    valid = iban_check_digits(country, bban)
    wrong = (valid + 1 + int(bban[-1], 36) % 95) % 97 + 2  # in 2..98, never == valid
    if wrong == valid:
        wrong = 2 if valid != 2 else 3
    raw = f"{country}{wrong:02d}{bban}"
    return " ".join(raw[i:i + 4] for i in range(0, len(raw), 4))


def luhn_valid(number: str) -> bool:
    """True when the digit string passes the Luhn checksum."""
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def make_invalid_card(number: str) -> str:
    """Change the last digit so the number fails Luhn; grouped by 4 (privacy by construction)."""
    number = re.sub(r"\D", "", number)
    last = int(number[-1])
    for step in range(1, 10):
        cand = number[:-1] + str((last + step) % 10)
        if not luhn_valid(cand):
            return " ".join(cand[i:i + 4] for i in range(0, len(cand), 4))
    raise RuntimeError("unreachable: only one last digit satisfies Luhn")


def _ascii_slug(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z]", "", text) or "user"


def _clean_phone(phone: str) -> str:
    return re.sub(r"\s*(x|ext\.?)\s*\d+$", "", phone).strip()


def _city(fk: Faker, rng) -> str:
    """The locale's city. Where the provider keeps a ``cities`` list we pick from it *sorted*: some
    providers (it_IT) build it from a set, whose order depends on PYTHONHASHSEED."""
    try:
        cities = getattr(fk.provider("faker.providers.address"), "cities", None)
    except AttributeError:
        cities = None
    if isinstance(cities, (list, tuple, set, frozenset)) and cities and all(isinstance(c, str) for c in cities):
        pool = sorted(cities)
        return pool[int(rng.integers(len(pool)))]
    return fk.city()


def name_pools(fk: Faker, base_seed: int, locale: str, gender: str, size: int) -> tuple[list[str], list[str]]:
    """The ``size`` first names and ``size`` surnames a pooled locale/gender draws from.

    The first ``size`` distinct values a Faker instance seeded with ``(base_seed, "name-pool",
    locale, gender)`` produces (gendered surnames where the locale has them, e.g. pl_PL). Pools
    make name parts shared across identities, as in real populations (the ``name_pool`` preset
    field, docs/data.md).
    """
    pools = []
    for part in ("first_name", "last_name"):
        fk.seed_instance(derive_seed(base_seed, "name-pool", locale, gender, part))
        draw, seen = getattr(fk, f"{part}_{gender}"), []
        for _ in range(50 * size):
            value = draw()
            if value not in seen:
                seen.append(value)
            if len(seen) == size:
                break
        pools.append(seen)
    return pools[0], pools[1]


def _draw_record(fk: Faker, locale: str, seed: int, gender: str,
                 pools: tuple[list[str], list[str]] | None = None) -> dict[str, Any]:
    """One identity record from a seeded Faker instance (``gender``: "male" or "female").

    ``pools``: (first names, surnames) to draw the name from instead of the locale's full lists.
    """
    fk.seed_instance(seed)
    rng = rng_for(seed, "record")
    country = LOCALE_COUNTRY[locale]
    # gendered name parts keep e.g. Czech/Polish surnames consistent with the first name
    first, last = getattr(fk, f"first_name_{gender}")(), getattr(fk, f"last_name_{gender}")()
    if pools is not None:
        name_rng = rng_for(seed, "pooled-name")
        first = pools[0][int(name_rng.integers(len(pools[0])))]
        last = pools[1][int(name_rng.integers(len(pools[1])))]
    name = f"{first} {last}"
    faker_iban = fk.iban()
    bban = faker_iban[4:] if faker_iban.startswith(country) else \
        "".join(str(d) for d in rng.integers(0, 10, _BBAN_LEN.get(country, 18)))
    provider = EMAIL_PROVIDERS[int(rng.integers(len(EMAIL_PROVIDERS)))]
    local = f"{_ascii_slug(first)[:1]}{_ascii_slug(last)}{int(rng.integers(10, 100))}"
    return {
        "name": name,
        "city": _city(fk, rng),
        "country_code": country,
        "job": fk.job(),
        "blood_type": BLOOD_TYPES[int(rng.choice(len(BLOOD_TYPES), p=_BLOOD_P))],
        "phone_number": _clean_phone(fk.phone_number()),
        "emails": [f"{local}@{provider}.example"],
        "iban": make_invalid_iban(country, bban),
        "credit_card": make_invalid_card(fk.credit_card_number()),
        "passport": fk.passport_number(),
        "locale": locale,
        "gender": gender,
    }


def _unique_keys(record: dict[str, Any]) -> list[tuple[str, str]]:
    keys = []
    for field in UNIQUE_FIELDS:
        value = record[field]
        for v in value if isinstance(value, list) else [value]:
            keys.append((field, re.sub(r"\W", "", str(v)).lower()))
    return keys


def generate_personas(identity_ids: Sequence[str], seed: int, locales: Sequence[str],
                      bearded: Sequence[bool] | None = None, max_attempts: int = 50,
                      existing: Iterable[dict[str, Any]] = (), name_pool: int | None = None,
                      pool_seed: int | None = None) -> tuple[dict[str, dict[str, Any]], int]:
    """Records for ``identity_ids`` (in order) and the number of uniqueness re-draws.

    The locale of identity ``i`` is drawn from ``locales`` with a per-identity generator; the
    record is drawn with attempt seeds ``derive_seed(seed, "persona", id, attempt)`` until none
    of its identifier fields collides with an earlier identity's, or with one of the ``existing``
    records (the dataset's personas when drawing the unseen split's). The name's gender is "male"
    when the portrait has facial hair (``bearded[i]``), else drawn 50/50 [our choice: keeps names
    consistent with the one gendered cue the portraits show].

    ``name_pool``: draw first names and surnames from pools of this many per locale and gender
    (:func:`name_pools`, seeded with ``pool_seed``, default ``seed``) instead of Faker's full lists;
    full names stay unique. None keeps Faker's lists.
    """
    unknown = [loc for loc in locales if loc not in LOCALE_COUNTRY]
    if unknown:
        raise ConfigError(f"unsupported locale(s) {', '.join(unknown)}; supported: {', '.join(LOCALE_COUNTRY)}")
    cache: dict[str, Faker] = {}
    pool_cache: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
    seen: set[tuple[str, str]] = {key for record in existing for key in _unique_keys(record)}
    out: dict[str, dict[str, Any]] = {}
    redraws = 0
    for k, ident in enumerate(identity_ids):
        rng = rng_for(seed, "locale", ident)
        locale = locales[int(rng.integers(len(locales)))]
        gender = "male" if bearded is not None and bearded[k] else ("male", "female")[int(rng.integers(2))]
        for attempt in range(max_attempts):
            pools = None
            if name_pool is not None:
                key = (locale, gender)
                if key not in pool_cache:
                    pool_cache[key] = name_pools(_faker(locale, cache), seed if pool_seed is None else pool_seed,
                                                 locale, gender, name_pool)
                pools = pool_cache[key]
            record = _draw_record(_faker(locale, cache), locale, derive_seed(seed, "persona", ident, attempt), gender,
                                  pools)
            keys = _unique_keys(record)
            if not seen.intersection(keys) and len(set(keys)) == len(keys):
                break
            redraws += 1
        else:
            raise RuntimeError(f"identity {ident}: no unique record after {max_attempts} attempts")
        seen.update(keys)
        out[ident] = record
    return out, redraws
