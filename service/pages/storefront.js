// The storefront (/): search as you type, results, facets, intent chips, product panel,
// recommendations; clicks and add-to-carts are posted as events (the analytics loop's demo).
"use strict";
(() => {
  const { el, clear, api, explain, note, debounce, money, keys } = OR;
  const $ = (id) => document.getElementById(id);

  const LABELS = {
    en: { store: "store", storeLabel: "Store", online: "Online (no store)", language: "Language", demo: "Demo customer & keys",
      facetsHint: "Search to see filters.", forYou: "Recommended for you", trending: "Trending now", results: "results for",
      noResults: "No results for", didYouMean: "Did you mean", relaxed: "We relaxed your search to show more:",
      inStock: "in stock here", outOfStock: "Out of stock in this store", addToCart: "Add to cart", added: "Added to cart",
      similar: "Similar items", together: "Frequently bought together", availability: "Available in stores",
      category: "Category", brand: "Brand", color: "Colour", size: "Size", price: "Price", top_category: "Category",
      under: "under", over: "over", gift: "gift", partial: "Partly matches", search: "Search products…",
      customer: "Demo customer (customer or loyalty id)", storefrontKey: "Storefront key (search scope)",
      personalizeKey: "Personalize key (events, recommended for you)", clearAll: "Clear filters", close: "Close",
      redirect: "The merchandiser sends this search to" },
    pt: { store: "loja", storeLabel: "Loja", online: "Online (sem loja)", language: "Idioma", demo: "Cliente demo e chaves",
      facetsHint: "Pesquise para ver filtros.", forYou: "Recomendados para você", trending: "Em alta", results: "resultados para",
      noResults: "Nenhum resultado para", didYouMean: "Você quis dizer", relaxed: "Ampliamos sua busca para mostrar mais:",
      inStock: "em estoque aqui", outOfStock: "Sem estoque nesta loja", addToCart: "Adicionar ao carrinho",
      added: "Adicionado ao carrinho", similar: "Itens semelhantes", together: "Comprados juntos com frequência",
      availability: "Disponível nas lojas", category: "Categoria", brand: "Marca", color: "Cor", size: "Tamanho",
      price: "Preço", top_category: "Categoria", under: "até", over: "acima de", gift: "presente", partial: "Corresponde em parte",
      search: "Buscar produtos…", customer: "Cliente demo (id de cliente ou fidelidade)",
      storefrontKey: "Chave da loja (escopo search)", personalizeKey: "Chave personalize (eventos, recomendações)",
      clearAll: "Limpar filtros", close: "Fechar", redirect: "O merchandiser envia esta busca para" },
    hi: { store: "स्टोर", storeLabel: "स्टोर", online: "ऑनलाइन (कोई स्टोर नहीं)", language: "भाषा", demo: "डेमो ग्राहक और कुंजियाँ",
      facetsHint: "फ़िल्टर देखने के लिए खोजें।", forYou: "आपके लिए सुझाव", trending: "अभी ट्रेंडिंग", results: "परिणाम:",
      noResults: "कोई परिणाम नहीं:", didYouMean: "क्या आपका मतलब था", relaxed: "ज़्यादा दिखाने के लिए खोज को ढीला किया:",
      inStock: "इस स्टोर में उपलब्ध", outOfStock: "इस स्टोर में स्टॉक नहीं", addToCart: "कार्ट में डालें", added: "कार्ट में डाला गया",
      similar: "मिलते-जुलते उत्पाद", together: "अक्सर साथ खरीदे गए", availability: "स्टोर में उपलब्धता", category: "श्रेणी",
      brand: "ब्रांड", color: "रंग", size: "साइज़", price: "कीमत", top_category: "श्रेणी", under: "से कम", over: "से ज़्यादा",
      gift: "उपहार", partial: "आंशिक मिलान", search: "उत्पाद खोजें…", customer: "डेमो ग्राहक (ग्राहक या लॉयल्टी आईडी)",
      storefrontKey: "स्टोरफ़्रंट कुंजी (search)", personalizeKey: "personalize कुंजी (इवेंट, सुझाव)", clearAll: "फ़िल्टर हटाएँ",
      close: "बंद करें", redirect: "यह खोज यहाँ भेजी जाती है" },
    bn: { store: "স্টোর", storeLabel: "স্টোর", online: "অনলাইন (কোনো স্টোর নয়)", language: "ভাষা", demo: "ডেমো গ্রাহক ও কী",
      facetsHint: "ফিল্টার দেখতে খুঁজুন।", forYou: "আপনার জন্য প্রস্তাবিত", trending: "এখন জনপ্রিয়", results: "টি ফলাফল:",
      noResults: "কোনো ফলাফল নেই:", didYouMean: "আপনি কি বোঝাতে চেয়েছেন", relaxed: "আরও দেখাতে খোঁজ শিথিল করা হয়েছে:",
      inStock: "এই স্টোরে আছে", outOfStock: "এই স্টোরে স্টক নেই", addToCart: "কার্টে যোগ করুন", added: "কার্টে যোগ হয়েছে",
      similar: "একই রকম পণ্য", together: "প্রায়ই একসাথে কেনা", availability: "স্টোরে পাওয়া যায়", category: "বিভাগ",
      brand: "ব্র্যান্ড", color: "রং", size: "সাইজ", price: "দাম", top_category: "বিভাগ", under: "এর নিচে", over: "এর বেশি",
      gift: "উপহার", partial: "আংশিক মিল", search: "পণ্য খুঁজুন…", customer: "ডেমো গ্রাহক (গ্রাহক বা লয়্যালটি আইডি)",
      storefrontKey: "স্টোরফ্রন্ট কী (search)", personalizeKey: "personalize কী (ইভেন্ট, সুপারিশ)", clearAll: "ফিল্টার মুছুন",
      close: "বন্ধ করুন", redirect: "এই খোঁজ পাঠানো হয়" },
  };
  const FACET_PARAM = { top_category: "category", category: "category", brand: "brand", color: "color", size: "size" };
  const CHANNEL = "web";

  const state = {
    q: "", filters: {}, store: sessionStorage.getItem("omnirank.store") || "",
    lang: localStorage.getItem("omnirank.lang") || "en", customer: sessionStorage.getItem("omnirank.customer") || "",
    config: {}, session: sessionStorage.getItem("omnirank.session") || newId(), sendLang: false,
    searchSeq: 0, suggestSeq: 0, suggestions: [], selected: -1, lastSearch: null, eventsWarned: false,
  };
  sessionStorage.setItem("omnirank.session", state.session);

  function newId() {
    return (crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`).replace(/-/g, "");
  }
  const T = (name) => (LABELS[state.lang] || LABELS.en)[name] || LABELS.en[name] || name;
  const searchKey = () => keys.get("storefront") || state.config.storefront_key || keys.get("personalize") || "";
  const personalKey = () => keys.get("personalize");

  function applyLabels() {
    document.documentElement.lang = state.lang;
    for (const node of document.querySelectorAll("[data-t]")) node.textContent = T(node.dataset.t);
    $("q").placeholder = T("search");
  }

  function status(kind, text) { clear($("status"), text ? note(kind, text) : null); }

  // ---- cards ---------------------------------------------------------------------------------
  const PALETTE = ["#0b5cad", "#d6336c", "#2f9e44", "#e8590c", "#7048e8", "#1098ad", "#c2255c", "#5c940d"];
  function thumb(product) {
    const top = (product.category || "").split(" > ")[0];
    let h = 0;
    for (const ch of top) h = (h * 31 + ch.codePointAt(0)) >>> 0;
    const node = el("div", { class: "thumb", "aria-hidden": "true", text: (product.title || "?").trim().charAt(0).toUpperCase() });
    node.style.background = PALETTE[h % PALETTE.length];
    return node;
  }

  function priceLine(product) {
    const onSale = product.list_price !== null && product.list_price !== undefined && product.list_price > product.price;
    return el("div", { class: "price" }, money(product.price),
      onSale ? el("span", { class: "was", text: money(product.list_price) }) : null,
      onSale ? el("span", { class: "sale", text: `-${Math.round(100 * (1 - product.price / product.list_price))}%` }) : null);
  }

  function stockLine(product) {
    if (!state.store || product.stock_in_store === null || product.stock_in_store === undefined) return null;
    return product.stock_in_store > 0
      ? el("div", { class: "stock in", text: `${product.stock_in_store} ${T("inStock")}` })
      : el("div", { class: "stock out", text: T("outOfStock") });
  }

  function card(product, opts) {
    return el("button", { class: "card", type: "button", "data-sku": product.sku,
      onclick: () => openProduct(product, opts) },
    thumb(product),
    el("div", { class: "title", text: product.title }),
    product.brand ? el("div", { class: "brand", text: product.brand }) : null,
    el("div", { class: "cat", text: product.category }),
    priceLine(product), stockLine(product),
    opts.reason ? el("div", { class: "reason", text: opts.reason }) : null,
    opts.partial ? el("div", { class: "muted", text: T("partial") }) : null);
  }

  // ---- events --------------------------------------------------------------------------------
  async function postEvent(type, sku, extra) {
    const event = { event_id: newId(), type, timestamp: new Date().toISOString(), channel: CHANNEL, sku,
      session_id: state.session, ...extra };
    if (state.customer) event.customer_id = state.customer;
    if (state.store) event.store_id = state.store;
    try {
      await api("/v1/events", { method: "POST", body: { events: [event] }, key: personalKey() });
      return true;
    } catch (err) {
      if (!state.eventsWarned) {
        state.eventsWarned = true;
        status("warn", `Events are not posted: ${explain(err)} Add a personalize key under “${T("demo")}”.`);
      }
      return false;
    }
  }

  // ---- search --------------------------------------------------------------------------------
  function searchParams() {
    const params = { q: state.q, k: 24, store_id: state.store, channel: CHANNEL, session_id: state.session, ...state.filters };
    if (state.sendLang) params.lang = state.lang;
    return params;
  }

  async function runSearch() {
    if (!state.q.trim()) return;
    const seq = ++state.searchSeq;
    status(null);
    let data;
    try {
      data = await api("/v1/search", { params: searchParams(), key: searchKey() });
    } catch (err) {
      if (seq !== state.searchSeq) return;
      clear($("results")); clear($("chips")); clear($("notes")); $("summary").textContent = "";
      status("error", explain(err));
      return;
    }
    if (seq !== state.searchSeq) return;
    state.lastSearch = data;
    renderSearch(data);
  }

  function search(q, filters) {
    state.q = q;
    state.filters = filters || {};
    $("q").value = q;
    closeSuggestions();
    runSearch();
  }

  function removeWords(q, words) {
    let out = q;
    for (const word of words) {
      const escaped = word.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      out = out.replace(new RegExp(`(^|\\s)${escaped}(?=\\s|$)`, "giu"), " ");
    }
    return out.replace(/\s+/g, " ").trim();
  }

  const PRICE_PATTERNS = [
    /\b(under|below|less than|up to|upto|max|cheaper than|até|ate|abaixo de|menos de|por menos de)\s*(rs\.?|r\$|\$|₹|৳)?\s*\d+([.,]\d+)?/giu,
    /(over|above|more than|acima de|mais de)\s*(rs\.?|r\$|\$|₹|৳)?\s*\d+([.,]\d+)?/giu,
    /(₹|৳|rs\.?)?\s*[\d০-৯०-९]+\s*(से कम|तक|से नीचे|এর নিচে|এর কম|টাকার নিচে|টাকার মধ্যে)/giu,
  ];

  // Chips: what the service understood (intent) and what the shopper picked (facets). Removing an
  // intent chip searches the query without the words that said it; a facet chip drops its filter.
  function chips(data) {
    const out = [];
    const intent = data.intent || {};
    const rerun = (q) => () => search(q || state.q, state.filters);
    if (intent.category && intent.category.applied && intent.category.path) {
      out.push({ text: intent.category.path.split(" > ")[0], title: intent.category.path });
    }
    if (intent.price_max !== null && intent.price_max !== undefined) {
      out.push({ text: `${T("under")} ${intent.price_max}`, remove: rerun(stripPrice(data.query, intent)) });
    }
    if (intent.price_min !== null && intent.price_min !== undefined) {
      out.push({ text: `${T("over")} ${intent.price_min}`, remove: rerun(stripPrice(data.query, intent)) });
    }
    for (const field of ["colors", "sizes", "brands", "materials"]) {
      for (const value of intent[field] || []) {
        const without = removeWords(data.query, [value]);
        out.push({ text: value, remove: without !== data.query && without ? rerun(without) : null });
      }
    }
    if (intent.target) out.push({ text: intent.target });
    if (intent.is_gift) out.push({ text: T("gift") });
    const nodes = out.map((c) => el("span", { class: c.remove ? "chip" : "chip static", title: c.title || null,
      "data-chip": c.text }, c.text,
    c.remove ? el("button", { type: "button", "aria-label": `Remove ${c.text}`, text: "×", onclick: c.remove }) : null));
    for (const [param, value] of Object.entries(state.filters)) {
      const label = `${T(param)}: ${value}`;
      nodes.push(el("span", { class: "chip filter", "data-chip": label, "data-filter": param }, label,
        el("button", { type: "button", "aria-label": `Remove ${label}`, text: "×", onclick: () => {
          const filters = { ...state.filters };
          delete filters[param];
          if (param === "price_min") delete filters.price_max;
          search(state.q, filters);
        } })));
    }
    return nodes;
  }

  function stripPrice(q, intent) {
    let out = q;
    for (const pattern of PRICE_PATTERNS) out = out.replace(pattern, " ");
    out = out.replace(/\s+/g, " ").trim();
    return out && out !== q ? out : (intent.text || q);
  }

  function renderSearch(data) {
    clear($("chips"), chips(data));
    const notes = [];
    if (data.redirect) {
      const safe = /^(\/(?!\/)|https:\/\/)/i.test(data.redirect);
      notes.push(note("info", `${T("redirect")} `, safe ? el("a", { href: data.redirect, text: data.redirect })
        : data.redirect));
    }
    if (data.did_you_mean) {
      notes.push(note("info", `${T("didYouMean")} `, el("button", { class: "linklike", type: "button", id: "did-you-mean",
        text: data.did_you_mean, onclick: () => search(data.did_you_mean, state.filters) }), "?"));
    }
    if (data.relaxed && data.relaxed.length) notes.push(note("warn", `${T("relaxed")} ${data.relaxed.join("; ")}`));
    clear($("notes"), notes);
    if (!data.hits.length) {
      $("summary").textContent = "";
      clear($("results"), note("warn", `${T("noResults")} “${data.query}”`));
    } else {
      $("summary").textContent = `${data.total} ${T("results")} “${data.query}”`;
      const offset = (data.page - 1) * data.k;
      clear($("results"), data.hits.map((hit, i) => card(hit.product, {
        source: "search", request_id: data.request_id, position: offset + i + 1, query: data.query,
        partial: hit.matches === false })));
    }
    renderFacets(data.facets || {});
  }

  function renderFacets(facets) {
    const parts = [];
    if (Object.keys(state.filters).length) {
      parts.push(el("button", { type: "button", class: "btn", text: T("clearAll"), onclick: () => search(state.q, {}) }));
    }
    for (const [name, values] of Object.entries(facets)) {
      const entries = Object.entries(values || {});
      if (!entries.length) continue;
      parts.push(el("h3", { text: T(name) }));
      for (const [value, count] of entries.slice(0, 10)) {
        parts.push(el("button", { type: "button", "data-facet": name, "data-value": value, onclick: () => {
          const filters = { ...state.filters };
          if (name === "price") {
            const [lo, hi] = value.split("-");
            filters.price_min = lo;
            if (hi) filters.price_max = hi; else delete filters.price_max;
          } else {
            filters[FACET_PARAM[name] || name] = value;
          }
          search(state.q, filters);
        } }, el("span", { text: value }), el("span", { class: "count", text: count })));
      }
    }
    clear($("facets"), parts.length ? parts : el("p", { class: "muted", text: T("facetsHint") }));
  }

  // ---- suggestions ---------------------------------------------------------------------------
  const input = $("q");
  const list = $("suggestions");

  function closeSuggestions() {
    list.classList.add("hidden");
    input.setAttribute("aria-expanded", "false");
    state.selected = -1;
    state.suggestSeq++; // an answer still on its way is dropped
  }

  function renderSuggestions() {
    const items = state.suggestions.map((s, i) => el("li", { role: "option", id: `sugg-${i}`,
      "aria-selected": i === state.selected ? "true" : "false", "data-kind": s.kind,
      onmousedown: (e) => { e.preventDefault(); pick(i); } },
    el("span", { text: s.text }), el("span", { class: "kind", text: s.kind })));
    clear(list, items);
    list.classList.toggle("hidden", !items.length);
    input.setAttribute("aria-expanded", items.length ? "true" : "false");
    if (state.selected >= 0) input.setAttribute("aria-activedescendant", `sugg-${state.selected}`);
    else input.removeAttribute("aria-activedescendant");
  }

  function pick(i) {
    const s = state.suggestions[i];
    if (!s) return;
    if (s.kind === "product" && s.sku) {
      closeSuggestions();
      openProduct({ sku: s.sku, title: s.text, category: "" }, { source: "suggest" });
    } else if (s.kind === "category") {
      search(s.text.split(" > ").pop(), { category: s.text });
    } else {
      search(s.text, {});
    }
  }

  const fetchSuggestions = debounce(async (text) => {
    const seq = ++state.suggestSeq;
    const params = { q: text, k: 8 };
    if (state.sendLang) params.lang = state.lang;
    try {
      const data = await api("/v1/suggest", { params, key: searchKey() });
      if (seq !== state.suggestSeq || input.value !== text) return;
      const answered = performance.now();
      state.suggestions = data.suggestions;
      state.selected = -1;
      renderSuggestions(); // synchronously: painted in the frame after the answer
      performance.measure("omnirank:suggest-render", { start: answered, end: performance.now() });
    } catch (err) {
      if (seq === state.suggestSeq) { status("error", explain(err)); closeSuggestions(); }
    }
  }, 90);

  input.addEventListener("input", () => {
    if (input.value.trim()) fetchSuggestions(input.value);
    else { state.suggestions = []; closeSuggestions(); }
  });
  input.addEventListener("keydown", (e) => {
    const open = !list.classList.contains("hidden");
    if (e.key === "ArrowDown" && open) {
      e.preventDefault();
      state.selected = (state.selected + 1) % state.suggestions.length;
      renderSuggestions();
    } else if (e.key === "ArrowUp" && open) {
      e.preventDefault();
      state.selected = state.selected <= 0 ? state.suggestions.length - 1 : state.selected - 1;
      renderSuggestions();
    } else if (e.key === "Escape") {
      closeSuggestions();
    } else if (e.key === "Enter" && open && state.selected >= 0) {
      e.preventDefault();
      pick(state.selected);
    }
  });
  input.addEventListener("blur", () => setTimeout(closeSuggestions, 100));
  $("search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    if (input.value.trim()) search(input.value.trim(), {});
  });

  // ---- product panel -------------------------------------------------------------------------
  async function openProduct(product, opts) {
    const drawer = $("drawer");
    if (opts.source === "search") {
      postEvent("search_click", product.sku, { query: opts.query, request_id: opts.request_id, position: opts.position });
    } else if (opts.request_id) {
      postEvent("click", product.sku, { request_id: opts.request_id, position: opts.position });
    }
    const status = el("div");
    const cart = el("button", { class: "btn primary", type: "button", id: "add-to-cart", text: T("addToCart"),
      onclick: async () => {
        const ok = await postEvent("add_to_cart", product.sku, opts.request_id ? { request_id: opts.request_id } : {});
        clear(status, note(ok ? "ok" : "warn", ok ? T("added") : "Not recorded (see the note above)."));
      } });
    const similar = el("div", { class: "grid", id: "similar" });
    const together = el("div", { class: "grid", id: "together" });
    const where = el("div", { class: "muted" });
    clear(drawer,
      el("button", { class: "btn close", type: "button", text: T("close"), onclick: closeProduct }),
      el("h2", { id: "drawer-title", text: product.title }),
      product.brand ? el("div", { class: "muted", text: product.brand }) : null,
      product.category ? el("div", { class: "muted", text: product.category }) : null,
      product.price !== undefined ? priceLine(product) : null, stockLine(product),
      el("p", {}, cart), status, where,
      el("section", { class: "rail" }, el("h2", { text: T("similar") }), similar),
      el("section", { class: "rail" }, el("h2", { text: T("together") }), together));
    drawer.classList.remove("hidden");
    cart.focus();
    const params = { k: 6, channel: CHANNEL, store_id: state.store };
    const sku = encodeURIComponent(product.sku);
    fillRail(similar, `/v1/recommendations/items/${sku}/similar`, params);
    fillRail(together, `/v1/recommendations/items/${sku}/bought-together`, params);
    try {
      const avail = await api(`/v1/products/${sku}/availability`, { key: searchKey() });
      const stores = avail.stores.slice(0, 6).map((s) => `${s.store_id} (${s.quantity})`).join(", ");
      where.textContent = stores ? `${T("availability")}: ${stores}` : "";
    } catch (err) { where.textContent = ""; }
  }

  function closeProduct() { $("drawer").classList.add("hidden"); }
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") closeProduct(); });

  async function fillRail(grid, path, params, key) {
    clear(grid, el("p", { class: "muted", text: "…" }));
    try {
      const data = await api(path, { params, key: key || searchKey() });
      clear(grid, data.items.length ? data.items.map((item, i) => card(item.product, { source: "recs",
        request_id: data.request_id, position: i + 1, reason: item.reason })) : el("p", { class: "muted", text: "—" }));
      return data;
    } catch (err) {
      clear(grid, note("error", explain(err)));
      return null;
    }
  }

  // ---- recommendations, store picker, keys -----------------------------------------------------
  function loadRails() {
    const params = { k: 8, channel: CHANNEL, store_id: state.store };
    fillRail($("trending").querySelector(".grid"), "/v1/recommendations/trending", params).then(() => {
      if (performance.getEntriesByName("omnirank:first-render").length) return;
      performance.mark("omnirank:first-render");
      // after the first render: does this service take a lang parameter? (its OpenAPI says)
      OR.acceptsParam("/v1/search", "lang").then((yes) => { state.sendLang = yes; });
    });
    const forYou = $("for-you");
    forYou.classList.toggle("hidden", !state.customer);
    if (state.customer) {
      fillRail(forYou.querySelector(".grid"), `/v1/recommendations/customers/${encodeURIComponent(state.customer)}`,
        params, personalKey() || searchKey());
    }
  }

  async function loadStores() {
    try {
      const stores = await api("/v1/stores", { key: searchKey() });
      const select = $("store");
      clear(select, el("option", { value: "", "data-t": "online", text: T("online") }),
        stores.map((s) => el("option", { value: s.store_id, text: s.name ? `${s.name} · ${s.city || s.store_id}` : s.store_id })));
      select.value = stores.some((s) => s.store_id === state.store) ? state.store : "";
      state.store = select.value;
    } catch (err) {
      status("error", explain(err));
    }
  }

  function keysPanel() {
    const customer = el("input", { id: "customer", type: "text", placeholder: "C… / LY…", "aria-label": T("customer") });
    customer.value = state.customer;
    const customerForm = el("form", { onsubmit: (e) => {
      e.preventDefault();
      state.customer = customer.value.trim();
      sessionStorage.setItem("omnirank.customer", state.customer);
      loadRails();
      $("keys").open = false;
    } }, el("label", { text: T("customer") }), customer,
    el("button", { class: "btn primary", type: "submit", text: "OK" }));
    const reload = () => { state.eventsWarned = false; status(null); loadStores(); loadRails(); if (state.q) runSearch(); };
    clear($("keys-form"), customerForm,
      OR.keyForm("storefront", T("storefrontKey"), reload), OR.keyForm("personalize", T("personalizeKey"), reload));
  }

  $("store").addEventListener("change", () => {
    state.store = $("store").value;
    sessionStorage.setItem("omnirank.store", state.store);
    loadRails();
    if (state.q) runSearch();
  });
  $("lang").value = state.lang;
  $("lang").addEventListener("change", () => {
    state.lang = $("lang").value;
    localStorage.setItem("omnirank.lang", state.lang);
    applyLabels();
    keysPanel();
    if (state.lastSearch) renderSearch(state.lastSearch);
  });

  async function start() {
    applyLabels();
    keysPanel();
    state.config = await OR.config();
    loadStores();
    loadRails();
    const initial = new URLSearchParams(location.search).get("q");
    if (initial) search(initial, {});
    input.focus();
  }
  start();
})();
