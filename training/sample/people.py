"""Simulated people and the customer records the retailer's systems hold about them.

Each person gets identifiers that are unique by construction (derived from the person's global
index through injective maps), so the ground truth is clean: two people never share a loyalty id,
an email or a phone line. What *is* messy is how they are written: emails in mixed case with
stray whitespace, phones with and without country code, loyalty ids with spaces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from training.sample import vocab
from training.sample.catalog import STYLE_DIM

TOPS: tuple[str, ...] = tuple(dict.fromkeys(t.top for t in vocab.TYPES))
COUNTRY_STORES = {c: [i for i, s in enumerate(vocab.STORES) if s[3] == c] for c in vocab.COUNTRY_SHARE}


@dataclass
class Person:
    """A shopper: taste, habits, identifiers, and which systems know them."""

    index: int
    person_id: str
    country: str
    home_store: int
    fav_tops: np.ndarray  # indices into TOPS
    fav_weights: np.ndarray
    fav_brand: dict[str, str]
    price_beta: float
    style: np.ndarray
    trips_per_month: float
    channel_p: np.ndarray  # over ("store", "web", "app")
    fav_cum: np.ndarray
    channel_cum: np.ndarray
    loyalty_id: str | None
    loyalty_written: tuple[str, ...]
    emails: list[tuple[str, ...]]  # per email: its written variants (first is the canonical one)
    phones: list[tuple[str, ...]]  # per phone line: written variants; a second line = changed phone
    has_loyalty: bool
    has_web: bool
    has_app: bool
    web_email: int | None
    app_email: int | None
    consent_email: int | None  # which email gets campaigns
    unsubscribed_at: float | None  # epoch seconds
    used: set[tuple[str, str]] = field(default_factory=set)

    def email(self, rng: np.random.Generator, which: int | None = None) -> str | None:
        if not self.emails:
            return None
        variants = self.emails[0 if which is None else which]
        value = variants[int(rng.integers(len(variants)))]
        self.used.add(("email", value))
        return value

    def phone(self, rng: np.random.Generator, line: int | None = None) -> str | None:
        if not self.phones:
            return None
        variants = self.phones[len(self.phones) - 1 if line is None else line]
        value = variants[int(rng.integers(len(variants)))]
        self.used.add(("phone", value))
        return value

    def loyalty(self, rng: np.random.Generator) -> str | None:
        if not self.loyalty_id:
            return None
        value = self.loyalty_written[0] if rng.random() < 0.85 else self.loyalty_written[-1]
        self.used.add(("loyalty_id", value))
        return value


def _scramble(slot: int, modulus: int, mult: int, add: int) -> int:
    """Injective map of ``slot`` into [0, modulus): ``mult`` is coprime with ``modulus``."""
    return (slot * mult + add) % modulus


def _phone_variants(country: str, digits8: int, rng: np.random.Generator) -> tuple[str, ...]:
    d = f"{digits8:08d}"
    if country == "BR":
        area = ("11", "21", "31", "41", "51", "61")[digits8 % 6]
        forms = (
            f"+55 {area} 9{d[:4]}-{d[4:]}",
            f"({area}) 9{d[:4]}-{d[4:]}",
            f"0{area}-9{d[:4]}-{d[4:]}",
            f"55{area}9{d}",
        )
    elif country == "IN":
        forms = (f"+91 98{d[:3]} {d[3:]}", f"098{d}", f"98{d[:3]}-{d[3:]}", f"+9198{d}")
    else:
        forms = (
            f"+1 (41{d[0]}) {d[1:4]}-{d[4:]}",
            f"41{d[0]}-{d[1:4]}-{d[4:]}",
            f"(41{d[0]}) {d[1:4]} {d[4:]}",
            f"141{d}",
        )
    k = int(rng.integers(1, 3))
    picked = rng.choice(len(forms), size=k, replace=False)
    return tuple(forms[i] for i in picked)


def _email_variants(canonical: str, rng: np.random.Generator) -> tuple[str, ...]:
    local, domain = canonical.split("@")
    messy = (
        canonical.upper(),
        f" {canonical}",
        f"{canonical} ",
        ".".join(p.capitalize() for p in local.split(".")) + "@" + domain,
        ".".join(p.capitalize() for p in local.split(".")) + "@" + domain.capitalize(),
    )
    variants = [canonical]
    if rng.random() < 0.6:
        variants.append(messy[int(rng.integers(len(messy)))])
    return tuple(variants)


def make_person(index: int, rng: np.random.Generator, start: datetime, end: datetime) -> Person:
    """One person with taste, habits and identifiers; ``index`` is global and makes ids unique."""
    countries = list(vocab.COUNTRY_SHARE)
    country = countries[int(rng.choice(len(countries), p=list(vocab.COUNTRY_SHARE.values())))]
    home_store = int(rng.choice(COUNTRY_STORES[country]))
    n_fav = int(rng.integers(2, 4))
    fav_tops = rng.choice(len(TOPS), size=n_fav, replace=False)
    fav_weights = rng.dirichlet(np.ones(n_fav) * 3.0)
    fav_brand = {}
    for ti in fav_tops:
        top = TOPS[ti]
        brands = [b[0] for b in vocab.BRANDS if top in b[2]]
        fav_brand[top] = brands[int(rng.integers(len(brands)))]
    first = vocab.FIRST_NAMES[country][int(rng.integers(20))]
    last = vocab.LAST_NAMES[country][int(rng.integers(15))]

    persona = rng.choice(["store", "omni", "online"], p=[0.35, 0.4, 0.25])
    has_loyalty = bool(rng.random() < {"store": 0.88, "omni": 0.78, "online": 0.35}[persona])
    has_web = bool(rng.random() < {"store": 0.05, "omni": 0.55, "online": 0.65}[persona])
    has_app = bool(rng.random() < {"store": 0.0, "omni": 0.3, "online": 0.4}[persona])
    guest_online = persona != "store" and not has_web and not has_app
    channel_p = {
        "store": np.array([1.0, 0.0, 0.0]),
        "omni": np.array([0.42, 0.36, 0.22]),
        "online": np.array([0.12, 0.5, 0.38]),
    }[persona].copy()
    if not has_app:
        channel_p[1] += channel_p[2]
        channel_p[2] = 0.0
    if persona == "store" and rng.random() < 0.2:  # occasional guest web order
        channel_p = np.array([0.85, 0.15, 0.0])
        guest_online = not has_web
    channel_p = channel_p / channel_p.sum()

    loyalty_id = None
    loyalty_written: tuple[str, ...] = ()
    if has_loyalty or has_app:
        n = _scramble(index, 10**9, 387_420_489, 123_456_789)
        loyalty_id = f"LY{n:09d}"
        loyalty_written = (
            loyalty_id,
            f"ly {n:09d}" if rng.random() < 0.5 else f"LY {n // 10**5:04d} {n % 10**5:05d}",
        )

    emails: list[tuple[str, ...]] = []
    if has_web or has_app or guest_online or (has_loyalty and rng.random() < 0.4):
        domain = vocab.EMAIL_DOMAINS[country][int(rng.integers(len(vocab.EMAIL_DOMAINS[country])))]
        emails.append(_email_variants(f"{first}.{last}{index}@{domain}".lower(), rng))
        if rng.random() < 0.2:
            work = vocab.WORK_DOMAINS[int(rng.integers(len(vocab.WORK_DOMAINS)))]
            emails.append(_email_variants(f"{first[0]}{last}.{index}@{work}".lower(), rng))

    phones: list[tuple[str, ...]] = []
    if rng.random() < 0.85:
        phones.append(_phone_variants(country, _scramble(2 * index, 10**8, 48_828_127, 7_654_321), rng))
        if rng.random() < 0.1:
            phones.append(
                _phone_variants(country, _scramble(2 * index + 1, 10**8, 48_828_127, 7_654_321), rng)
            )

    web_email = 0 if has_web and emails else None
    app_email = int(rng.integers(len(emails))) if has_app and emails else None
    consent_email = int(rng.integers(len(emails))) if emails and rng.random() < 0.6 else None
    span = (end - start).total_seconds()
    unsub = start.timestamp() + float(rng.uniform(0, span)) if emails and rng.random() < 0.05 else None
    return Person(
        index=index,
        person_id=f"P{index + 1:07d}",
        country=str(country),
        home_store=home_store,
        fav_tops=fav_tops,
        fav_weights=fav_weights,
        fav_brand=fav_brand,
        price_beta=float(rng.gamma(2.0, 0.6)),
        style=rng.normal(0.0, 1.0, STYLE_DIM),
        trips_per_month=float(rng.lognormal(np.log(1.0), 0.7)),
        channel_p=channel_p,
        fav_cum=np.cumsum(fav_weights),
        channel_cum=np.cumsum(channel_p),
        loyalty_id=loyalty_id,
        loyalty_written=loyalty_written,
        emails=emails,
        phones=phones,
        has_loyalty=has_loyalty,
        has_web=has_web and bool(emails),
        has_app=has_app and bool(emails),
        web_email=web_email,
        app_email=app_email,
        consent_email=consent_email,
        unsubscribed_at=unsub,
    )


def customer_records(p: Person, rng: np.random.Generator, start: datetime) -> list[dict]:
    """The records each system holds: loyalty card, web account, app account (CUSTOMERS schema)."""
    out = []
    base = start.timestamp()

    def created() -> datetime:
        return datetime.fromtimestamp(base - float(rng.uniform(30, 1500)) * 86400, tz=start.tzinfo).replace(
            microsecond=0
        )

    if p.has_loyalty:
        # Loyalty desks take a phone; an email only sometimes, never necessarily the web one.
        email = None
        if p.emails and rng.random() < 0.35:
            email = p.email(rng, len(p.emails) - 1)
        out.append(
            dict(
                record_id=f"LOY-{p.index + 1:07d}",
                source="loyalty",
                loyalty_id=p.loyalty(rng),
                email=email,
                phone=p.phone(rng, 0),
                email_consent=bool(email and p.consent_email is not None),
                home_store_id=vocab.STORES[p.home_store][0],
                created_at=created(),
            )
        )
    if p.has_web:
        out.append(
            dict(
                record_id=f"WEB-{p.index + 1:07d}",
                source="web",
                loyalty_id=None,
                email=p.email(rng, p.web_email),
                phone=None,
                email_consent=p.consent_email is not None,
                home_store_id=None,
                created_at=created(),
            )
        )
    if p.has_app:
        out.append(
            dict(
                record_id=f"APP-{p.index + 1:07d}",
                source="app",
                loyalty_id=p.loyalty(rng),
                email=p.email(rng, p.app_email),
                phone=None,
                email_consent=p.consent_email is not None,
                home_store_id=vocab.STORES[p.home_store][0],
                created_at=created(),
            )
        )
    return out
