"""Shopper behaviour: turns a person into the events every channel logs about them.

The structure a recommender can learn is planted here on purpose and kept noisy: favourite
categories and brands, a latent style, price sensitivity, seasonality, sku-level co-purchase
bundles, replenishment cycles, cart abandonment and research-online-buy-in-store.
"""

from __future__ import annotations

import bisect
from datetime import datetime

import numpy as np
import pandas as pd

from training.sample import vocab
from training.sample.catalog import Catalog
from training.sample.people import COUNTRY_STORES, TOPS, Person
from training.sample.queries import log_query

DAY = 86400.0
Event = tuple[float, int, dict]


class World:
    """Everything the behaviour model reads, pre-arranged as arrays for fast per-choice scoring."""

    def __init__(
        self,
        catalog: Catalog,
        start: datetime,
        end: datetime,
        labelled: set[str],
        rng: np.random.Generator,
        bundles_per_template: int = 3,
    ) -> None:
        p = catalog.products
        self.start, self.end = start.timestamp(), end.timestamp()
        self.start_dt = start
        self.rows = list(
            p[["type_idx", "brand", "color", "target", "features", "model", "price"]].itertuples(index=False)
        )
        self.skus = p["sku"].to_numpy()
        self.price = p["price"].to_numpy()
        self.type_idx = p["type_idx"].to_numpy()
        self.brand = p["brand"].to_numpy(dtype=object)
        self.logpop = p["popularity"].to_numpy()
        self.style = catalog.style
        self.replenish = p["replenishment_days"].to_numpy(dtype=float)
        active = ~p["is_new"].to_numpy()
        log_price = np.log(self.price)
        self.relprice = np.zeros(len(p))
        self.type_items = []
        for t in range(len(vocab.TYPES)):
            items = np.flatnonzero((self.type_idx == t) & active)
            self.type_items.append(items)
            self.relprice[items] = log_price[items] - np.median(log_price[items])
        self.top_types = {
            top: np.array([i for i, t in enumerate(vocab.TYPES) if t.top == top]) for top in TOPS
        }
        self.season = np.array([t.season for t in vocab.TYPES])
        sku_pos = {s: i for i, s in enumerate(self.skus)}
        self.store_ids = catalog.stores["store_id"].tolist()
        self.carried = np.zeros((len(self.store_ids), len(p)), dtype=bool)
        inv = catalog.inventory
        for s_i, store_id in enumerate(self.store_ids):
            idx = [sku_pos[s] for s in inv.loc[inv["store_id"] == store_id, "sku"]]
            self.carried[s_i, idx] = True
        self.carried &= active
        self.web_ok = p["available_web"].to_numpy() & active
        self.app_ok = p["available_app"].to_numpy() & active
        self.market_ok = p["available_marketplace"].to_numpy() & active
        self.labelled = labelled
        self.type_companions: dict[int, list[int]] = {}
        for _, anchor, companions in vocab.BUNDLE_TEMPLATES:
            self.type_companions.setdefault(vocab.TYPE_INDEX[anchor], []).extend(
                vocab.TYPE_INDEX[c] for c in companions
            )
        self.everywhere = (p["available_store"] & p["available_web"] & p["available_app"]).to_numpy() & active
        self.bundles, self.bundle_table = self._plant_bundles(rng, bundles_per_template)
        catalog.inventory = self._stock_bundles(catalog.inventory, rng)
        self.campaigns = self._campaigns(rng)
        # Month boundaries (for seasonality) and per-month cumulative type weights within each top.
        self.month_starts, self.month_of = [], []
        d = start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        while d.timestamp() < self.end:
            self.month_starts.append(d.timestamp())
            self.month_of.append(d.month - 1)
            d = d.replace(year=d.year + (d.month == 12), month=d.month % 12 + 1)
        self.top_cum = {
            top: [np.cumsum(self.season[types, m]) / self.season[types, m].sum() for m in range(12)]
            for top, types in self.top_types.items()
        }
        self._candidates: dict[tuple[str, int], tuple] = {}
        self._masks = {"web": self.web_ok, "app": self.app_ok}
        self._masks.update({f"store{i}": self.carried[i] for i in range(len(self.store_ids))})

    def candidates(self, t: int, mask: str | None) -> tuple:
        """(items, logpop, brand, style, relprice) of type ``t`` sellable through ``mask``, cached."""
        key = (mask or "", t)
        hit = self._candidates.get(key)
        if hit is None:
            items = self.type_items[t]
            if mask is not None:
                sub = items[self._masks[mask][items]]
                items = sub if len(sub) else items
            hit = (
                items,
                0.8 * self.logpop[items],
                self.brand[items],
                0.35 * self.style[items],
                self.relprice[items],
            )
            self._candidates[key] = hit
        return hit

    def month(self, ts: float) -> int:
        return self.month_of[max(0, bisect.bisect_right(self.month_starts, ts) - 1)]

    def _plant_bundles(
        self, rng: np.random.Generator, per_template: int
    ) -> tuple[dict[int, list[int]], pd.DataFrame]:
        """Concrete sku bundles: a popular anchor and, per companion type, a matching companion."""
        bundles: dict[int, list[int]] = {}
        rows = []
        for name, anchor_path, companions in vocab.BUNDLE_TEMPLATES:
            items = self.type_items[vocab.TYPE_INDEX[anchor_path]]
            items = items[~np.isin(items, list(bundles)) & self.everywhere[items]]
            w = np.exp(self.logpop[items])
            anchors = rng.choice(items, size=min(per_template, len(items)), replace=False, p=w / w.sum())
            for k, a in enumerate(anchors):
                comps = []
                for c_path in companions:
                    c_items = self.type_items[vocab.TYPE_INDEX[c_path]]
                    c_items = c_items[self.everywhere[c_items]]
                    same = c_items[self.brand[c_items] == self.brand[a]]
                    pool = same if len(same) and rng.random() < 0.6 else c_items
                    cw = np.exp(self.logpop[pool])
                    comps.append(int(rng.choice(pool, p=cw / cw.sum())))
                bundle_id = f"BND-{name.replace(' ', '-')}-{k + 1}"
                bundles[int(a)] = comps
                for c in comps:
                    rows.append(
                        dict(
                            bundle_id=bundle_id,
                            name=name,
                            anchor_sku=self.skus[a],
                            companion_sku=self.skus[c],
                            anchor_category=vocab.TYPES[self.type_idx[a]].path,
                            companion_category=vocab.TYPES[self.type_idx[c]].path,
                        )
                    )
        return bundles, pd.DataFrame(rows)

    def _stock_bundles(self, inventory: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        """Stores that carry a bundle's anchor also carry its companions (merchandised together)."""
        extra = []
        for anchor, comps in self.bundles.items():
            for s_i in np.flatnonzero(self.carried[:, anchor]):
                for c in comps:
                    if not self.carried[s_i, c]:
                        self.carried[s_i, c] = True
                        extra.append(
                            dict(
                                store_id=self.store_ids[s_i], sku=self.skus[c], stock=int(rng.integers(1, 40))
                            )
                        )
        if not extra:
            return inventory
        out = pd.concat([inventory, pd.DataFrame(extra)], ignore_index=True)
        return out.sort_values(["store_id", "sku"], kind="stable").reset_index(drop=True)

    def _campaigns(self, rng: np.random.Generator) -> list[tuple[float, str, tuple[str, ...]]]:
        theme_tops = {
            "spring-garden": ("Garden",),
            "running-season": ("Footwear", "Sports"),
            "tech-week": ("Electronics", "Phone Accessories"),
            "pet-days": ("Pet",),
            "beauty-edit": ("Beauty",),
            "back-to-school": ("Office", "Bags & Travel", "Books"),
            "summer-travel": ("Bags & Travel",),
            "home-chef": ("Home & Kitchen", "Grocery"),
            "baby-week": ("Baby", "Toys"),
            "fitness-month": ("Sports",),
            "book-club": ("Books",),
            "autumn-layers": ("Apparel", "Footwear"),
        }
        out = []
        ts = self.start + 3 * DAY
        while ts < self.end:
            theme = vocab.CAMPAIGN_THEMES[int(rng.integers(len(vocab.CAMPAIGN_THEMES)))]
            date = datetime.fromtimestamp(ts, tz=self.start_dt.tzinfo)
            out.append((ts + 10 * 3600, f"{date:%Y-%m-%d}-{theme}", theme_tops[theme]))
            ts += 14 * DAY
        return out


class IdGen:
    """Basket and session ids, unique across chunks because they carry the chunk number."""

    def __init__(self, chunk: int) -> None:
        self.chunk = chunk
        self.n_basket = 0
        self.n_session = 0

    def basket(self) -> str:
        self.n_basket += 1
        return f"B{self.chunk:05d}-{self.n_basket:05d}"

    def session(self) -> str:
        self.n_session += 1
        return f"S{self.chunk:05d}-{self.n_session:05d}"


class PersonSimulator:
    """Generates one person's events; all randomness comes from the chunk's generator."""

    def __init__(self, world: World, rng: np.random.Generator, ids: IdGen) -> None:
        self.w = world
        self.rng = rng
        self.ids = ids

    # ------------------------------------------------------------------ choices
    def pick_type(self, p: Person, ts: float, tops: tuple[str, ...] | None = None) -> int:
        rng = self.rng
        if tops:
            top = tops[int(rng.integers(len(tops)))]
        elif rng.random() < 0.82:
            top = TOPS[
                int(p.fav_tops[min(int(np.searchsorted(p.fav_cum, rng.random())), len(p.fav_tops) - 1)])
            ]
        else:
            top = TOPS[int(rng.integers(len(TOPS)))]
        types = self.w.top_types[top]
        cum = self.w.top_cum[top][self.w.month(ts)]
        return int(types[min(int(np.searchsorted(cum, rng.random())), len(types) - 1)])

    def pick_product(self, p: Person, t: int, mask: str | None) -> int:
        """A product of type ``t``: popularity + favourite brand + style match - price aversion + noise."""
        items, pop, brand, style, relprice = self.w.candidates(t, mask)
        fav = p.fav_brand.get(vocab.TYPES[t].top)
        logits = pop + 1.6 * (brand == fav) + style @ p.style - p.price_beta * relprice
        return int(items[np.argmax(logits + self.rng.gumbel(size=len(items)))])

    def companions(self, p: Person, item: int, mask: str | None) -> list[int]:
        out = []
        if item in self.w.bundles:
            ok = self.w._masks[mask] if mask else None
            out = [c for c in self.w.bundles[item] if self.rng.random() < 0.6 and (ok is None or ok[c])]
        else:
            for ct in self.w.type_companions.get(int(self.w.type_idx[item]), []):
                if self.rng.random() < 0.2:
                    out.append(self.pick_product(p, ct, mask))
        return out

    # ------------------------------------------------------------------ helpers
    def _day_time(self, ts: float, lo: float, hi: float) -> float:
        day0 = ts - (ts - self.w.start) % DAY
        return day0 + self.rng.uniform(lo, hi) * 3600

    def _qty(self, item: int) -> int:
        if not np.isnan(self.w.replenish[item]):
            r = self.rng.random()
            return 1 if r < 0.7 else 2 if r < 0.9 else 3
        return 1 if self.rng.random() < 0.95 else 2

    def _paid(self, item: int) -> float:
        price = float(self.w.price[item])
        return round(price * float(self.rng.uniform(0.8, 0.95)), 2) if self.rng.random() < 0.1 else price

    # ------------------------------------------------------------------ trips
    def simulate(self, p: Person) -> list[Event]:
        w, rng = self.w, self.rng
        events: list[Event] = []
        months = (w.end - w.start) / (30.4 * DAY)
        n_trips = max(1, int(rng.poisson(p.trips_per_month * months)))
        queue: list[tuple[float, str, int | None]] = [
            (float(ts), "trip", None) for ts in rng.uniform(w.start, w.end, n_trips)
        ]
        self._emails(p, events, queue)
        steps = 0
        while queue and steps < 500:
            steps += 1
            ts, kind, item = queue.pop()
            if ts >= w.end:
                continue
            if kind == "robs":
                self._store_trip(p, ts, events, queue, forced=item)
                continue
            channel = self._channel(p)
            if kind == "rebuy":
                forced = item if rng.random() < 0.85 else self.pick_product(p, int(w.type_idx[item]), None)
                if channel == "store":
                    self._store_trip(p, ts, events, queue, forced=forced)
                else:
                    self._online_trip(p, ts, channel, events, queue, forced=forced)
                continue
            t = self.pick_type(p, ts)
            if channel == "store":
                self._store_trip(p, ts, events, queue, t=t)
            else:
                self._online_trip(p, ts, channel, events, queue, t=t)
        return events

    def _channel(self, p: Person) -> str:
        return ("store", "web", "app")[min(int(np.searchsorted(p.channel_cum, self.rng.random())), 2)]

    def _emit(self, events: list[Event], ts: float, **fields) -> None:
        events.append((ts, len(events), fields))

    def _purchase(
        self,
        p: Person,
        ts: float,
        items: list[int],
        events: list[Event],
        queue: list,
        channel: str,
        ident: dict,
        store_id: str | None = None,
    ) -> None:
        basket = self.ids.basket()
        seen = set()
        for k, item in enumerate(items):
            if item in seen:
                continue
            seen.add(item)
            qty, paid = self._qty(item), self._paid(item)
            fields = dict(
                type="purchase",
                channel=channel,
                sku=self.w.skus[item],
                quantity=qty,
                price=paid,
                store_id=store_id,
                basket_id=basket,
                **ident,
            )
            self._emit(events, ts + k, **fields)
            if self.rng.random() < 0.035:
                back = ts + self.rng.uniform(3, 30) * DAY
                if back < self.w.end:
                    self._emit(events, back, **{**fields, "type": "return"})
            days = self.w.replenish[item]
            if not np.isnan(days) and self.rng.random() < 0.7:
                queue.append((ts + days * float(self.rng.lognormal(0.0, 0.2)) * DAY, "rebuy", item))

    def _store_trip(
        self,
        p: Person,
        ts: float,
        events: list[Event],
        queue: list,
        t: int | None = None,
        forced: int | None = None,
    ) -> None:
        rng, w = self.rng, self.w
        stores = COUNTRY_STORES[p.country]
        store = p.home_store if rng.random() < 0.9 else stores[int(rng.integers(len(stores)))]
        mask = f"store{store}"
        if forced is not None:
            if not w.carried[store, forced]:
                return
            items = [forced]
        else:
            items = [self.pick_product(p, t, mask)]
        items += self.companions(p, items[0], mask)
        if rng.random() < 0.3:
            items.append(self.pick_product(p, self.pick_type(p, ts), mask))
        ident: dict = {}
        if p.loyalty_id and rng.random() < 0.92:
            ident["loyalty_id"] = p.loyalty(rng)
        if p.phones and rng.random() < 0.05:
            ident["phone"] = p.phone(rng)
        self._purchase(p, self._day_time(ts, 9, 21), items, events, queue, "store", ident, w.store_ids[store])

    def _online_ident(self, p: Person, channel: str) -> tuple[dict, bool]:
        """(identifiers on browsing events, logged in?)."""
        if channel == "app":
            return {"loyalty_id": p.loyalty(self.rng), "email": p.email(self.rng, p.app_email)}, True
        if p.has_web and self.rng.random() < 0.8:
            return {"email": p.email(self.rng, p.web_email)}, True
        return {}, False

    def _order_ident(self, p: Person, channel: str, browse: dict, logged_in: bool) -> dict | None:
        rng = self.rng
        if channel == "app":
            return dict(browse)
        if not p.emails:
            return None
        ident = dict(browse) if logged_in else {"email": p.email(rng, 0)}
        # Typing the loyalty number at checkout is what links a web email to a loyalty card.
        if p.loyalty_id and rng.random() < (0.3 if logged_in else 0.45):
            ident["loyalty_id"] = p.loyalty(rng)
        if p.phones and rng.random() < (0.1 if logged_in else 0.4):
            ident["phone"] = p.phone(rng)
        return ident

    def _online_trip(
        self,
        p: Person,
        ts: float,
        channel: str,
        events: list[Event],
        queue: list,
        t: int | None = None,
        forced: int | None = None,
    ) -> None:
        rng, w = self.rng, self.w
        mask = "app" if channel == "app" else "web"
        target = forced if forced is not None else self.pick_product(p, t, mask)
        t = int(w.type_idx[target])
        browse, logged_in = self._online_ident(p, channel)
        session = self.ids.session()
        clock = self._day_time(ts, 7, 23.5)

        def emit(type_: str, **fields) -> None:
            nonlocal clock
            self._emit(events, clock, type=type_, channel=channel, session_id=session, **browse, **fields)
            clock += float(rng.uniform(15, 180))

        if forced is None and rng.random() < 0.4:
            query = log_query(w.rows[target], p.country, rng, w.labelled)
            emit("search", query=query)
            if rng.random() < 0.1:
                return
            if rng.random() < 0.3:
                emit("search_click", query=query, sku=w.skus[self.pick_product(p, t, mask)])
            emit("search_click", query=query, sku=w.skus[target])
        elif forced is None:
            for _ in range(int(rng.integers(1, 5))):
                emit("view", sku=w.skus[self.pick_product(p, t, mask)])
        emit("view", sku=w.skus[target])
        if rng.random() < (0.8 if forced is not None else 0.45):
            emit("add_to_cart", sku=w.skus[target], quantity=1)
            if rng.random() < (0.9 if forced is not None else 0.6):
                ident = self._order_ident(p, channel, browse, logged_in)
                if ident is None:
                    return
                if channel == "web" and w.market_ok[target] and rng.random() < 0.05:
                    self._purchase(p, clock, [target], events, queue, "marketplace", {})
                    return
                items = [target] + self.companions(p, target, mask)
                self._purchase(p, clock, items, events, queue, channel, ident)
                return
            return  # cart abandoned
        if p.channel_p[0] > 0.1 and rng.random() < 0.3:
            # Research online, buy in store a few days later.
            queue.append((clock + float(rng.uniform(1, 7)) * DAY, "robs", target))

    def _emails(self, p: Person, events: list[Event], queue: list) -> None:
        if p.consent_email is None:
            return
        rng, w = self.rng, self.w
        fav = {TOPS[i] for i in p.fav_tops}
        for ts, name, tops in w.campaigns:
            if p.unsubscribed_at is not None and ts > p.unsubscribed_at:
                break
            if rng.random() > 0.7:
                continue
            address = p.email(rng, p.consent_email)
            send = ts + float(rng.uniform(0, 3600))
            self._emit(events, send, type="email_send", channel="email", email=address, campaign=name)
            if rng.random() < (0.12 if fav & set(tops) else 0.03):
                item = self.pick_product(p, self.pick_type(p, send, tops), "web")
                click = send + float(rng.uniform(0.2, 48)) * 3600
                if click >= w.end:
                    continue
                self._emit(
                    events,
                    click,
                    type="email_click",
                    channel="email",
                    email=address,
                    campaign=name,
                    sku=w.skus[item],
                )
                if rng.random() < 0.5:
                    session = self.ids.session()
                    self._emit(
                        events,
                        click + 5,
                        type="view",
                        channel="web",
                        session_id=session,
                        email=address,
                        sku=w.skus[item],
                    )
                    if rng.random() < 0.25:
                        self._purchase(p, click + 120, [item], events, queue, "web", {"email": address})


def start_end(months: int, start: datetime) -> tuple[datetime, datetime]:
    """The simulated period: ``months`` calendar months from ``start``."""
    y, m = start.year, start.month + months
    y += (m - 1) // 12
    m = (m - 1) % 12 + 1
    return start, start.replace(year=y, month=m)
