// The list of the user's datasets and their versions: download, delete, what changed; and the
// form's choice of the dataset a new file goes to.

import {api} from "./api.js";
import {$, el, say} from "./dom.js";
import {changeList} from "./version.js";

export async function showDatasets() {
  const page = await api("GET", "/api/datasets?limit=50");
  const details = [];
  for (const dataset of page.items) details.push(await api("GET", "/api/datasets/" + dataset.id));
  // Everything fetched: the form's choice and the list change in one step. Rebuilt while the
  // versions loaded, the choice went back to what it was when the refresh began, and a file
  // meant as a new version of a dataset became a new dataset.
  const select = $("dataset-id");
  const chosen = select.value;
  select.replaceChildren(el("option", {value: ""}, "a new dataset"),
    ...page.items.map((dataset) => el("option", {value: dataset.id, "data-name": dataset.name},
      dataset.name + " (as a new version)")));
  select.value = page.items.some((dataset) => dataset.id === chosen) ? chosen : "";
  const box = $("datasets");
  box.replaceChildren();
  if (page.items.length === 0) box.append(el("p", {class: "muted"}, "No datasets yet."));
  page.items.forEach((dataset, d) => {
    const list = el("ul", {class: "versions"});
    // The API lists versions oldest first (version 1 first); the page shows the newest first.
    details[d].versions.map((version, i) => ({version, number: i + 1})).reverse()
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
  });
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
  document.dispatchEvent(new Event("automl:changed"));  // the page shows the list again
}
