// The associate's tablet (/associate): sign in with an associate key, pick the store, look a
// customer up by loyalty id, email or phone (in a POST body, never in a URL), see them across
// channels: masked ids, timeline, top categories, and what to offer now, in stock in this store.
"use strict";
(() => {
  const { el, clear, api, explain, note, money, keys } = OR;
  const $ = (id) => document.getElementById(id);
  const ICONS = { store: "POS", web: "WEB", app: "APP", email: "@", marketplace: "MKT" };
  const TYPES = { purchase: "Bought", return: "Returned", view: "Viewed", add_to_cart: "Added to cart",
    search_click: "Clicked in search", click: "Clicked", email_click: "Clicked in email" };
  const state = { by: "loyalty_id", store: sessionStorage.getItem("omnirank.associate.store") || "", storeNames: {} };
  const key = () => keys.get("associate");

  function status(kind, text) { clear($("status"), text ? note(kind, text) : null); }

  function showSignin(message) {
    $("signin").classList.remove("hidden");
    $("lookup").classList.add("hidden");
    clear($("profile"));
    clear($("signin-form"), OR.keyForm("associate", "Associate key", () => start()));
    if (message) status("error", message);
  }

  async function start() {
    status(null);
    const config = await OR.config();
    if (!key() && !config.dev_mode) return showSignin();
    try {
      const stores = await api("/v1/stores", { key: key() });
      state.storeNames = Object.fromEntries(stores.map((s) => [s.store_id, s.name || s.store_id]));
      const select = $("store");
      clear(select, stores.map((s) => el("option", { value: s.store_id, text: `${s.name || s.store_id}${s.city ? ` · ${s.city}` : ""}` })));
      if (state.store && stores.some((s) => s.store_id === state.store)) select.value = state.store;
      state.store = select.value;
    } catch (err) {
      return showSignin(explain(err));
    }
    $("signin").classList.add("hidden");
    $("lookup").classList.remove("hidden");
    $("identifier").focus();
  }

  for (const button of document.querySelectorAll(".tabs button")) {
    button.addEventListener("click", () => {
      state.by = button.dataset.by;
      for (const b of document.querySelectorAll(".tabs button")) b.setAttribute("aria-pressed", String(b === button));
      $("by-label").textContent = { loyalty_id: "loyalty id", email: "email", phone: "phone" }[state.by];
      $("identifier").type = state.by === "email" ? "email" : state.by === "phone" ? "tel" : "text";
      $("identifier").focus();
    });
  }
  $("store").addEventListener("change", () => {
    state.store = $("store").value;
    sessionStorage.setItem("omnirank.associate.store", state.store);
  });
  $("signout").addEventListener("click", () => { keys.set("associate", ""); clear($("profile")); showSignin(); });

  $("lookup-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const value = $("identifier").value.trim();
    if (!value) return;
    status(null);
    clear($("profile"), note("info", "Looking up…"));
    const body = { [state.by]: value, store_id: state.store || null, k: 8 };
    try {
      const profile = await api("/v1/customers/lookup", { method: "POST", body, key: key() });
      renderProfile(profile);
    } catch (err) {
      clear($("profile"));
      if (err.status === 401) return showSignin(explain(err));
      if (err.status === 404) status("warn", "No customer found with that " + $("by-label").textContent + ". Check it with the customer, or try their email or phone.");
      else status("error", explain(err));
    }
  });

  function when(iso) {
    const d = new Date(iso);
    return d.toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
  }

  function renderProfile(p) {
    const ids = [["Card", p.masked_loyalty_id], ["Email", p.masked_email], ["Phone", p.masked_phone]]
      .filter(([, v]) => v).map(([label, v]) => el("span", { title: label, text: `${label}: ${v}` }));
    const channels = [...new Set(p.timeline.map((t) => t.channel))];
    const timeline = el("ul", { class: "timeline", id: "timeline" }, p.timeline.map((t) => el("li", { "data-channel": t.channel },
      el("span", { class: `icon ${t.channel}`, title: t.channel, "aria-label": t.channel, text: ICONS[t.channel] || "•" }),
      el("div", {},
        el("div", { text: t.product.title }),
        el("div", { class: "muted" }, `${TYPES[t.type] || t.type} · ${t.channel}`,
          t.store_id ? ` · ${state.storeNames[t.store_id] || t.store_id}` : "",
          t.price_paid !== null && t.price_paid !== undefined ? ` · ${money(t.price_paid)}` : "")),
      el("div", { class: "muted", text: when(t.timestamp) }))));
    const cats = Object.entries(p.top_categories || {}).slice(0, 6);
    const top = cats.length ? cats[0][1] : 1;
    const bars = el("div", { class: "bars" }, cats.map(([name, score]) => {
      const fill = el("div", { class: "fill" });
      fill.style.width = `${Math.max(4, Math.round(100 * score / top))}%`;
      return el("div", { class: "bar" }, el("span", { text: name }), el("div", {}, fill),
        el("span", { class: "muted", text: `${Math.round(100 * score)}%` }));
    }));
    const offers = el("div", { class: "offers", id: "offers" }, p.offers.length ? p.offers.map((o) => el("div", { class: "offer" },
      el("div", {}, el("strong", { text: o.product.title }), el("div", { class: "muted", text: o.product.brand || "" }),
        el("div", { class: "reason", text: o.reason })),
      el("div", { style: null },
        el("div", { class: "price" }, money(o.product.price),
          o.product.list_price ? el("span", { class: "was", text: money(o.product.list_price) }) : null),
        o.product.stock_in_store !== null && o.product.stock_in_store !== undefined
          ? el("div", { class: o.product.stock_in_store > 0 ? "stock in" : "stock out",
            text: o.product.stock_in_store > 0 ? `${o.product.stock_in_store} here` : "Not in this store" })
          : null)))
      : note("info", "Nothing to offer in this store right now."));
    clear($("profile"), el("section", { class: "panel", style: null },
      el("h2", { text: "Customer" }), el("div", { class: "ids", id: "ids" }, ids.length ? ids : el("span", { text: p.customer_id })),
      el("p", { class: "muted", id: "channels", text: `Seen in: ${channels.join(", ") || "—"}` })),
    el("div", { class: "profile" },
      el("section", { class: "panel" }, el("h2", { text: `Offer now${state.store ? ` · ${state.storeNames[state.store] || state.store}` : ""}` }), offers),
      el("section", { class: "panel" }, el("h2", { text: "Top categories" }), bars,
        el("h2", { text: "Timeline" }), p.timeline.length ? timeline : note("info", "No history yet."))));
  }

  start();
})();
