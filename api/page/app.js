// The upload page's entry: the token form, choosing a file (or dropping one), and the Upload
// button that sends it, confirms it and follows its version. Plain ES modules, no build step:
// api.js (the API), account.js (token, usage), resume.js (unfinished uploads), transfer.js (bytes
// to the store), version.js (confirm, profile, changes), datasets.js (the list), explain.js (the
// API's refusals in plain words), format.js and dom.js.

import {forgetToken, showToken, showUsage} from "./account.js";
import {saveToken, token} from "./api.js";
import {showDatasets} from "./datasets.js";
import {$, el, say} from "./dom.js";
import {report} from "./explain.js";
import {bytes} from "./format.js";
import {matchingUpload, showResumable, unfinished} from "./resume.js";
import {resume, upload} from "./transfer.js";
import {confirmAndFollow} from "./version.js";

let chosenFile = null;
let busy = false;
let autoName = "";  // the dataset name the page filled in (replaced when another file is chosen)
const DROP_TEXT = $("drop-text").textContent;

// --- token -----------------------------------------------------------------------------------
$("token-form").onsubmit = (event) => {
  event.preventDefault();
  saveToken($("token").value.trim());
  $("token").value = "";
  start();
};
$("forget-token").onclick = () => {
  forgetToken();
  $("token").focus();
};

// --- usage, resume offers, datasets ------------------------------------------------------------
function refresh() {
  if (!token()) return;
  showUsage().catch((error) => report(error, chosenFile));
  showResumable().then(() => {
    if (chosenFile) {
      $("upload-button").textContent = matchingUpload(chosenFile) ? "Resume upload" : "Upload";
    }
  });
  showDatasets().then(showTarget).catch((error) => report(error, chosenFile));
}
$("refresh").onclick = refresh;
document.addEventListener("automl:changed", refresh);  // a dataset deleted, an upload discarded

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
$("file").onchange = () => { if ($("file").files.length) choose($("file").files[0]); };
const zone = $("drop-zone");
zone.ondragover = (event) => { event.preventDefault(); zone.classList.add("over"); };
zone.ondragleave = () => zone.classList.remove("over");
zone.ondrop = (event) => {
  event.preventDefault();
  zone.classList.remove("over");
  if (event.dataTransfer.files.length) choose(event.dataTransfer.files[0]);
};

// --- uploading -----------------------------------------------------------------------------------
$("upload-form").onsubmit = async (event) => {
  event.preventDefault();
  if (!chosenFile || busy) return;
  if (!token()) { say("Paste your API token first."); $("token").focus(); return; }
  busy = true;
  $("upload-button").disabled = true;
  say("");
  $("result").textContent = "";
  const file = chosenFile;
  try {
    const into = target();
    const match = matchingUpload(file);
    const parts = match ? await resume(file, match, into) : await upload(file, into);
    if (parts === null) return;
    if (await confirmAndFollow(file, parts.upload_id, into, parts.parts)) clearChosenFile();
  } catch (error) {
    report(error, file);
  } finally {
    busy = false;
    $("upload-button").disabled = !chosenFile;
    refresh();
  }
};

function start() {
  showToken();
  refresh();
}
start();
