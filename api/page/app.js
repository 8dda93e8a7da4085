// The upload page: token, checks, direct upload to storage (multipart, resumable), confirm,
// following the version, and the list of datasets. Plain script, no build step.
"use strict";

const TOKEN_KEY = "automl.token";
const UNFINISHED_KEY = "automl.unfinished";  // upload id -> {dataset_name, dataset_id}
const PARALLEL_PARTS = 3;
const PART_ATTEMPTS = 4;
const POLL_MS = 1000;
const $ = (id) => document.getElementById(id);

let chosenFile = null;
let resumable = [];  // pending multipart uploads the API lists (shared contract 2)
let busy = false;
let autoName = "";
const DROP_TEXT = $("drop-text").textContent;  // the dataset name the page filled in (replaced when another file is chosen)

function bytes(n) {
  // Binary units, as the tiers are set (a free tier's 100 MiB shows as 100 MiB, not 105 MB).
  if (n == null) return "?";
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (Math.round(n) >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  if (i === 0) return n + " bytes";
  const shown = n < 9.95 ? n.toFixed(1).replace(/\.0$/, "") : String(Math.round(n));
  return shown + " " + units[i];
}
function duration(seconds) {
  if (!isFinite(seconds)) return "";
  if (seconds < 60) return Math.max(1, Math.round(seconds)) + " s";
  const m = Math.floor(seconds / 60);
  return m < 60 ? m + " min " + Math.round(seconds % 60) + " s"
    : Math.floor(m / 60) + " h " + (m % 60) + " min";
}
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v; else if (k.startsWith("on")) node[k] = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c != null) node.append(c);
  return node;
}
function say(text) { $("message").textContent = text || ""; }
function token() { return localStorage.getItem(TOKEN_KEY) || ""; }
function unfinished() { return JSON.parse(localStorage.getItem(UNFINISHED_KEY) || "{}"); }
function remember(id, info) {
  const all = unfinished();
  if (info) all[id] = info; else delete all[id];
  localStorage.setItem(UNFINISHED_KEY, JSON.stringify(all));
}

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}
async function api(method, path, body) {
  const headers = {"Authorization": "Bearer " + token()};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const answer = await fetch(path, {method, headers,
    body: body === undefined ? undefined : JSON.stringify(body)});
  const data = await answer.json().catch(() => ({}));
  if (!answer.ok) {
    const error = data.error || {};
    throw new ApiError(answer.status, error.code || "http_" + answer.status,
      error.message || "the API answered " + answer.status);
  }
  return data;
}

// --- token -----------------------------------------------------------------------------------
function showToken() {
  const saved = Boolean(token());
  $("token-form").hidden = saved;
  $("token-saved").hidden = !saved;
}
$("token-form").onsubmit = (event) => {
  event.preventDefault();
  localStorage.setItem(TOKEN_KEY, $("token").value.trim());
  $("token").value = "";
  showToken();
  start();
};
function forgetToken() {
  localStorage.removeItem(TOKEN_KEY);
  showToken();
  $("datasets").textContent = "";
  $("usage").textContent = "";
}
$("forget-token").onclick = () => {
  forgetToken();
  $("token").focus();
};

// --- usage, resume offers, datasets ------------------------------------------------------------
async function showUsage() {
  const usage = await api("GET", "/api/usage");
  $("usage").textContent = bytes(usage.committed_bytes) + " of " + bytes(usage.quota_bytes) +
    " used · " + bytes(usage.free_bytes) + " free";
  return usage;
}

async function showResumable() {
  const box = $("resume");
  box.textContent = "";
  try {
    resumable = (await api("GET", "/api/datasets/uploads")).uploads.filter((u) => u.multipart);
  } catch (error) {
    resumable = [];
  }
  box.hidden = resumable.length === 0;
  if (chosenFile) {
    $("upload-button").textContent = matchingUpload(chosenFile) ? "Resume upload" : "Upload";
  }
  for (const upload of resumable) {
    const stored = upload.stored_parts.length;
    box.append(el("p", {},
      "Unfinished upload of ", el("strong", {}, upload.filename), " (" + bytes(upload.size_bytes) +
      ", " + stored + " of " + upload.part_count + " parts stored). Choose the same file again " +
      "to send only the rest, or ",
      el("button", {type: "button", class: "link",
        "aria-label": "Discard the unfinished upload of " + upload.filename,
        onclick: () => discard(upload)}, "discard it"), "."));
  }
}

