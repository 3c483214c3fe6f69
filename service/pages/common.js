// omnirank pages: what every page shares. Plain JavaScript, no build step, no framework.
// Every catalog and customer string is written with textContent (see el()): never innerHTML.
"use strict";

const OR = (() => {
  class ApiError extends Error {
    constructor(status, detail) {
      super(detail);
      this.status = status; // 0: the service did not answer
      this.detail = detail;
    }
  }

  // el("div", {class: "x", text: "...", onclick: fn, "data-x": 1}, child, "text", ...)
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") node.textContent = String(value);
      else if (name === "class") node.className = value;
      else if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function clear(node, ...children) {
    node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
    return node;
  }

  // Keys live in this tab only (sessionStorage): closing the tab signs out.
  const keys = {
    get: (name) => sessionStorage.getItem(`omnirank.key.${name}`) || "",
    set: (name, value) => (value ? sessionStorage.setItem(`omnirank.key.${name}`, value)
      : sessionStorage.removeItem(`omnirank.key.${name}`)),
  };

  let configPromise = null;
  function config() {
    configPromise = configPromise || fetch("/pages/config.json", { cache: "no-store" })
      .then((r) => (r.ok ? r.json() : {}))
      .catch(() => ({}));
    return configPromise;
  }

  async function api(path, { method = "GET", params = null, body = undefined, key = "" } = {}) {
    const url = new URL(path, location.origin);
    for (const [name, value] of Object.entries(params || {})) {
      if (value === null || value === undefined || value === "") continue;
      url.searchParams.set(name, value);
    }
    const headers = { Accept: "application/json" };
    if (key) headers["X-API-Key"] = key;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (err) {
      throw new ApiError(0, "The service does not answer. Is omnirank running?");
    }
    let data = null;
    try { data = await response.json(); } catch (err) { data = null; }
    if (!response.ok) {
      const detail = data && typeof data.detail === "string" ? data.detail : `HTTP ${response.status}`;
      throw new ApiError(response.status, detail);
    }
    return data;
  }

  // A person-readable sentence for a failed call.
  function explain(err) {
    if (!(err instanceof ApiError)) return `Something went wrong: ${err && err.message ? err.message : err}`;
    switch (err.status) {
      case 0: return err.detail;
      case 401: return "Sign-in needed: the key is missing or not valid (401).";
      case 403: return `This key may not do this (403): ${err.detail}`;
      case 404: return `Not found: ${err.detail}`;
      case 413: case 431: return `Too large: ${err.detail}`;
      case 422: return `Please check the input: ${err.detail}`;
      case 429: case 503: return `The service is busy or not ready (${err.status}): ${err.detail}`;
      default: return `The service answered ${err.status}: ${err.detail}`;
    }
  }

  function note(kind, text, ...extra) {
    return el("div", { class: `note ${kind}`, role: kind === "error" ? "alert" : "status" }, text, ...extra);
  }

  function debounce(fn, ms) {
    let timer = null;
    return (...args) => {
      clearTimeout(timer);
      timer = setTimeout(() => fn(...args), ms);
    };
  }

  const moneyFormat = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const money = (value) => (value === null || value === undefined ? "" : moneyFormat.format(value));

  // The query parameters an operation accepts, read from the public OpenAPI document once, so a
  // page sends a parameter (say, lang) only to a service that takes it (unknown ones are a 422).
  let schemaPromise = null;
  async function acceptsParam(path, name) {
    schemaPromise = schemaPromise || fetch("/openapi.json").then((r) => (r.ok ? r.json() : null)).catch(() => null);
    const schema = await schemaPromise;
    const op = schema && schema.paths && schema.paths[path] && schema.paths[path].get;
    return Boolean(op && (op.parameters || []).some((p) => p.in === "query" && p.name === name));
  }

  // A key field: shows the stored key's presence, stores a new one in sessionStorage.
  function keyForm(name, label, onChange) {
    const input = el("input", { type: "password", autocomplete: "off", placeholder: "ork_…", "aria-label": label,
      "data-key": name });
    input.value = keys.get(name);
    const save = el("button", { class: "btn primary", type: "submit", text: "Use key" });
    const forget = el("button", { class: "btn", type: "button", text: "Forget",
      onclick: () => { input.value = ""; keys.set(name, ""); onChange(""); } });
    const form = el("form", { class: "keyform", onsubmit: (e) => {
      e.preventDefault();
      keys.set(name, input.value.trim());
      onChange(input.value.trim());
    } }, el("label", { text: label }), input, el("div", { class: "row" }, save, forget));
    return form;
  }

  return { ApiError, el, clear, keys, config, api, explain, note, debounce, money, acceptsParam, keyForm };
})();
