// The merchandiser's page (/admin): synonyms and pin/boost/bury/hide/redirect rules, a live
// preview of a query before and after the edits (POST /v1/admin/rules/preview, saves nothing),
// problems shown next to their rule, saved with PUT /v1/admin/rules.
"use strict";
(() => {
  const { el, clear, api, explain, note, money, keys, debounce } = OR;
  const $ = (id) => document.getElementById(id);
  const TEMPLATES = {
    Pin: { pin: [{ sku: "SKU-…", position: 1 }] },
    Boost: { boost: [{ brand: "…", factor: 2 }] },
    Bury: { bury: [{ attribute: "color", value: "…", factor: 4 }] },
    Hide: { hide: ["SKU-…"] },
    Redirect: { redirect: "/pages/…" },
  };
  const state = { loaded: null, counter: 0 };
  const key = () => keys.get("admin");

  function status(kind, text) { clear($("status"), text ? note(kind, text) : null); }

  function showSignin(message) {
    $("signin").classList.remove("hidden");
    $("editor").classList.add("hidden");
    clear($("signin-form"), OR.keyForm("admin", "Admin key", () => start()));
    if (message) status("error", message);
  }

  async function start() {
    status(null);
    const config = await OR.config();
    if (!key() && !config.dev_mode) return showSignin();
    let rules;
    try {
      rules = await api("/v1/admin/rules", { key: key() });
    } catch (err) {
      return showSignin(explain(err));
    }
    state.loaded = rules;
    $("signin").classList.add("hidden");
    $("editor").classList.remove("hidden");
    clear($("two-way"), (rules.synonyms.two_way || []).map((group) => twoWayRow(group)));
    clear($("one-way"), Object.entries(rules.synonyms.one_way || {}).map(([from, to]) => oneWayRow(from, to)));
    clear($("rules"), (rules.rules || []).map((rule) => ruleCard(rule)));
    refresh();
  }

  const split = (text) => text.split(",").map((s) => s.trim()).filter(Boolean);

  function twoWayRow(group) {
    const phrases = el("input", { type: "text", class: "two-way", placeholder: "tv, television", "aria-label": "Phrases" });
    phrases.value = (group || []).join(", ");
    const row = el("div", { class: "synrow" }, phrases, el("span", { class: "muted", text: "all mean the same" }),
      el("button", { class: "btn danger", type: "button", text: "Remove", onclick: () => { row.remove(); refresh(); } }));
    phrases.addEventListener("input", refresh);
    return row;
  }

  function oneWayRow(from, to) {
    const a = el("input", { type: "text", class: "one-way-from", placeholder: "sneakers", "aria-label": "Search for" });
    const b = el("input", { type: "text", class: "one-way-to", placeholder: "running shoes, trainers", "aria-label": "Also finds" });
    a.value = from || "";
    b.value = (to || []).join(", ");
    const row = el("div", { class: "synrow" }, a, b,
      el("button", { class: "btn danger", type: "button", text: "Remove", onclick: () => { row.remove(); refresh(); } }));
    a.addEventListener("input", refresh);
    b.addEventListener("input", refresh);
    return row;
  }

  function ruleCard(rule) {
    const id = el("input", { type: "text", class: "rule-id", "aria-label": "Rule id", placeholder: "rule-id" });
    id.value = rule.id || `rule-${++state.counter}`;
    const kind = el("select", { class: "rule-kind", "aria-label": "Match" },
      el("option", { value: "exact", text: "query is" }), el("option", { value: "contains", text: "query contains" }));
    kind.value = rule.match && rule.match.contains !== undefined && rule.match.contains !== null ? "contains" : "exact";
    const phrase = el("input", { type: "text", class: "rule-phrase", "aria-label": "Phrase", placeholder: "drill" });
    phrase.value = (rule.match && (rule.match.exact || rule.match.contains)) || "";
    const enabled = el("input", { type: "checkbox", class: "rule-enabled" });
    enabled.checked = rule.enabled !== false;
    const actions = {};
    for (const name of ["pin", "boost", "bury", "hide", "redirect"]) {
      const value = rule[name];
      if (value !== undefined && value !== null && !(Array.isArray(value) && !value.length)) actions[name] = value;
    }
    const body = el("textarea", { class: "rule-actions", "aria-label": "Actions (JSON)", spellcheck: "false" });
    body.value = JSON.stringify(actions, null, 1);
    const card = el("div", { class: "rule", "data-rule": id.value },
      el("div", { class: "head" }, id, kind, phrase, el("label", { class: "check" }, enabled, "on"),
        el("button", { class: "btn danger", type: "button", text: "Delete", onclick: () => { card.remove(); refresh(); } })),
      body, el("div", { class: "errors" }));
    card.description = rule.description || "";
    for (const input of [id, kind, phrase, enabled, body]) input.addEventListener("input", refresh);
    id.addEventListener("input", () => { card.dataset.rule = id.value; });
    return card;
  }

  // The draft rule set from the editor; a rule whose actions are not JSON is reported on the spot.
  function draft() {
    const local = [];
    const two_way = [...document.querySelectorAll("#two-way .two-way")].map((i) => split(i.value)).filter((g) => g.length);
    const one_way = {};
    for (const row of document.querySelectorAll("#one-way .synrow")) {
      const from = row.querySelector(".one-way-from").value.trim();
      const to = split(row.querySelector(".one-way-to").value);
      if (from && to.length) one_way[from] = to;
    }
    const rules = [];
    for (const card of document.querySelectorAll("#rules .rule")) {
      const id = card.querySelector(".rule-id").value.trim();
      let actions = {};
      try {
        actions = JSON.parse(card.querySelector(".rule-actions").value || "{}");
        if (typeof actions !== "object" || actions === null || Array.isArray(actions)) throw new Error("an object");
      } catch (err) {
        local.push([card, `rule '${id}': the actions are not valid JSON (${err.message})`]);
        continue;
      }
      rules.push({ id, description: card.description || "", enabled: card.querySelector(".rule-enabled").checked,
        match: { [card.querySelector(".rule-kind").value]: card.querySelector(".rule-phrase").value.trim() }, ...actions });
    }
    const synonyms = { ...(state.loaded ? state.loaded.synonyms : {}), two_way, one_way };
    return { rules: { version: 1, synonyms, rules }, local };
  }

  // Messages name their rule ("rule 'x': ..."): each is shown in that rule's card.
  function showProblems(problems, local) {
    for (const box of document.querySelectorAll(".errors")) clear(box);
    for (const card of document.querySelectorAll(".rule")) card.classList.remove("invalid");
    const general = [];
    for (const [card, message] of local) {
      card.classList.add("invalid");
      card.querySelector(".errors").append(el("div", { text: message }));
    }
    for (const message of problems) {
      const m = /rule '([^']+)'/.exec(message);
      const card = m && [...document.querySelectorAll(".rule")].find((c) => c.dataset.rule === m[1]);
      if (card) {
        card.classList.add("invalid");
        card.querySelector(".errors").append(el("div", { class: "problem", text: message }));
      } else if (/synonym/i.test(message)) {
        $("synonym-errors").append(el("div", { class: "problem", text: message }));
      } else {
        general.push(message);
      }
    }
    return general;
  }

  function resultList(result, other) {
    if (!result) return note("warn", "Fix the problems to see the preview.");
    const otherSkus = other ? other.hits.map((h) => h.sku) : [];
    const items = result.hits.map((p, i) => el("li", { class: other && otherSkus[i] !== p.sku ? "changed" : null, "data-sku": p.sku },
      el("span", { text: p.title }), el("span", { class: "muted", text: ` · ${money(p.price)}` })));
    return el("div", {},
      el("div", { class: "muted", text: `${result.total} results${result.rules_fired.length ? ` · rules: ${result.rules_fired.join(", ")}` : ""}` }),
      result.redirect ? note("info", `Redirects to ${result.redirect}`) : null,
      el("ol", {}, items));
  }

  let previewSeq = 0;
  const refresh = debounce(async () => {
    const { rules, local } = draft();
    const q = $("preview-q").value.trim();
    if (!q) { showProblems([], local); return; }
    const seq = ++previewSeq;
    try {
      const data = await api("/v1/admin/rules/preview", { method: "POST", body: { rules, q, k: 10 }, key: key() });
      if (seq !== previewSeq) return;
      const general = showProblems(data.problems, local);
      clear($("preview-status"), general.map((m) => note("error", m)));
      clear($("before"), resultList(data.before));
      clear($("after"), resultList(local.length ? null : data.after, data.before));
    } catch (err) {
      if (seq !== previewSeq) return;
      if (err.status === 401) return showSignin(explain(err));
      clear($("preview-status"), note("error", explain(err)));
    }
  }, 250);

  $("preview-form").addEventListener("submit", (e) => { e.preventDefault(); refresh(); });
  $("preview-q").addEventListener("input", refresh);
  $("add-two-way").addEventListener("click", () => { $("two-way").append(twoWayRow([])); });
  $("add-one-way").addEventListener("click", () => { $("one-way").append(oneWayRow("", [])); });
  for (const [label, template] of Object.entries(TEMPLATES)) {
    $("add-rule-buttons").append(el("button", { class: "btn", type: "button", text: `+ ${label} rule`, onclick: () => {
      const card = ruleCard({ ...template, match: { exact: $("preview-q").value.trim() || "" } });
      $("rules").append(card);
      card.querySelector(".rule-phrase").focus();
      refresh();
    } }));
  }
  $("save").addEventListener("click", async () => {
    const { rules, local } = draft();
    if (local.length) { showProblems([], local); return; }
    $("saved").textContent = "Saving…";
    try {
      state.loaded = await api("/v1/admin/rules", { method: "PUT", body: rules, key: key() });
      showProblems([], []);
      $("saved").textContent = "Saved: the next search uses these rules.";
      status("ok", "Rules saved.");
      refresh();
    } catch (err) {
      $("saved").textContent = "";
      if (err.status === 422) {
        const general = showProblems(err.detail.split("; "), []);
        status("error", `Not saved: ${general.length ? general.join("; ") : "see the problems next to the rules."}`);
      } else if (err.status === 401) {
        showSignin(explain(err));
      } else {
        status("error", `Not saved: ${explain(err)}`);
      }
    }
  });
  $("signout").addEventListener("click", () => { keys.set("admin", ""); showSignin(); });

  start();
})();
