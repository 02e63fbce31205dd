// The playground: a request builder, two side-by-side editors and guided scenarios.
// Plain ES module, no build step. The scenarios "Conditional GET" and "Automatic retry" run
// the client functions documented in docs/clients.md (preconditions-client.js).

import { getJSON, updateWithRetry } from "./preconditions-client.js";

const REASONS = {
  200: "OK", 201: "Created", 204: "No Content", 304: "Not Modified", 400: "Bad Request",
  404: "Not Found", 405: "Method Not Allowed", 412: "Precondition Failed",
  415: "Unsupported Media Type", 428: "Precondition Required", 500: "Internal Server Error",
};

const ENDPOINTS = {
  api: { kind: "documents", url: (id) => `/api/documents/${id}/`, fields: ["title", "body"] },
  view: { kind: "documents", url: (id) => `/documents/${id}/`, fields: ["title", "body"] },
  notes: { kind: "notes", url: (id) => `/notes/${id}/`, fields: ["text"] },
};

// Headers worth showing in a scenario step (the request builder shows them all).
const KEY_HEADERS = ["etag", "last-modified", "location", "content-type", "cache-control"];

const targets = JSON.parse(document.getElementById("targets").textContent);
const $ = (selector, root = document) => root.querySelector(selector);

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const clock = () => new Date().toLocaleTimeString("en-GB");
const reason = (status, text) => text || REASONS[status] || "";
const statusLabel = (response) => `${response.status} ${reason(response.status, response.statusText)}`;
const pick = (data, fields) => Object.fromEntries(fields.map((name) => [name, data?.[name] ?? ""]));

