// After the upload: confirm it, follow the version to ready or failed, and show its profile and
// what changed since the version before it (also used by the list of datasets).

import {api} from "./api.js";
import {$, el} from "./dom.js";
import {bytes, percent} from "./format.js";
import {remember} from "./resume.js";

const POLL_MS = 1000;

// True when the version ended ready.
export async function confirmAndFollow(file, uploadId, target, parts) {
  const body = {upload_id: uploadId, dataset_name: target.dataset_name};
  if (target.dataset_id) body.dataset_id = target.dataset_id;
  if (parts) body.parts = parts;
  const confirmed = await api("POST", "/api/datasets/confirm", body);
  remember(uploadId, null);
  $("progress-text").textContent = "Uploaded " + bytes(file.size) + ".";
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

export function changeList(changes) {
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
    items.push("Nulls in " + c.name + " went from " + percent(c.before) + " to " +
      percent(c.after) + " of rows");
  }
  return items.length ? el("ul", {}, ...items.map((t) => el("li", {}, t)))
    : el("p", {class: "muted"}, "No changes in columns, types, row count or nulls.");
}

function changesBlock(changes) {
  return el("div", {class: "changes", id: "changes"},
    el("h3", {}, "Changes since the previous version"), changeList(changes));
}
