// Review page: every value shown comes from a bill (hostile); it goes into the page only through
// textContent / value, never as HTML. Calls /ui/api with the API key from the box at the top.
// Provenance: the field in focus (or under the mouse) has its source box drawn over the page it was
// read on; the envelope's boxes are in pixels of the page as the server decoded it, scaled here by
// `page_sizes` to the size the page is shown at.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { id: null, fields: [], envelope: null, urls: [], focused: null, hovered: null };

function keyHeaders() {
  const key = sessionStorage.getItem("extractor-api-key");
  return key ? { "X-API-Key": key } : {};
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: { ...keyHeaders(), ...(options.headers || {}) } });
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail || detail; } catch (e) { /* not JSON */ }
    throw new Error(`${response.status}: ${detail}`);
  }
  return response;
}

function say(text, isError = false, source = "") {
  const status = $("status");
  status.textContent = text;
  status.className = isError ? "error" : "";
  status.dataset.source = source;
}

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

async function loadQueue() {
  const list = $("queue");
  try {
    const { items } = await (await api("ui/api/queue")).json();
    list.replaceChildren();
    if (!items.length) list.append(el("li", "nothing to review"));
    for (const item of items) {
      const li = el("li", item.key);
      li.dataset.id = item.id;
      const when = item.queued_at ? new Date(item.queued_at * 1000).toLocaleString() : "";
      li.append(el("small", `${when} · ${(item.warnings || []).join(", ") || "no warnings"}`));
      if (item.id === state.id) li.classList.add("active");
      li.addEventListener("click", () => openItem(item.id));
      list.append(li);
    }
    if ($("status").dataset.source === "queue") say("");
    loadKeys();
  } catch (error) {
    const hint = error.message.startsWith("401") ? " (enter an API key with the admin scope above)" : "";
    say(`queue: ${error.message}${hint}`, true, "queue");
  }
}

// Per key: corrected bills and the serving adapter's score on those it answered (when to retrain),
// and each reviewed bill with a button that deletes it (its correction and its file).
async function loadKeys() {
  const list = $("keys");
  try {
    const { keys } = await (await api("ui/api/keys")).json();
    list.replaceChildren();
    if (!keys.length) list.append(el("li", "no corrected bills yet"));
    for (const entry of keys) {
      const li = el("li", `${entry.key}: ${entry.corrected} corrected`);
      li.dataset.key = entry.key;
      const serving = entry.serving ? `${entry.serving.adapter} ${String(entry.serving.version || "").slice(0, 8)}` : "no adapter";
      const score = entry.serving_score === null ? "not scored (it answered none of them)"
        : `micro F1 ${entry.serving_score.toFixed(3)} on ${entry.serving_scored_on}`;
      li.append(el("small", `serving ${serving}: ${score}`));
      if (entry.trained_forgotten) li.append(el("small", `${entry.trained_forgotten} trained on, files deleted`));
      const bills = el("ul", null, "bills");
      for (const bill of entry.bills) {
        const row = el("li", bill.reviewed_at ? new Date(bill.reviewed_at * 1000).toLocaleString() : bill.id);
        const remove = el("button", "delete", "delete-bill");
        remove.type = "button";
        remove.title = "delete this reviewed bill (its correction and its file)";
        remove.addEventListener("click", () => deleteReviewed(entry.key, bill.id));
        row.append(remove);
        bills.append(row);
      }
      li.append(bills);
      list.append(li);
    }
  } catch (error) {
    list.replaceChildren(el("li", `keys: ${error.message}`));
  }
}

async function deleteReviewed(key, id) {
  try {
    await api(`ui/api/keys/${encodeURIComponent(key)}/bills/${encodeURIComponent(id)}`, { method: "DELETE" });
    say("reviewed bill deleted");
    loadKeys();
  } catch (error) {
    say(error.message, true);
  }
}

function fieldInput(name, value) {
  if (typeof value === "boolean") {
    const box = el("input");
    box.type = "checkbox";
    box.checked = value;
    return box;
  }
  if (Array.isArray(value) || (value !== null && typeof value === "object")) {
    const area = el("textarea");
    area.value = JSON.stringify(value);
    area.dataset.json = "1";
    return area;
  }
  const input = el("input");
  input.type = "text";
  input.value = value === null || value === undefined ? "" : String(value);
  return input;
}

async function openItem(id) {
  try {
    const item = await (await api(`ui/api/items/${encodeURIComponent(id)}`)).json();
    state.id = item.id;
    state.fields = item.fields;
    state.envelope = item.envelope;
    renderItem(item);
    await renderPages(item.id, item.envelope.pages || 1);
    await loadQueue();
  } catch (error) {
    say(error.message, true);
  }
}

function renderItem(item) {
  const env = item.envelope;
  state.focused = state.hovered = null;  // the previous bill's field is gone with its form
  const flagged = new Map();
  for (const warning of env.warnings || []) {
    for (const field of warning.fields || []) flagged.set(field, `${warning.code}: ${warning.message}`);
  }
  $("meta").textContent = `${env.key} · ${env.adapter ? "adapter " + env.adapter : "base model"} · ` +
    `${env.pages} page(s) · review ${env.requires_review ? "required" : "not required"}`;
  const warnings = $("warnings");
  warnings.replaceChildren(...(env.warnings || []).map((w) => el("li", `${w.code}: ${w.message}`)));
  const form = $("fields");
  form.replaceChildren();
  for (const name of item.fields) {
    const row = el("div", null, "field");
    row.dataset.field = name;
    const input = fieldInput(name, env.data[name]);
    input.id = `field-${name}`;
    input.name = name;
    const label = el("label", name);
    label.htmlFor = input.id;
    const confidence = env.confidence ? env.confidence[name] : undefined;
    const conf = el("span", confidence === undefined ? "" : confidence.toFixed(2), "conf");
    if (confidence !== undefined && confidence < item.threshold) row.classList.add("low");
    if (flagged.has(name)) {
      row.classList.add("flagged");
      row.title = flagged.get(name);
    }
    row.append(label, input, conf);
    input.addEventListener("focus", () => { state.focused = name; drawSources(); });
    input.addEventListener("blur", () => { if (state.focused === name) state.focused = null; drawSources(); });
    row.addEventListener("mouseenter", () => { state.hovered = name; drawSources(); });
    row.addEventListener("mouseleave", () => { if (state.hovered === name) state.hovered = null; drawSources(); });
    form.append(row);
  }
  $("editor").hidden = false;
}