async function discard(upload) {
  try {
    await api("POST", "/api/datasets/upload-abort", {upload_id: upload.upload_id});
  } catch (error) { say(error.message); }
  remember(upload.upload_id, null);
  showResumable();
  showUsage();
}

async function showDatasets() {
  const box = $("datasets");
  const page = await api("GET", "/api/datasets?limit=50");
  const select = $("dataset-id");
  const chosen = select.value;
  select.replaceChildren(el("option", {value: ""}, "a new dataset"));
  box.replaceChildren();
  if (page.items.length === 0) box.append(el("p", {class: "muted"}, "No datasets yet."));
  for (const dataset of page.items) {
    select.append(el("option", {value: dataset.id, "data-name": dataset.name},
      dataset.name + " (as a new version)"));
    const detail = await api("GET", "/api/datasets/" + dataset.id);
    const list = el("ul", {class: "versions"});
    // The API lists versions oldest first (version 1 first); the page shows the newest first.
    detail.versions.map((version, i) => ({version, number: i + 1})).reverse()
      .forEach(({version, number}) => {
        const counts = version.row_count == null ? "" :
          version.row_count.toLocaleString() + " rows × " + version.column_count + " columns";
        const ready = version.status === "ready";
        list.append(el("li", {},
          el("span", {class: "version"}, "Version " + number),
          el("span", {class: version.status}, version.status),
          el("span", {class: "muted"}, new Date(version.created_at).toLocaleString()),
          counts ? el("span", {}, counts) : null,
          ready ? el("button", {type: "button", class: "secondary",
            "aria-label": "Download version " + number + " of " + dataset.name,
            onclick: () => download(dataset.id, version.id)}, "Download") : null,
          ready && number > 1 ? changesDisclosure(dataset.id, version.id) : null));
      });
    box.append(el("div", {class: "dataset"},
      el("h3", {}, dataset.name),
      el("p", {class: "meta"}, dataset.version_count + " version" +
        (dataset.version_count === 1 ? "" : "s") + " · created " +
        new Date(dataset.created_at).toLocaleDateString()),
      list,
      el("div", {class: "actions"}, el("button", {type: "button", class: "danger",
        "aria-label": "Delete dataset " + dataset.name,
        onclick: () => removeDataset(dataset)}, "Delete dataset"))));
  }
  select.value = chosen;
  showTarget();
}

function changesDisclosure(datasetId, versionId) {
  // What changed since the version before, fetched the first time it is opened.
  const details = el("details", {class: "changes"}, el("summary", {}, "What changed"));
  details.ontoggle = async () => {
    if (!details.open || details.dataset.loaded) return;
    details.dataset.loaded = "yes";
    try {
      const changes = await api("GET", "/api/datasets/" + datasetId + "/versions/" + versionId +
        "/changes");
      details.append(changeList(changes));
    } catch (error) {
      delete details.dataset.loaded;
      details.append(el("p", {class: "muted"}, "The changes could not be read: " + error.message));
    }
  };
  return details;
}

async function download(datasetId, versionId) {
  try {
    const answer = await api("GET", "/api/datasets/" + datasetId + "/versions/" + versionId +
      "/download-url");
    window.location.assign(answer.url);
  } catch (error) { say(error.message); }
}

async function removeDataset(dataset) {
  if (!window.confirm("Delete " + dataset.name + " and all its versions?")) return;
  try {
    await api("DELETE", "/api/datasets/" + dataset.id);
  } catch (error) { say(error.message); }
  refresh();
}

function refresh() {
  if (!token()) return;
  showUsage().catch(report);
  showResumable();
  showDatasets().catch(report);
}
$("refresh").onclick = refresh;

