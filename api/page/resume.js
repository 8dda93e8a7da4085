// Unfinished multipart uploads: the ones the API lists (offered for resuming after a reload) and
// the dataset each was meant for (kept in this browser).

import {api} from "./api.js";
import {$, el, say} from "./dom.js";
import {bytes} from "./format.js";

const UNFINISHED_KEY = "automl.unfinished";  // upload id -> {dataset_name, dataset_id}
let resumable = [];  // pending multipart uploads the API lists (shared contract 2)

export function unfinished() { return JSON.parse(localStorage.getItem(UNFINISHED_KEY) || "{}"); }
export function remember(id, info) {
  const all = unfinished();
  if (info) all[id] = info; else delete all[id];
  localStorage.setItem(UNFINISHED_KEY, JSON.stringify(all));
}

export function matchingUpload(file) {
  return resumable.find((u) => u.filename === file.name && u.size_bytes === file.size);
}

export async function showResumable() {
  const box = $("resume");
  box.textContent = "";
  try {
    resumable = (await api("GET", "/api/datasets/uploads")).uploads.filter((u) => u.multipart);
  } catch (error) {
    resumable = [];
  }
  box.hidden = resumable.length === 0;
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
  document.dispatchEvent(new Event("automl:changed"));  // the page shows the usage and list again
}