// ---------------------------------------------------------------- provenance boxes
function sourcesOf(name) {
  // the field's sources, one per located value (a list field has one per row; null rows are skipped)
  const sources = (state.envelope && state.envelope.sources) || {};
  const found = sources[name];
  const list = Array.isArray(found) ? found : [found];
  return list.filter((s) => s && Number.isInteger(s.page) && Array.isArray(s.box) && s.box.length === 4 &&
    s.box.every((v) => Number.isFinite(v)));
}

function drawSources() {
  for (const old of document.querySelectorAll("#pages .source-box")) old.remove();
  const name = state.hovered || state.focused;
  if (!name) return;
  const sizes = (state.envelope && state.envelope.page_sizes) || [];
  for (const [row, source] of sourcesOf(name).entries()) {
    const holder = document.querySelector(`#pages .page[data-page="${source.page}"]`);
    const img = holder && holder.querySelector("img");
    if (!img) continue;
    if (!img.complete || !img.naturalWidth) {  // not decoded yet: draw once it is
      img.addEventListener("load", drawSources, { once: true });
      continue;
    }
    // boxes are in pixels of the page as the server decoded it; without page_sizes (older answers),
    // take the page image's own size
    const [width, height] = sizes[source.page - 1] || [img.naturalWidth, img.naturalHeight];
    if (!(width > 0 && height > 0)) continue;
    const sx = img.clientWidth / width, sy = img.clientHeight / height;
    const [x0, y0, x1, y1] = source.box;
    const box = el("div", null, "source-box");
    box.dataset.field = name;
    box.dataset.row = String(row);
    box.title = String(source.text ?? "");  // a property, never markup
    box.style.left = `${img.offsetLeft + img.clientLeft + Math.min(x0, x1) * sx}px`;
    box.style.top = `${img.offsetTop + img.clientTop + Math.min(y0, y1) * sy}px`;
    box.style.width = `${Math.abs(x1 - x0) * sx}px`;
    box.style.height = `${Math.abs(y1 - y0) * sy}px`;
    holder.append(box);
  }
}

async function renderPages(id, pages) {
  for (const url of state.urls) URL.revokeObjectURL(url);
  state.urls = [];
  const box = $("pages");
  box.replaceChildren();
  for (let n = 1; n <= pages; n++) {
    const blob = await (await api(`ui/api/items/${encodeURIComponent(id)}/pages/${n}`)).blob();
    const url = URL.createObjectURL(blob);
    state.urls.push(url);
    const holder = el("div", null, "page");
    holder.dataset.page = String(n);
    const img = el("img");
    img.alt = `page ${n}`;
    img.src = url;
    holder.append(img);
    box.append(holder);
  }
  drawSources();
}

function collect() {
  const data = {};
  for (const name of state.fields) {
    const input = $(`field-${name}`);
    if (input.type === "checkbox") data[name] = input.checked;
    else if (input.dataset.json) {
      const text = input.value.trim();
      try { data[name] = text ? JSON.parse(text) : []; }
      catch (e) { throw new Error(`${name}: not valid JSON`); }
    } else {
      const text = input.value.trim();
      data[name] = text === "" ? null : text;
    }
  }
  return data;
}

async function save() {
  try {
    const body = JSON.stringify({ data: collect() });
    const result = await (await api(`ui/api/items/${encodeURIComponent(state.id)}`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body,
    })).json();
    say(`saved to ${result.annotations}`);
    closeItem();
  } catch (error) {
    say(error.message, true);
  }
}

async function discard() {
  try {
    await api(`ui/api/items/${encodeURIComponent(state.id)}`, { method: "DELETE" });
    say("deleted from the queue");
    closeItem();
  } catch (error) {
    say(error.message, true);
  }
}

function closeItem() {
  state.id = null;
  state.focused = state.hovered = null;
  $("editor").hidden = true;
  $("pages").replaceChildren();
  loadQueue();
}

async function upload(event) {
  event.preventDefault();
  const form = new FormData($("upload-form"));
  $("upload-button").disabled = true;
  say("extracting…");
  try {
    const result = await (await api("ui/api/upload", { method: "POST", body: form })).json();
    say(`extracted: ${result.envelope.key}`);
    await openItem(result.id);
  } catch (error) {
    say(error.message, true);
  } finally {
    $("upload-button").disabled = false;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const keyBox = $("api-key");
  keyBox.value = sessionStorage.getItem("extractor-api-key") || "";
  keyBox.addEventListener("change", () => {
    sessionStorage.setItem("extractor-api-key", keyBox.value.trim());
    loadQueue();
  });
  $("upload-form").addEventListener("submit", upload);
  $("refresh").addEventListener("click", loadQueue);
  $("save").addEventListener("click", save);
  $("discard").addEventListener("click", discard);
  window.addEventListener("resize", drawSources);
  loadQueue();
});