function parseJSON(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function pretty(text) {
  const data = parseJSON(text);
  return data === undefined ? text : JSON.stringify(data, null, 2);
}

// Mark `text` as edited by `who`: a last line "(who at 12:34:56)", or for a one-line
// field a suffix. An earlier mark by `who` is replaced, so repeated runs do not grow the text.
function stamped(text, who, multiline = true) {
  const mark = `(${who} at `;
  const value = String(text ?? "");
  if (!multiline) {
    const index = value.indexOf(` ${mark}`);
    return `${index === -1 ? value : value.slice(0, index)} ${mark}${clock()})`;
  }
  const kept = value.split("\n").filter((line) => !line.startsWith(mark));
  while (kept.length && kept[kept.length - 1] === "") kept.pop();
  return [...kept, `${mark}${clock()})`].join("\n");
}

const isMultiline = (field) => field !== "title";

// -- sending requests ---------------------------------------------------------------------

// One request and its response, with the body read as text; what the page shows.
async function exchange(method, url, { headers = {}, body = null } = {}) {
  const init = { method, headers, cache: "no-store" };
  if (body !== null && body !== "" && method !== "GET" && method !== "HEAD") {
    init.body = typeof body === "string" ? body : JSON.stringify(body);
    if (!Object.keys(headers).some((name) => name.toLowerCase() === "content-type")) {
      init.headers = { ...headers, "Content-Type": "application/json" };
    }
  }
  const started = performance.now();
  const response = await fetch(url, init);
  const text = method === "HEAD" ? "" : await response.text();
  return {
    request: { method, url, headers: init.headers, body: init.body ?? "" },
    response: {
      status: response.status,
      statusText: response.statusText,
      headers: [...response.headers],
      text,
      ms: Math.round(performance.now() - started),
    },
  };
}

const header = (x, name) =>
  x.response.headers.find(([key]) => key.toLowerCase() === name.toLowerCase())?.[1] ?? null;

// A fetch() for the documented client functions that also records what they send and get.
function recordingFetch(onExchange) {
  return async (url, init = {}) => {
    const response = await fetch(url, init);
    const text = await response.clone().text();
    onExchange({
      request: { method: init.method ?? "GET", url, headers: init.headers ?? {}, body: init.body ?? "" },
      response: {
        status: response.status,
        statusText: response.statusText,
        headers: [...response.headers],
        text,
      },
    });
    return response;
  };
}

// -- rendering exchanges ------------------------------------------------------------------

function headerLines(pairs, only = null) {
  const lines = pairs
    .filter(([name]) => !only || only.includes(name.toLowerCase()))
    .map(([name, value]) => {
      const important = ["etag", "if-match", "if-none-match", "if-unmodified-since"].includes(
        name.toLowerCase(),
      );
      return el("div", { class: important ? "header important" : "header" }, `${name}: ${value}`);
    });
  return lines.length ? el("div", { class: "headers" }, lines) : null;
}

function renderExchange(x) {
  const { request, response } = x;
  const data = parseJSON(response.text);
  const detail = data && typeof data === "object" ? data.detail ?? data.message : null;
  return el(
    "div",
    { class: `exchange status-${String(response.status)[0]}xx`, "data-status": response.status },
    el(
      "div",
      { class: "request" },
      el("code", { class: "request-line" }, `${request.method} ${request.url}`),
      headerLines(Object.entries(request.headers).filter(([name]) => name !== "Accept")),
      request.body ? el("pre", { class: "body" }, pretty(request.body)) : null,
    ),
    el(
      "div",
      { class: "response" },
      el("span", { class: "status" }, statusLabel(response)),
      headerLines(response.headers, KEY_HEADERS),
      typeof detail === "string" ? el("blockquote", {}, detail) : null,
      response.text
        ? el("details", {}, el("summary", {}, "Body"), el("pre", { class: "body" }, pretty(response.text)))
        : el("p", { class: "empty" }, "(no body)"),
      el(
        "button",
        { type: "button", class: "open-in-builder", onclick: () => openInBuilder(request) },
        "Open in the request builder",
      ),
    ),
  );
}

// The log of the running scenario: numbered steps, each a sentence and an exchange.
class ScenarioLog {
  constructor(name, title, intro) {
    this.root = $("#scenario");
    this.steps = el("ol", { class: "steps" });
    this.root.replaceChildren(
      el("h3", {}, title),
      el("p", { class: "intro" }, intro),
      this.steps,
    );
    this.root.dataset.scenario = name;
    delete this.root.dataset.done;
  }

  step(text, x = null) {
    const item = el("li", { class: "step" }, el("p", { class: "narrative" }, text));
    if (x) item.append(renderExchange(x));
    this.steps.append(item);
    return item;
  }

  conclude(text, outcome = "ok") {
    this.root.append(el("p", { class: `conclusion ${outcome}`, "data-outcome": outcome }, text));
    this.root.dataset.done = outcome;
  }
}

let activeLog = null;

// -- the target of the scenarios ------------------------------------------------------------

function fillTargetIds() {
  const endpoint = ENDPOINTS[$("#target-endpoint").value];
  const select = $("#target-id");
  const previous = select.value;
  select.replaceChildren(
    ...targets[endpoint.kind].map((item) => el("option", { value: item.id }, `${item.id} — ${item.label}`)),
  );
  if ([...select.options].some((option) => option.value === previous)) select.value = previous;
}

function currentTarget() {
  const endpoint = ENDPOINTS[$("#target-endpoint").value];
  const id = $("#target-id").value;
  if (!id) throw new Error(`No ${endpoint.kind} to work on: run manage.py load_demo_data.`);
  const target = targets[endpoint.kind].find((item) => String(item.id) === id);
  return { endpoint, id, url: endpoint.url(id), target };
}

// The edit "another user" makes in the scenarios: a stamp line in the last text field.
function otherUsersEdit(endpoint, data, who = "edited by another user") {
  const edit = pick(data, endpoint.fields);
  const field = endpoint.fields[endpoint.fields.length - 1];
  edit[field] = stamped(edit[field], who, isMultiline(field));
  return edit;
}

// -- the editors --------------------------------------------------------------------------

class Editor {
  constructor(root) {
    this.root = root;
    this.user = root.dataset.user;
    this.url = null;
    this.endpoint = null;
    this.etag = null;
    this.base = null;
    $(".load", root).addEventListener("click", () => this.run(() => this.load()));
    $(".save", root).addEventListener("click", () => this.run(() => this.save()));
  }

  async run(action) {
    try {
      await action();
    } catch (error) {
      this.status(`Error: ${error.message}`, "error");
    }
  }

  status(text, kind = "info", status = "") {
    const line = $(".editor-status", this.root);
    line.textContent = text;
    line.className = `editor-status ${kind}`;
    line.dataset.status = status;
  }

  input(name) {
    return $(`[name="${name}"]`, this.root);
  }

  render(values, changed = []) {
    $(".fields", this.root).replaceChildren(
      ...this.endpoint.fields.map((name) => {
        const control =
          name === "title"
            ? el("input", { name, spellcheck: "false" })
            : el("textarea", { name, rows: 4, spellcheck: "false" });
        control.value = values[name] ?? "";
        if (changed.includes(name)) control.classList.add("reapplied");
        return el("label", {}, name, control);
      }),
    );
    $(".etag", this.root).textContent = this.etag ?? "—";
    $(".save", this.root).disabled = false;
  }

  values() {
    return Object.fromEntries(this.endpoint.fields.map((name) => [name, this.input(name).value]));
  }

  edit(name, value) {
    this.input(name).value = value;
  }

  hideConflict() {
    const box = $(".conflict-box", this.root);
    box.hidden = true;
    box.replaceChildren();
  }

  log(text, x) {
    if (activeLog?.root.dataset.scenario === "two-users") activeLog.step(`${this.user}: ${text}`, x);
  }

  async load() {
    const { endpoint, url } = currentTarget();
    const x = await exchange("GET", url, { headers: { Accept: "application/json" } });
    if (x.response.status !== 200) {
      this.status(`Load failed: ${statusLabel(x.response)}`, "error", x.response.status);
      return x;
    }
    this.url = url;
    this.endpoint = endpoint;
    this.etag = header(x, "ETag");
    this.base = pick(parseJSON(x.response.text), endpoint.fields);
    this.hideConflict();
    this.render(this.base);
    this.status(`Loaded ${url}: ${statusLabel(x.response)}, version ${this.etag}.`, "ok", 200);
    this.log(`loads ${url} — version ${this.etag}.`, x);
    return x;
  }

  async save() {
    const values = this.values();
    const x = await exchange("PUT", this.url, {
      headers: { Accept: "application/json", "If-Match": this.etag },
      body: values,
    });
    const { status } = x.response;
    if (status >= 200 && status < 300) {
      const previous = this.etag;
      this.etag = header(x, "ETag");
      this.base = pick(parseJSON(x.response.text), this.endpoint.fields);
      this.hideConflict();
      this.render(this.base);
      this.status(`Saved: ${statusLabel(x.response)}. New version ${this.etag}.`, "ok", status);
      this.log(`saves with If-Match: ${previous} — accepted, new version ${this.etag}.`, x);
    } else if (status === 412) {
      this.status(`Not saved: ${statusLabel(x.response)}.`, "conflict", status);
      this.showConflict(x);
      this.log(
        `saves with If-Match: ${this.etag} — but that version is gone: 412, nothing was overwritten.`,
        x,
      );
    } else {
      this.status(`Not saved: ${statusLabel(x.response)}.`, "error", status);
      this.log("saves — refused.", x);
    }
    return x;
  }

  showConflict(x) {
    const current = header(x, "ETag");
    const box = $(".conflict-box", this.root);
    box.replaceChildren(
      el("strong", {}, "Someone saved a newer version after you loaded yours."),
      el(
        "p",
        {},
        `The server refused your save (412 Precondition Failed) and changed nothing: you loaded ` +
          `version ${this.etag}, the current one is ${current ?? "unknown"}. Your changes are still ` +
          `here. To keep them: reload the current version, re-apply your changes on top of it, ` +
          `check the result, and save again.`,
      ),
      el(
        "div",
        { class: "actions" },
        el(
          "button",
          { type: "button", class: "reapply", onclick: () => this.run(() => this.reapply()) },
          "Reload and re-apply my changes",
        ),
        el(
          "button",
          { type: "button", class: "discard", onclick: () => this.run(() => this.load()) },
          "Discard my changes and reload",
        ),
      ),
    );
    box.hidden = false;
  }

  // Reload, and apply the fields this editor changed (compared with what it had loaded)
  // to the current version: a field-by-field three-way merge.
  async reapply() {
    const mine = this.values();
    const changed = this.endpoint.fields.filter((name) => mine[name] !== this.base[name]);
    const x = await exchange("GET", this.url, { headers: { Accept: "application/json" } });
    if (x.response.status !== 200) {
      this.status(`Reload failed: ${statusLabel(x.response)}`, "error", x.response.status);
      return;
    }
    const current = pick(parseJSON(x.response.text), this.endpoint.fields);
    const both = changed.filter((name) => current[name] !== this.base[name]);
    const merged = { ...current, ...Object.fromEntries(changed.map((name) => [name, mine[name]])) };
    this.etag = header(x, "ETag");
    this.base = current;
    this.hideConflict();
    this.render(merged, changed);
    let text =
      `Reloaded version ${this.etag} and re-applied your change to ${changed.join(", ") || "nothing"}. ` +
      "Check it, then Save.";
    if (both.length) {
      text += ` Both of you changed ${both.join(", ")}: your text replaced theirs — compare before saving.`;
    }
    this.status(text, "reapplied", 200);
    this.log(`reloads (version ${this.etag}) and re-applies the change to ${changed.join(", ")}.`, x);
  }
}

const alice = new Editor($("#editor-alice"));
const bob = new Editor($("#editor-bob"));

// -- scenarios ------------------------------------------------------------------------------

const scenarios = {
  async "no-precondition"() {
    const { endpoint, url, target } = currentTarget();
    const log = new ScenarioLog(
      "no-precondition",
      "Update without a precondition",
      "A client that writes without saying which version it edited could overwrite changes it " +
        "never saw. The server refuses such writes; the fix is one header.",
    );
    activeLog = log;
    const field = endpoint.fields[0];
    const edit = { [field]: stamped(target[field], "edited in the playground", isMultiline(field)) };
    const refused = await exchange("PUT", url, { headers: { Accept: "application/json" }, body: edit });
    log.step(
      `PUT ${url} without If-Match: the server cannot tell which version you edited, so it ` +
        "answers 428 Precondition Required and changes nothing. The body says which headers it accepts.",
      refused,
    );
    const read = await exchange("GET", url, { headers: { Accept: "application/json" } });
    const etag = header(read, "ETag");
    log.step(`GET ${url}: the response carries the current version as ETag: ${etag}. Copy it.`, read);
    const accepted = await exchange("PUT", url, {
      headers: { Accept: "application/json", "If-Match": etag },
      body: edit,
    });
    log.step(
      `The same PUT with If-Match: ${etag}. It is applied, in one compare-and-swap; the response ` +
        `carries the new ETag: ${header(accepted, "ETag")}.`,
      accepted,
    );
    const ok = refused.response.status === 428 && accepted.response.status === 200;
    log.conclude(
      ok
        ? `428 → 200. The If-Match ${etag} is stale now: open the last request in the request ` +
            "builder and send it again to see 412."
        : `Unexpected answers: ${refused.response.status}, ${accepted.response.status}.`,
      ok ? "ok" : "unexpected",
    );
  },

  async "two-users"() {
    const { endpoint } = currentTarget();
    const log = new ScenarioLog(
      "two-users",
      "Two users edit the same document",
      "Alice and Bob load the same version. Alice saves first; Bob's save, based on the version " +
        "he loaded, must not silently undo hers.",
    );
    activeLog = log;
    await alice.load();
    await bob.load();
    const first = endpoint.fields[0];
    const last = endpoint.fields[endpoint.fields.length - 1];
    alice.edit(first, stamped(alice.values()[first], "edited by Alice", isMultiline(first)));
    await alice.save();
    bob.edit(last, stamped(bob.values()[last], "edited by Bob", isMultiline(last)));
    const refused = await bob.save();
    const ok = refused.response.status === 412;
    log.conclude(
      ok
        ? "Bob's save was refused with 412 and Alice's change is safe. In Bob's editor, click " +
            "“Reload and re-apply my changes”: it loads the current version and applies Bob's " +
            "edit to it. Check, then click Save: 200."
        : `Unexpected answer to Bob's save: ${refused.response.status}.`,
      ok ? "ok" : "unexpected",
    );
    $("#editors-panel").scrollIntoView({ behavior: "smooth" });
  },

  async "conditional-get"() {
    const { endpoint, url } = currentTarget();
    const log = new ScenarioLog(
      "conditional-get",
      "Conditional GET",
      "A client that keeps what it read, with its ETag, can ask “has it changed?” with " +
        "If-None-Match. getJSON() from the client guide does exactly that.",
    );
    activeLog = log;
    const cache = new Map();
    let last = null;
    const send = recordingFetch((x) => {
      last = x;
    });
    const data = await getJSON(url, cache, { fetch: send });
    const etag = header(last, "ETag");
    log.step(`First read: 200 with the representation and ETag: ${etag}. getJSON() keeps both.`, last);
    await getJSON(url, cache, { fetch: send });
    const notModified = last;
    log.step(
      `Read again with If-None-Match: ${etag}. Nothing changed: 304 Not Modified, no body — ` +
        "getJSON() returns its copy.",
      notModified,
    );
    const other = await exchange("PUT", url, {
      headers: { Accept: "application/json", "If-Match": etag },
      body: otherUsersEdit(endpoint, data),
    });
    log.step(`Meanwhile another user saves a change (If-Match: ${etag}): a new version.`, other);
    await getJSON(url, cache, { fetch: send });
    log.step(
      `Read again with If-None-Match: ${etag}. It changed: 200 with the new representation and ` +
        `ETag: ${header(last, "ETag")}.`,
      last,
    );
    const ok = notModified.response.status === 304 && last.response.status === 200;
    log.conclude(
      ok ? "200 → 304 → 200: unchanged data is not sent twice, changed data always is." : "Unexpected answers.",
      ok ? "ok" : "unexpected",
    );
  },

  async "create-only"() {
    const log = new ScenarioLog(
      "create-only",
      "Create-only",
      "PUT with If-None-Match: * means “create this, but only if it does not exist yet”: two " +
        "clients creating the same resource cannot overwrite each other.",
    );
    activeLog = log;
    if ($("#target-endpoint").value !== "api") {
      log.step(
        "Only the DRF viewset allows create-by-PUT in this project (precondition_allow_create = " +
          "True); the scenario uses it. The other endpoints answer 404 to a PUT for an unknown id.",
      );
    }
    const list = await exchange("GET", "/api/documents/", { headers: { Accept: "application/json" } });
    const ids = (parseJSON(list.response.text) ?? []).map((item) => item.id);
    const id = Math.max(0, ...ids) + 1;
    const url = `/api/documents/${id}/`;
    log.step(`The largest document id is ${id - 1}, so ${url} does not exist yet.`);
    const body = { title: `Created by PUT at ${clock()}`, body: "Made by the create-only scenario." };
    const created = await exchange("PUT", url, {
      headers: { Accept: "application/json", "If-None-Match": "*" },
      body,
    });
    log.step(
      `PUT ${url} with If-None-Match: * — nothing there yet, so it is created: 201 Created, ` +
        "with its ETag.",
      created,
    );
    const again = await exchange("PUT", url, {
      headers: { Accept: "application/json", "If-None-Match": "*" },
      body: { ...body, title: "A second create of the same id" },
    });
    log.step(
      "The same PUT again, as a second client that also thinks it is first: the resource exists " +
        "now, so 412 Precondition Failed, and the first one is kept.",
      again,
    );
    if (created.response.status === 201) {
      targets.documents.push({ id, label: body.title, ...body });
      fillTargetIds();
    }
    const ok = created.response.status === 201 && again.response.status === 412;
    log.conclude(
      ok ? "201 → 412: create-only never overwrites." : "Unexpected answers.",
      ok ? "ok" : "unexpected",
    );
  },

  async retry() {
    const { endpoint, url } = currentTarget();
    const log = new ScenarioLog(
      "retry",
      "Automatic retry",
      "updateWithRetry() from the client guide appends a line to the text. Another user saves " +
        "between its read and its write; it gets 412, re-reads, re-applies and retries.",
    );
    activeLog = log;
    const field = endpoint.fields[endpoint.fields.length - 1];
    let reads = 0;
    const recorder = recordingFetch((x) => {
      const status = x.response.status;
      if (x.request.method === "GET") {
        reads += 1;
        log.step(
          reads === 1
            ? `updateWithRetry() reads ${url}: version ${header(x, "ETag")}.`
            : `After the 412 it reads again: the other user's change is there, version ${header(x, "ETag")}.`,
          x,
        );
      } else if (status === 412) {
        log.step(
          `It writes with If-Match: ${x.request.headers["If-Match"]} — stale now: 412, nothing changed.`,
          x,
        );
      } else {
        log.step(
          `It re-applies its change to the new version and writes with If-Match: ` +
            `${x.request.headers["If-Match"]}: ${status}. Both changes are kept.`,
          x,
        );
      }
    });
    let interfered = false;
    let lastRead = null;
    const send = async (target, init = {}) => {
      if ((init.method ?? "GET") !== "GET" && !interfered) {
        interfered = true;
        const other = await exchange("PUT", target, {
          headers: { Accept: "application/json", "If-Match": init.headers["If-Match"] },
          body: otherUsersEdit(endpoint, lastRead),
        });
        log.step("Meanwhile another user saves a change.", other);
      }
      const response = await recorder(target, init);
      if ((init.method ?? "GET") === "GET") lastRead = await response.clone().json();
      return response;
    };
    const change = (current) => ({
      ...current,
      [field]: stamped(current[field], "appended by updateWithRetry", isMultiline(field)),
    });
    const response = await updateWithRetry(url, change, { fetch: send });
    const final = await response.json();
    const text = String(final[field] ?? "");
    const ok =
      response.ok && text.includes("(edited by another user at ") && text.includes("(appended by updateWithRetry at ");
    log.conclude(
      ok
        ? `Saved (${response.status}) with both changes in ${field}: nothing was lost, and no one had to merge by hand.`
        : `Unexpected result: ${response.status}.`,
      ok ? "ok" : "unexpected",
    );
  },
};

async function runScenario(name) {
  const buttons = document.querySelectorAll("[data-scenario]");
  buttons.forEach((button) => (button.disabled = true));
  // A conflict box belongs to the scenario that raised it.
  alice.hideConflict();
  bob.hideConflict();
  try {
    await scenarios[name]();
  } catch (error) {
    const root = $("#scenario");
    root.append(el("p", { class: "conclusion error", "data-outcome": "error" }, `Error: ${error.message}`));
    root.dataset.done = "error";
  } finally {
    buttons.forEach((button) => (button.disabled = false));
  }
}

// -- the request builder ----------------------------------------------------------------------

let lastETag = null;

function parseHeaderLines(text) {
  const headers = {};
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const colon = line.indexOf(":");
    if (colon < 1) throw new Error(`Not a header line: “${line}” (expected Name: value)`);
    headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  return headers;
}

function setHeaderLine(name, value) {
  const field = $("#headers");
  const lines = field.value
    .split("\n")
    .filter((line) => line.trim() && !line.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  field.value = [...lines, `${name}: ${value}`].join("\n");
}

function openInBuilder(request) {
  $("#method").value = request.method;
  $("#path").value = request.url;
  $("#headers").value = Object.entries(request.headers)
    .map(([name, value]) => `${name}: ${value}`)
    .join("\n");
  $("#body").value = request.body ? pretty(request.body) : "";
  $("#builder").scrollIntoView({ behavior: "smooth" });
  $("#send").focus();
}

function showResponse(x) {
  const view = $("#response");
  view.hidden = false;
  const status = $("#response-status");
  status.textContent = statusLabel(x.response);
  status.dataset.status = x.response.status;
  $("#response-time").textContent = `${x.response.ms} ms`;
  $("#response-headers").textContent = x.response.headers
    .map(([name, value]) => `${name}: ${value}`)
    .join("\n");
  $("#response-body").textContent = x.response.text ? pretty(x.response.text) : "(no body)";
  lastETag = header(x, "ETag");
  $("#use-if-match").disabled = !lastETag;
  $("#use-if-none-match").disabled = !lastETag;
}

$("#request-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const view = $("#response");
  try {
    const x = await exchange($("#method").value, $("#path").value.trim(), {
      headers: parseHeaderLines($("#headers").value),
      body: $("#body").value,
    });
    showResponse(x);
  } catch (error) {
    view.hidden = false;
    $("#response-status").textContent = `Error: ${error.message}`;
    $("#response-status").dataset.status = "error";
    $("#response-headers").textContent = "";
    $("#response-body").textContent = "";
  }
});
$("#use-if-match").addEventListener("click", () => setHeaderLine("If-Match", lastETag));
$("#use-if-none-match").addEventListener("click", () => setHeaderLine("If-None-Match", lastETag));

// -- start ------------------------------------------------------------------------------------

$("#target-endpoint").addEventListener("change", fillTargetIds);
fillTargetIds();
document.querySelectorAll("[data-scenario]").forEach((button) =>
  button.addEventListener("click", () => runScenario(button.dataset.scenario)),
);
document.body.dataset.ready = "true";