// --- choosing a file ---------------------------------------------------------------------------
function choose(file) {
  chosenFile = file;
  say("");
  $("result").textContent = "";
  $("progress-block").hidden = true;
  $("drop-text").replaceChildren(el("strong", {}, file.name), " · " + bytes(file.size),
    el("span", {class: "hint"}, "Choose another file, or drop it here"));
  $("drop-zone").classList.add("chosen");
  const match = matchingUpload(file);
  if (match) {
    const info = unfinished()[match.upload_id] || {};
    $("dataset-name").value = info.dataset_name || stem(file.name);
    $("dataset-id").value = info.dataset_id || "";
    showTarget();
    $("upload-button").textContent = "Resume upload";
  } else {
    const name = $("dataset-name");
    if (!name.value || name.value === autoName) name.value = stem(file.name);
    $("upload-button").textContent = "Upload";
  }
  autoName = $("dataset-name").value;
  $("upload-button").disabled = busy;
}
function clearChosenFile() {
  // Uploaded: the form is ready for the next file, so a second press cannot send it twice.
  chosenFile = null;
  $("file").value = "";
  if ($("dataset-name").value === autoName) $("dataset-name").value = "";
  autoName = "";
  $("drop-text").textContent = DROP_TEXT;
  $("drop-zone").classList.remove("chosen");
  $("upload-button").textContent = "Upload";
  $("upload-button").disabled = true;
}
function showTarget() {
  // A new version keeps its dataset's name: the name field is for a new dataset only.
  const existing = Boolean($("dataset-id").value);
  $("name-field").hidden = existing;
  $("dataset-name").disabled = existing;  // not checked as required while hidden
}
$("dataset-id").onchange = showTarget;
function target() {
  const option = $("dataset-id").selectedOptions[0];
  if (option && option.value) return {dataset_name: option.dataset.name, dataset_id: option.value};
  return {dataset_name: $("dataset-name").value.trim() || stem(chosenFile.name), dataset_id: null};
}
function stem(name) { return name.replace(/\.(csv|tsv|parquet)$/i, ""); }
function matchingUpload(file) {
  return resumable.find((u) => u.filename === file.name && u.size_bytes === file.size);
}
$("file").onchange = () => { if ($("file").files.length) choose($("file").files[0]); };
const zone = $("drop-zone");
zone.ondragover = (event) => { event.preventDefault(); zone.classList.add("over"); };
zone.ondragleave = () => zone.classList.remove("over");
zone.ondrop = (event) => {
  event.preventDefault();
  zone.classList.remove("over");
  if (event.dataTransfer.files.length) choose(event.dataTransfer.files[0]);
};

// --- the API's checks in plain words ---------------------------------------------------------
async function explain(error) {
  if (error.code === "file_too_large") {
    const limit = /up to ([\d,]+) bytes/.exec(error.message);
    return limit
      ? "This file (" + bytes(chosenFile.size) + ") is too large for your tier, which takes " +
        "files up to " + bytes(Number(limit[1].replace(/,/g, ""))) + "."
      : "This file is too large: " + error.message + ".";
  }
  if (error.code === "quota_exceeded") {
    try {
      const usage = await showUsage();
      const held = [];
      if (usage.trash.total) held.push(bytes(usage.trash.total) + " in the trash");
      if (usage.reserved_bytes) {
        held.push(bytes(usage.reserved_bytes) + " held by uploads in progress");
      }
      return "Your storage quota is full: " + bytes(usage.committed_bytes) + " of " +
        bytes(usage.quota_bytes) + " are used" + (held.length ? " (" + held.join(", ") + ")" : "") +
        ", and this file needs " +
        bytes(chosenFile.size) + " but only " + bytes(usage.free_bytes) + " are free. " +
        "Delete datasets or empty the trash first.";
    } catch (ignored) {
      return "Your storage quota is full: " + error.message + ".";
    }
  }
  if (error.code === "invalid_input" && /filename must end/.test(error.message)) {
    return "This is not a file the platform takes: choose a .csv, .tsv or .parquet file.";
  }
  if (error.status === 401) {
    forgetToken();
    return "The API refused the saved token (it may have expired or been revoked): paste a " +
      "valid one above.";
  }
  return error.message;
}
function report(error) {
  if (error instanceof ApiError) explain(error).then(say); else say(String(error.message || error));
}

// --- progress ----------------------------------------------------------------------------------
function progressMeter(total, alreadySent) {
  const started = performance.now();
  $("progress-block").hidden = false;
  const meter = {
    loaded: {},
    update() {
      const sent = Object.values(meter.loaded).reduce((a, b) => a + b, 0);
      const done = alreadySent + sent;
      const seconds = (performance.now() - started) / 1000;
      const rate = seconds > 0.2 ? sent / seconds : 0;
      $("progress").value = total ? done / total : 0;
      $("progress-text").textContent = bytes(done) + " of " + bytes(total) +
        (rate ? " · " + bytes(rate) + "/s · " + duration((total - done) / rate) + " left" : "");
    },
  };
  meter.update();
  return meter;
}

function put(url, headers, body, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    for (const [name, value] of Object.entries(headers || {})) {
      if (name.toLowerCase() !== "content-length") xhr.setRequestHeader(name, value);
    }
    xhr.upload.onprogress = (event) => onProgress(event.loaded);
    xhr.onload = () => (xhr.status >= 200 && xhr.status < 300) ? resolve(xhr)
      : reject(new Error("the store answered " + xhr.status));
    xhr.onerror = () => reject(new Error("the connection to the store failed"));
    xhr.send(body);
  });
}

