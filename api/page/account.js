// The token panel (kept in this browser, or forgotten) and the usage line in the header.

import {api, dropToken, token} from "./api.js";
import {$} from "./dom.js";
import {bytes} from "./format.js";

export function showToken() {
  const saved = Boolean(token());
  $("token-form").hidden = saved;
  $("token-saved").hidden = !saved;
}

export function forgetToken() {
  dropToken();
  showToken();
  $("datasets").textContent = "";
  $("usage").textContent = "";
}

export async function showUsage() {
  const usage = await api("GET", "/api/usage");
  $("usage").textContent = bytes(usage.committed_bytes) + " of " + bytes(usage.quota_bytes) +
    " used · " + bytes(usage.free_bytes) + " free";
  return usage;
}
