// A client that cannot lose updates: read the ETag, write with If-Match, and on 412
// re-read, re-apply the change and retry. docs/clients.md shows this file; the
// playground's "Automatic retry" scenario runs it.

/**
 * Apply `change` to the JSON resource at `url` and save it with `If-Match`.
 *
 * `change(current)` receives the resource as read and returns the body to send. It is
 * called again on the re-read resource after a 412, so it must describe the edit
 * ("append a line"), not a finished copy of the resource.
 *
 * Resolves to the write's Response (2xx, or another error for the caller to handle);
 * throws when the resource kept changing for `attempts` tries.
 */
export async function updateWithRetry(url, change, { attempts = 3, method = "PUT", fetch: send = fetch } = {}) {
  for (let attempt = 1; attempt <= attempts; attempt++) {
    // "no-cache": the browser may keep a copy, but must check it is current before using it.
    const read = await send(url, { headers: { Accept: "application/json" }, cache: "no-cache" });
    if (!read.ok) {
      throw new Error(`GET ${url} answered ${read.status}`);
    }
    const etag = read.headers.get("ETag");
    const body = JSON.stringify(change(await read.json()));
    const write = await send(url, {
      method,
      headers: { "Content-Type": "application/json", Accept: "application/json", "If-Match": etag },
      body,
    });
    if (write.status !== 412) {
      return write;
    }
    // 412 Precondition Failed: someone saved first and nothing was changed.
    // Loop: read the new version, apply the change to it, try again.
  }
  throw new Error(`${url} kept changing: gave up after ${attempts} attempts`);
}

/**
 * GET `url` as JSON, reusing `cache` (a Map) when the server answers 304 Not Modified.
 */
export async function getJSON(url, cache, { fetch: send = fetch } = {}) {
  const cached = cache.get(url);
  const headers = { Accept: "application/json" };
  if (cached) {
    headers["If-None-Match"] = cached.etag;
  }
  // With If-None-Match set by the script, fetch hands the 304 to us (and skips its own cache).
  const response = await send(url, { headers });
  if (response.status === 304) {
    return cached.data;
  }
  if (!response.ok) {
    throw new Error(`GET ${url} answered ${response.status}`);
  }
  const data = await response.json();
  cache.set(url, { etag: response.headers.get("ETag"), data });
  return data;
}
