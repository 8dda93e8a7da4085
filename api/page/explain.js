// The API's refusals in plain words: too large for the tier, quota full (with the usage), too
// many uploads in progress, wrong type, a refused token.

import {forgetToken, showUsage} from "./account.js";
import {ApiError} from "./api.js";
import {say} from "./dom.js";
import {bytes} from "./format.js";

export async function explain(error, file) {
  if (error.code === "file_too_large") {
    const limit = /up to ([\d,]+) bytes/.exec(error.message);
    return limit
      ? "This file (" + bytes(file.size) + ") is too large for your tier, which takes " +
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
        bytes(file.size) + " but only " + bytes(usage.free_bytes) + " are free. " +
        "Delete datasets or empty the trash first.";
    } catch (ignored) {
      return "Your storage quota is full: " + error.message + ".";
    }
  }
  const inProgress = /you have (\d+) uploads in progress/.exec(error.message);
  if (error.code === "too_many_in_flight" && inProgress) {
    return "You have " + inProgress[1] + " uploads in progress, as many as your tier allows " +
      "at once. Finish one of them (or discard an unfinished one listed above), or try again " +
      "once unused upload links have expired.";
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

export function report(error, file) {
  if (error instanceof ApiError) explain(error, file).then(say);
  else say(String(error.message || error));
}