// --- uploading -----------------------------------------------------------------------------------
$("upload-form").onsubmit = async (event) => {
  event.preventDefault();
  if (!chosenFile || busy) return;
  if (!token()) { say("Paste your API token first."); $("token").focus(); return; }
  busy = true;
  $("upload-button").disabled = true;
  say("");
  $("result").textContent = "";
  try {
    const into = target();
    const match = matchingUpload(chosenFile);
    const parts = match ? await resume(match, into) : await upload(into);
    if (parts === null) return;
    if (await confirmAndFollow(parts.upload_id, into, parts.parts)) clearChosenFile();
  } catch (error) {
    report(error);
  } finally {
    busy = false;
    $("upload-button").disabled = !chosenFile;
    refresh();
  }
};

async function upload(target) {
  let plan;
  try {
    plan = await api("POST", "/api/datasets/upload-url",
      {filename: chosenFile.name, size_bytes: chosenFile.size});
  } catch (error) {
    say(await explain(error));  // nothing was sent: the API refused before any byte
    return null;
  }
  for (const warning of plan.warnings || []) $("result").append(el("p", {class: "muted"}, warning));
  if (!plan.multipart) {
    const meter = progressMeter(chosenFile.size, 0);
    try {
      await put(plan.upload_url, plan.headers, chosenFile, (n) => {
        meter.loaded[1] = n; meter.update();
      });
    } catch (error) {
      $("progress-text").textContent = "Stopped: nothing was stored.";
      throw new Error("The upload stopped: " + error.message + " (the store is unreachable, " +
        "or its CORS rules do not list this page's address). Nothing was stored; try again.");
    }
    return {upload_id: plan.upload_id, parts: null};
  }
  remember(plan.upload_id, target);
  const state = {upload_id: plan.upload_id, part_size: plan.multipart.part_size,
                 part_count: plan.multipart.part_count, stored_parts: []};
  return {upload_id: plan.upload_id, parts: await sendParts(state)};
}

async function resume(match, target) {
  const state = await api("GET", "/api/datasets/uploads/" + match.upload_id);
  remember(match.upload_id, target);
  return {upload_id: match.upload_id, parts: await sendParts(state)};
}

async function sendParts(state) {
  const size = chosenFile.size;
  const done = new Map(state.stored_parts.map((p) => [p.part_number, p.etag]));
  const missing = [];
  for (let n = 1; n <= state.part_count; n += 1) if (!done.has(n)) missing.push(n);
  const storedBytes = state.stored_parts.reduce((a, p) => a + p.size_bytes, 0);
  const meter = progressMeter(size, storedBytes);
  if (done.size) {
    $("result").replaceChildren(el("p", {}, "Resuming: " + done.size + " of " + state.part_count +
      " parts are already stored; sending the other " + missing.length + "."));
  }
  let failure = null;
  async function sendOne(number) {
    const start = (number - 1) * state.part_size;
    const blob = chosenFile.slice(start, Math.min(start + state.part_size, size));
    for (let attempt = 1; ; attempt += 1) {
      try {
        const urls = await api("POST", "/api/datasets/upload-parts",
          {upload_id: state.upload_id, part_numbers: [number]});
        const part = urls.parts[0];
        const xhr = await put(part.upload_url, part.headers, blob, (n) => {
          meter.loaded[number] = n; meter.update();
        });
        meter.loaded[number] = blob.size;
        meter.update();
        done.set(number, xhr.getResponseHeader("ETag"));
        return;
      } catch (error) {
        meter.loaded[number] = 0;
        meter.update();
        if (attempt >= PART_ATTEMPTS || error instanceof ApiError) throw error;
        await new Promise((r) => setTimeout(r, 500 * 2 ** attempt));
      }
    }
  }
  const queue = missing.slice();
  async function worker() {
    while (queue.length && !failure) {
      const number = queue.shift();
      try { await sendOne(number); } catch (error) { failure = failure || {number, error}; }
    }
  }
  await Promise.all(Array.from({length: Math.min(PARALLEL_PARTS, missing.length)}, worker));
  if (failure) {
    $("progress-text").textContent = "Stopped: " + bytes(storedBytesOf(done, state, size)) +
      " of " + bytes(size) + " stored.";
    throw new Error("The upload stopped: part " + failure.number + " could not be sent (" +
      failure.error.message + "). " + done.size + " of " + state.part_count + " parts are " +
      "stored. Press Resume upload to send the rest (after a reload, choose the same file again).");
  }
  return Array.from(done, ([part_number, etag]) => ({part_number, etag}))
    .sort((a, b) => a.part_number - b.part_number);
}

