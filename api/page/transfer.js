// Sending a file straight to the store with XHR progress: one PUT, or multipart with several
// parts in flight, a failed part retried, and a resumed upload sending only the missing parts.

import {ApiError, api} from "./api.js";
import {$, el, say} from "./dom.js";
import {explain} from "./explain.js";
import {bytes, duration} from "./format.js";
import {remember} from "./resume.js";

const PARALLEL_PARTS = 3;
const PART_ATTEMPTS = 4;

// {upload_id, parts} once the store holds the file (parts: null for a single PUT), or null if
// the API refused it before any byte was sent (its reason is then on the page).
export async function upload(file, target) {
  let plan;
  try {
    plan = await api("POST", "/api/datasets/upload-url",
      {filename: file.name, size_bytes: file.size});
  } catch (error) {
    say(await explain(error, file));  // nothing was sent: the API refused before any byte
    return null;
  }
  for (const warning of plan.warnings || []) $("result").append(el("p", {class: "muted"}, warning));
  if (!plan.multipart) {
    const meter = progressMeter(file.size, 0);
    try {
      await put(plan.upload_url, plan.headers, file, (n) => {
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
  return {upload_id: plan.upload_id, parts: await sendParts(file, state)};
}

export async function resume(file, match, target) {
  const state = await api("GET", "/api/datasets/uploads/" + match.upload_id);
  remember(match.upload_id, target);
  return {upload_id: match.upload_id, parts: await sendParts(file, state)};
}

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

async function sendParts(file, state) {
  const size = file.size;
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
    const blob = file.slice(start, Math.min(start + state.part_size, size));
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
