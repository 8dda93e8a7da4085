// The API over fetch, with the token this browser keeps; its errors as ApiError.

const TOKEN_KEY = "automl.token";

export function token() { return localStorage.getItem(TOKEN_KEY) || ""; }
export function saveToken(value) { localStorage.setItem(TOKEN_KEY, value); }
export function dropToken() { localStorage.removeItem(TOKEN_KEY); }

export class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}
export async function api(method, path, body) {
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