function storedBytesOf(done, state, size) {
  let total = 0;
  for (const n of done.keys()) total += Math.min(state.part_size, size - (n - 1) * state.part_size);
  return total;
}

// --- confirming and following the version ------------------------------------------------------
async function confirmAndFollow(uploadId, target, parts) {
  const body = {upload_id: uploadId, dataset_name: target.dataset_name};
  if (target.dataset_id) body.dataset_id = target.dataset_id;
  if (parts) body.parts = parts;
  const confirmed = await api("POST", "/api/datasets/confirm", body);
  remember(uploadId, null);
  $("progress-text").textContent = "Uploaded " + bytes(chosenFile.size) + ".";
  const status = el("p", {}, "Checking and profiling the file…");
  $("result").replaceChildren(status);
  const path = "/api/datasets/" + confirmed.dataset_id + "/versions/" + confirmed.version_id;
  let version;
  for (;;) {
    version = await api("GET", path);
    if (version.status === "ready" || version.status === "failed") break;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  if (version.status === "failed") {
    status.className = "failed";
    status.textContent = "The file could not be ingested: " + (version.error || "no reason given");
    return false;
  }
  status.className = "ready";
  status.textContent = "Ready: " + version.row_count.toLocaleString() + " rows × " +
    version.column_count + " columns.";
  $("result").append(profileTable(version.profile));
  const changes = await api("GET", path + "/changes").catch(() => null);
  if (changes && changes.since_version_id) $("result").append(changesBlock(changes));
  return true;
}

function profileTable(profile) {
  const head = el("tr", {}, ...["Column", "Type", "Nulls", "Distinct", "Min", "Max"].map(
    (h, i) => el("th", {scope: "col", class: i >= 2 && i <= 3 ? "num" : ""}, h)));
  const rows = (profile ? profile.columns : []).map((c) => el("tr", {},
    el("th", {scope: "row"}, c.name), el("td", {}, c.type),
    el("td", {class: "num"}, c.null_count.toLocaleString()),
    el("td", {class: "num"}, c.distinct_count.toLocaleString()),
    el("td", {}, c.min == null ? "" : String(c.min)), el("td", {}, c.max == null ? "" : String(c.max))));
  const wrap = el("div", {class: "table-wrap", tabindex: "0", role: "region",
    "aria-labelledby": "profile-title"}, el("table", {id: "profile"},
    el("thead", {}, head), el("tbody", {}, ...rows)));
  const hint = el("p", {class: "hint scroll-hint", hidden: ""},
    "The table is wider than the screen: scroll it sideways to see every column.");
  // The hint shows only while the table is wider than its box (a phone, a narrow window).
  new ResizeObserver(() => { hint.hidden = wrap.scrollWidth <= wrap.clientWidth; }).observe(wrap);
  return el("div", {class: "profile"}, el("h3", {id: "profile-title"}, "Profile"), hint, wrap);
}

function changeList(changes) {
  const items = [];
  for (const c of changes.columns_added) items.push("New column " + c.name + " (" + c.dtype + ")");
  for (const c of changes.columns_removed) {
    items.push("Column " + c.name + " (" + c.dtype + ") is gone");
  }
  for (const c of changes.type_changes) {
    items.push("Column " + c.name + " changed type from " + c.before + " to " + c.after);
  }
  const rows = changes.row_count;
  if (rows.change) {
    const more = rows.change > 0 ? rows.change.toLocaleString() + " more"
      : (-rows.change).toLocaleString() + " fewer";
    items.push(rows.after.toLocaleString() + " rows, " + more + " than before (" +
      rows.before.toLocaleString() + ")");
  }
  for (const c of changes.null_rate_changes) {
    items.push("Empty values in " + c.name + " went from " + percent(c.before) + " to " +
      percent(c.after) + " of rows");
  }
  return items.length ? el("ul", {}, ...items.map((t) => el("li", {}, t)))
    : el("p", {class: "muted"}, "No changes in columns, types, row count or empty values.");
}

function changesBlock(changes) {
  return el("div", {class: "changes", id: "changes"},
    el("h3", {}, "Changes since the previous version"), changeList(changes));
}

function percent(rate) {
  // 0.25 -> "25%", 0.125 -> "12.5%": no ".0" on whole numbers.
  return (100 * rate).toFixed(1).replace(/\.0$/, "") + "%";
}

function start() {
  showToken();
  refresh();
}
start();
