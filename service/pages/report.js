// The served bundle's evaluation report (/report): GET /v1/admin/report, its markdown rendered
// as DOM nodes (headings, paragraphs, lists, tables, plots), every text with textContent.
"use strict";
(() => {
  const { el, clear, api, explain, note, keys } = OR;
  const $ = (id) => document.getElementById(id);
  const key = () => keys.get("admin");

  function showSignin(message) {
    $("signin").classList.remove("hidden");
    $("report").classList.add("hidden");
    clear($("signin-form"), OR.keyForm("admin", "Admin key", () => start()));
    clear($("status"), message ? note("error", message) : null);
  }

  // `code` and **bold** inside a line; everything else is text.
  function inline(text) {
    const out = [];
    const pattern = /(`[^`]+`|\*\*[^*]+\*\*)/g;
    let last = 0;
    for (const m of text.matchAll(pattern)) {
      if (m.index > last) out.push(text.slice(last, m.index));
      const token = m[0];
      out.push(token.startsWith("`") ? el("code", { text: token.slice(1, -1) }) : el("strong", { text: token.slice(2, -2) }));
      last = m.index + token.length;
    }
    if (last < text.length) out.push(text.slice(last));
    return out;
  }

  const cells = (line) => line.trim().replace(/^\|/, "").replace(/\|$/, "").split("|").map((c) => c.trim());

  function render(markdown, plots) {
    const nodes = [];
    const lines = markdown.split("\n");
    let i = 0;
    while (i < lines.length) {
      const line = lines[i];
      let m;
      if (!line.trim()) { i++; continue; }
      if ((m = /^(#{1,4})\s+(.*)$/.exec(line))) {
        nodes.push(el(`h${m[1].length}`, {}, inline(m[2])));
        i++;
      } else if ((m = /^!\[([^\]]*)\]\(([^)]+)\)\s*$/.exec(line.trim()))) {
        const src = plots[m[2]];
        nodes.push(src ? el("img", { src, alt: m[1] || m[2], loading: "lazy" }) : el("p", { class: "muted", text: `(missing plot ${m[2]})` }));
        i++;
      } else if (line.trim().startsWith("|")) {
        const rows = [];
        while (i < lines.length && lines[i].trim().startsWith("|")) rows.push(lines[i++]);
        const [head, ...rest] = rows;
        const body = rest.filter((r) => !/^\s*\|?\s*:?-{2,}/.test(r));
        nodes.push(el("table", {}, el("thead", {}, el("tr", {}, cells(head).map((c) => el("th", {}, inline(c))))),
          el("tbody", {}, body.map((r) => el("tr", {}, cells(r).map((c) => el("td", {}, inline(c))))))));
      } else if (/^\s*[-*]\s+/.test(line)) {
        const items = [];
        while (i < lines.length && /^\s*[-*]\s+/.test(lines[i])) items.push(lines[i++].replace(/^\s*[-*]\s+/, ""));
        nodes.push(el("ul", {}, items.map((t) => el("li", {}, inline(t)))));
      } else {
        const para = [];
        while (i < lines.length && lines[i].trim() && !/^(#|\||!\[|\s*[-*]\s)/.test(lines[i].trim())) para.push(lines[i++]);
        if (!para.length) para.push(lines[i++]);
        nodes.push(el("p", {}, inline(para.join(" "))));
      }
    }
    return nodes;
  }

  async function start() {
    clear($("status"));
    const config = await OR.config();
    if (!key() && !config.dev_mode) return showSignin();
    clear($("status"), note("info", "Loading the report…"));
    let data;
    try {
      data = await api("/v1/admin/report", { key: key() });
    } catch (err) {
      if (err.status === 401 || err.status === 403) return showSignin(explain(err));
      clear($("status"), note("error", explain(err)));
      return;
    }
    clear($("status"));
    $("signin").classList.add("hidden");
    $("version").textContent = `bundle ${data.bundle_version}`;
    const report = $("report");
    clear(report, render(data.markdown, data.plots || {}));
    report.classList.remove("hidden");
  }

  $("signout").addEventListener("click", () => { keys.set("admin", ""); showSignin(); });
  start();
})();
