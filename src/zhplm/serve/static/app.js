// The catalog page: plain JS, no build step. Every value from the server goes in with textContent.
"use strict";
const $ = (id) => document.getElementById(id);
const KEY = "zhplm-api-key";

function headers(extra) {
  const h = Object.assign({}, extra || {});
  const key = localStorage.getItem(KEY);
  if (key) h["Authorization"] = "Bearer " + key;
  return h;
}

async function api(path, options) {
  const opts = Object.assign({}, options || {});
  opts.headers = headers(opts.headers);
  const res = await fetch(path, opts);
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    const msg = (body.error && body.error.message) || res.statusText;
    throw new Error(res.status + ": " + msg);
  }
  return body;
}

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function showError(where, err) { $(where).textContent = err ? String(err.message || err) : ""; }

async function loadFacets() {
  const f = await api("/api/facets");
  $("section").length = 1;
  $("family").length = 1;
  for (const s of f.sections) $("section").appendChild(new Option(s, s));
  for (const fam of f.families) $("family").appendChild(new Option(fam, fam));
}

async function search() {
  showError("error");
  const params = new URLSearchParams({ q: $("q").value, section: $("section").value, family: $("family").value });
  try {
    const data = await api("/api/catalog?" + params);
    const body = $("rows").tBodies[0];
    body.replaceChildren();
    for (const r of data.rows) {
      const tr = el("tr");
      tr.dataset.id = r.id;
      for (const v of [r.id, r.name, r.family, r.size, r.domain_zh || r.domain_en, r.publisher]) tr.appendChild(el("td", v));
      tr.addEventListener("click", () => openRow(r.id, tr));
      body.appendChild(tr);
    }
    $("count").textContent = data.total + " models";
  } catch (err) { showError("error", err); }
}

async function openRow(id, tr) {
  showError("error");
  try {
    const d = await api("/api/catalog/" + encodeURIComponent(id));
    for (const row of document.querySelectorAll("#rows tr.open")) row.classList.remove("open");
    if (tr) tr.classList.add("open");
    $("detail").hidden = false;
    $("d-name").textContent = d.name + " (" + d.id + ")";
    const facts = $("d-facts");
    facts.replaceChildren();
    const pairs = [["section", d.section], ["family", d.family], ["size", d.size], ["arch", d.arch],
      ["layers", d.layers], ["hidden", d.hidden], ["heads", d.heads], ["parameters", d.parameters],
      ["vocab", d.vocab_size], ["domain", [d.domain_zh, d.domain_en].filter(Boolean).join(" / ")],
      ["publisher", d.publisher && d.publisher.name]];
    for (const [k, v] of pairs) {
      if (v === undefined || v === null || v === "") continue;
      facts.appendChild(el("dt", k));
      facts.appendChild(el("dd", v));
    }
    const papers = $("d-papers");
    papers.replaceChildren();
    for (const p of d.papers || []) {
      const li = el("li", p.year + " · " + p.title + " · " + p.venue + " ");
      for (const link of p.links || []) {
        const a = el("a", link.label);
        a.href = link.url; a.target = "_blank"; a.rel = "noopener noreferrer";
        li.appendChild(a);
      }
      papers.appendChild(li);
    }
    const plan = $("d-plan");
    plan.replaceChildren();
    for (const w of d.plan) plan.appendChild(el("li", w.where + " — " + w.why + (w.automatic ? "" : " (by hand)")));
    if (!d.plan.length) plan.appendChild(el("li", "no way to get it is known"));
    const s = d.store;
    $("d-store").textContent = s.loaded ? "loaded in this server" : s.served ? "served here (loads on first use)"
      : s.converted ? "converted in the store" : s.present ? "downloaded, not converted" : "not in the store: zhplm download " + d.id;
  } catch (err) { showError("error", err); }
}

async function loadModels() {
  try {
    const data = await api("/v1/models");
    const select = $("try-model");
    select.replaceChildren();
    for (const m of data.data) if (m.tasks.includes("fill-mask")) select.appendChild(new Option(m.id, m.id));
    showError("try-error", select.options.length ? null : "no fill-mask model is served here");
  } catch (err) { showError("try-error", err); }
}

async function fillMask() {
  showError("try-error");
  const out = $("try-out");
  out.replaceChildren();
  try {
    const data = await api("/v1/fill-mask", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ model: $("try-model").value, input: $("try-text").value, top_k: 5 }),
    });
    for (const mask of data.data[0].masks) {
      for (const p of mask) {
        const li = el("li", p.sequence, "answer");
        li.appendChild(el("span", p.token + " " + p.score.toFixed(4), "score"));
        out.appendChild(li);
      }
    }
  } catch (err) { showError("try-error", err); }
}

function start() {
  $("api-key").value = localStorage.getItem(KEY) || "";
  $("key-state").textContent = localStorage.getItem(KEY) ? "saved" : "";
  $("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    localStorage.setItem(KEY, $("api-key").value.trim());
    $("key-state").textContent = "saved";
    loadFacets().then(search).catch((err) => showError("error", err));
    loadModels();
  });
  $("search-form").addEventListener("submit", (e) => { e.preventDefault(); search(); });
  $("try-run").addEventListener("click", fillMask);
  loadFacets().then(search).catch((err) => showError("error", err));
  loadModels();
}
start();
