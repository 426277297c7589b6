// The shopper's page: sign in, the account and its balance, top-ups,
// orders, and the list of orders whose statuses follow the status stream.
// The DOM is built with textContent and createElement only (the page's
// Content-Security-Policy forbids the HTML-parsing sinks).
import { EventStreamParser, readEventStream } from "./sse.js";
import { formatRubles, parseJSON, parseRubles } from "./money.js";

const streamPath = "/api/v1/orders/stream";
const sessionKey = "shop.session";
const pageSize = 20;
const userIDPattern = /^[A-Za-z0-9._-]{1,64}$/;

const $ = (id) => document.getElementById(id);

let config = { auth: "header" };
let session = null; // {user, token}
let stream = null;
let listed = false;

// --- the API ---

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// What each error code of the API means to a shopper; the API's own message
// follows it.
const explanations = {
  INVALID_ARGUMENT: "That was not accepted",
  UNAUTHENTICATED: "You are not signed in",
  NOT_FOUND: "Not found",
  ACCOUNT_EXISTS: "You already have an account",
  BALANCE_LIMIT_EXCEEDED: "The balance cannot grow that large",
  IDEMPOTENCY_KEY_IN_USE: "The same request is still being handled; wait a moment",
  IDEMPOTENCY_KEY_REUSED: "This form was already sent with other values; send it again",
  PAYLOAD_TOO_LARGE: "That is too long",
  TOO_MANY_REQUESTS: "Too many at once",
  RESOURCE_EXHAUSTED: "Too many at once",
  UNAVAILABLE: "The shop is busy or restarting; try again in a moment",
  INTERNAL: "Something went wrong in the shop; try again later",
};

// describe returns an error as a sentence for the shopper.
function describe(err) {
  if (!(err instanceof ApiError)) return err?.message || String(err);
  if (err.status === 0) return err.message;
  const lead = explanations[err.code] ?? `The shop answered ${err.status}`;
  const detail = err.message && err.message !== lead ? `: ${err.message}` : "";
  return `${lead}${detail}.`.replace(/\.\.$/, ".");
}

function authHeaders() {
  if (!session) return {};
  if (config.auth === "jwt") return { Authorization: `Bearer ${session.token}` };
  return { "X-User-ID": session.user };
}

async function errorFrom(resp) {
  let code = "";
  let message = "";
  try {
    const body = JSON.parse(await resp.text());
    code = body?.error?.code ?? "";
    message = body?.error?.message ?? "";
  } catch {
    // not the API's error body: the status says enough
  }
  return new ApiError(resp.status, code, message);
}

const unreachable = () =>
  new ApiError(0, "", "The shop cannot be reached. Check your connection and try again.");

// api calls the REST API as the signed-in shopper and returns the parsed
// body; it throws an ApiError. A 401 signs the shopper out.
async function api(method, path, { body, idempotencyKey } = {}) {
  const headers = { Accept: "application/json", ...authHeaders() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
  let resp;
  try {
    resp = await fetch(path, { method, headers, body, cache: "no-store" });
  } catch {
    throw unreachable();
  }
  if (!resp.ok) {
    const err = await errorFrom(resp);
    if (resp.status === 401 && session) signOut(`${describe(err)} Sign in again.`);
    throw err;
  }
  const text = await resp.text();
  return text ? parseJSON(text) : null;
}

// newKey returns a random Idempotency-Key (crypto.randomUUID needs a secure
// context; getRandomValues does not).
function newKey() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

// formKey returns the Idempotency-Key of form's current values: the same
// key while the shopper sends the same values again (after a lost answer),
// a new one once a value changes or the last send succeeded.
function formKey(form) {
  if (!form.dataset.key) form.dataset.key = newKey();
  return form.dataset.key;
}

// --- messages ---

function showError(id, err, input) {
  $(id).textContent = err ? describe(err) : "";
  if (input) {
    if (err) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }
}

function announce(text) {
  const p = document.createElement("p");
  p.textContent = text;
  const box = $("announcer");
  box.append(p);
  while (box.childElementCount > 3) box.firstElementChild.remove();
}

// --- sign in ---

function signInHint() {
  if (config.auth === "header") {
    return "Development mode: the gateway trusts the user name you enter.";
  }
  if (config.dev_token_path) {
    return "Development sign-in: the gateway's development issuer gives you a token for the name you enter.";
  }
  return "";
}

function showSignIn() {
  $("sign-in").hidden = false;
  $("session").hidden = true;
  $("shop").hidden = true;
  const pasteToken = config.auth === "jwt" && !config.dev_token_path;
  $("user-id-field").hidden = pasteToken;
  $("token-field").hidden = !pasteToken;
  $("sign-in-mode").textContent = signInHint();
}

// tokenSubject is the sub claim of a JWT, shown as the user's name; the
// gateway, not the page, verifies the token.
function tokenSubject(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const sub = JSON.parse(atob(payload)).sub;
    return typeof sub === "string" && sub ? sub : "";
  } catch {
    return "";
  }
}

async function devToken(user) {
  let resp;
  try {
    resp = await fetch(config.dev_token_path, {
      method: "POST",
      headers: { Accept: "application/json", "Content-Type": "application/json" },
      body: JSON.stringify({ user_id: user }),
      cache: "no-store",
    });
  } catch {
    throw unreachable();
  }
  if (!resp.ok) throw await errorFrom(resp);
  const body = await resp.json();
  const token = body?.token ?? body?.access_token;
  if (typeof token !== "string" || token === "") {
    throw new ApiError(resp.status, "", "The development issuer answered without a token.");
  }
  return token;
}

async function signIn(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const button = form.querySelector("button[type=submit]");
  showError("sign-in-error", null, $("user-id"));
  showError("sign-in-error", null, $("token"));
  let user = "";
  let token = "";
  button.disabled = true;
  try {
    if (config.auth === "jwt" && !config.dev_token_path) {
      token = $("token").value.trim();
      if (!token) {
        showError("sign-in-error", new Error("Paste your access token."), $("token"));
        return;
      }
      user = tokenSubject(token) || "you";
    } else {
      user = $("user-id").value.trim();
      if (!userIDPattern.test(user)) {
        showError("sign-in-error", new Error("A user name is 1 to 64 letters, digits, dots, underscores or hyphens."), $("user-id"));
        $("user-id").focus();
        return;
      }
      if (config.auth === "jwt") token = await devToken(user);
    }
  } catch (err) {
    showError("sign-in-error", err, config.auth === "jwt" && !config.dev_token_path ? $("token") : $("user-id"));
    return;
  } finally {
    button.disabled = false;
  }
  session = { user, token };
  sessionStorage.setItem(sessionKey, JSON.stringify({ auth: config.auth, ...session }));
  form.reset();
  enterShop(true);
}

function signOut(reason = "") {
  stream?.stop();
  stream = null;
  session = null;
  sessionStorage.removeItem(sessionKey);
  clearOrders();
  showSignIn();
  $("sign-in-error").textContent = reason;
  $("user-id-field").hidden ? $("token").focus() : $("user-id").focus();
}

function enterShop(moveFocus) {
  $("sign-in").hidden = true;
  $("session").hidden = false;
  $("session-user").textContent = session.user;
  $("shop").hidden = false;
  $("page-error").textContent = "";
  for (const id of ["open-account-error", "top-up-error", "order-error", "orders-error"]) $(id).textContent = "";
  clearOrders();
  $("account-loading").hidden = false;
  $("account").hidden = true;
  $("no-account").hidden = true;
  refreshAccount();
  listed = false;
  stream = new OrderStream({
    onOrder: (order) => upsertOrder(order, true),
    onReset: (list) => {
      for (const order of list.orders ?? []) upsertOrder(order, false);
    },
    onOpen: () => {
      setStreamState("live", "Live updates on: statuses change here as they change in the shop.");
      listOnce();
    },
    onRetrying: (err, delay) => {
      setStreamState("reconnecting", `Live updates interrupted: ${describe(err)} Reconnecting in ${Math.ceil(delay / 1000)} s…`);
      listOnce();
    },
    onStopped: (err) => {
      setStreamState("off", `Live updates are off: ${describe(err)} Reload the page to try again.`);
      listOnce();
    },
  });
  stream.start();
  if (moveFocus) $("account-title").focus();
}

// listOnce loads the first page of orders once the stream has been tried:
// after it is open, no change can fall between the list and the stream.
function listOnce() {
  if (listed) return;
  listed = true;
  loadOrders(true);
}

function setStreamState(state, text) {
  const el = $("stream-state");
  el.dataset.state = state;
  el.textContent = text;
}

// --- the account ---

let accountLoading = null;
let accountAgain = false;

// refreshAccount loads the account; calls while one load runs coalesce into
// one more load after it.
function refreshAccount() {
  if (accountLoading) {
    accountAgain = true;
    return;
  }
  accountLoading = loadAccount().finally(() => {
    accountLoading = null;
    if (accountAgain) {
      accountAgain = false;
      refreshAccount();
    }
  });
}

async function loadAccount() {
  try {
    showAccount(await api("GET", "/api/v1/account"));
  } catch (err) {
    if (!session) return;
    if (err instanceof ApiError && err.status === 404) {
      $("account-loading").hidden = true;
      $("account").hidden = true;
      $("no-account").hidden = false;
      return;
    }
    $("page-error").textContent = `Your account could not be loaded. ${describe(err)}`;
  }
}

function showAccount(account) {
  if (!session) return;
  $("account-loading").hidden = true;
  $("no-account").hidden = true;
  $("account").hidden = false;
  $("balance").textContent = formatRubles(account.balance, account.currency);
  $("balance").dataset.kopecks = account.balance.toString();
}

async function openAccount(event) {
  const button = event.currentTarget;
  button.disabled = true;
  showError("open-account-error", null);
  try {
    showAccount(await api("POST", "/api/v1/account"));
    announce("Your account is open.");
    $("top-up-amount").focus();
  } catch (err) {
    if (err instanceof ApiError && err.code === "ACCOUNT_EXISTS") refreshAccount();
    else showError("open-account-error", err);
  } finally {
    button.disabled = false;
  }
}

async function topUp(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const input = $("top-up-amount");
  showError("top-up-error", null, input);
  let kopecks;
  try {
    kopecks = parseRubles(input.value);
  } catch (err) {
    showError("top-up-error", err, input);
    input.focus();
    return;
  }
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const account = await api("POST", "/api/v1/account/top-up", {
      body: `{"amount":${kopecks}}`,
      idempotencyKey: formKey(form),
    });
    delete form.dataset.key;
    form.reset();
    showAccount(account);
    announce(`Topped up by ${formatRubles(kopecks)}.`);
  } catch (err) {
    showError("top-up-error", err, err.code === "INVALID_ARGUMENT" || err.code === "BALANCE_LIMIT_EXCEEDED" ? input : null);
  } finally {
    button.disabled = false;
  }
}

// --- orders ---

const orders = new Map(); // id → {order, row}
let nextPageToken = "";

const statusRank = { PENDING: 0, PAID: 1, CANCELLED: 1 };
const cancelReasons = {
  INSUFFICIENT_FUNDS: "not enough money in the account",
  ACCOUNT_NOT_FOUND: "no account to pay from",
};

function statusText(order) {
  switch (order.status) {
    case "PENDING":
      return "Awaiting payment…";
    case "PAID":
      return "Paid";
    case "CANCELLED":
      return `Cancelled: ${cancelReasons[order.cancel_reason] ?? order.cancel_reason ?? "no reason given"}`;
    default:
      return order.status;
  }
}

// millis reads an RFC 3339 time with any number of fractional digits.
function millis(t) {
  return Date.parse(String(t).replace(/\.(\d{1,3})\d*/, (_, ms) => "." + ms.padEnd(3, "0")));
}

function orderName(order) {
  return order.description ? `“${order.description}”` : `of ${new Date(millis(order.created_at)).toLocaleString()}`;
}

function fillRow(row, order) {
  row.dataset.orderId = order.id;
  row.dataset.status = order.status;
  const placed = document.createElement("time");
  placed.dateTime = order.created_at;
  placed.textContent = new Date(millis(order.created_at)).toLocaleString();
  const status = document.createElement("span");
  status.className = `status status-${order.status}`;
  status.textContent = statusText(order);
  const cells = [order.description || "(no description)", formatRubles(order.amount, order.currency), status, placed];
  const classes = ["description", "amount", "", "placed"];
  row.replaceChildren(
    ...cells.map((content, i) => {
      const td = document.createElement("td");
      if (classes[i]) td.className = classes[i];
      td.append(content);
      return td;
    }),
  );
}

// upsertOrder shows order, whether it came from the list, an answer or the
// stream: a known order is replaced only by a later state (statuses only
// leave PENDING), so the sources can arrive in any order.
function upsertOrder(order, announceChange) {
  const known = orders.get(order.id);
  if (known) {
    const a = statusRank[order.status] ?? 0;
    const b = statusRank[known.order.status] ?? 0;
    if (a < b || (a === b && millis(order.updated_at) < millis(known.order.updated_at))) return;
    const changed = known.order.status !== order.status;
    known.order = order;
    fillRow(known.row, order);
    if (changed) statusChanged(order, announceChange);
    return;
  }
  const created = millis(order.created_at);
  let before = null;
  for (const row of $("orders").rows) {
    if (millis(orders.get(row.dataset.orderId).order.created_at) < created) {
      before = row;
      break;
    }
  }
  // Older than every order shown while older pages remain: it arrives
  // with its page.
  if (!before && nextPageToken) return;
  const row = document.createElement("tr");
  fillRow(row, order);
  $("orders").insertBefore(row, before);
  orders.set(order.id, { order, row });
  showOrdersTable();
  if (order.status !== "PENDING") statusChanged(order, announceChange);
}

function statusChanged(order, announceChange) {
  if (order.status === "PAID") refreshAccount();
  if (!announceChange) return;
  const what = `Order ${orderName(order)} for ${formatRubles(order.amount, order.currency)}`;
  if (order.status === "PAID") announce(`${what} is paid.`);
  else if (order.status === "CANCELLED") announce(`${what} was cancelled: ${cancelReasons[order.cancel_reason] ?? order.cancel_reason}.`);
}

function showOrdersTable() {
  $("orders-table").hidden = orders.size === 0;
  $("orders-empty").hidden = orders.size !== 0 || !listed;
}

function clearOrders() {
  orders.clear();
  nextPageToken = "";
  $("orders").replaceChildren();
  $("more-orders").hidden = true;
  $("orders-table").hidden = true;
  $("orders-empty").hidden = true;
}

async function loadOrders(first) {
  const button = $("more-orders");
  button.disabled = true;
  showError("orders-error", null);
  try {
    const params = new URLSearchParams({ limit: String(pageSize) });
    if (!first && nextPageToken) params.set("page_token", nextPageToken);
    const page = await api("GET", `/api/v1/orders?${params}`);
    nextPageToken = "";
    for (const order of page.orders ?? []) upsertOrder(order, false);
    nextPageToken = page.next_page_token ?? "";
    button.hidden = !nextPageToken;
    showOrdersTable();
  } catch (err) {
    if (session) showError("orders-error", new Error(`Your orders could not be loaded. ${describe(err)}`));
  } finally {
    button.disabled = false;
  }
}

async function placeOrder(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const amountInput = $("order-amount");
  const description = $("order-description").value.trim();
  showError("order-error", null, amountInput);
  let kopecks;
  try {
    kopecks = parseRubles(amountInput.value);
  } catch (err) {
    showError("order-error", err, amountInput);
    amountInput.focus();
    return;
  }
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const order = await api("POST", "/api/v1/orders", {
      body: `{"amount":${kopecks},"description":${JSON.stringify(description)}}`,
      idempotencyKey: formKey(form),
    });
    delete form.dataset.key;
    form.reset();
    upsertOrder(order, true);
    announce(`Order ${orderName(order)} placed; waiting for payment.`);
    $("order-description").focus();
  } catch (err) {
    showError("order-error", err, err.code === "INVALID_ARGUMENT" ? amountInput : null);
  } finally {
    button.disabled = false;
  }
}

// --- the status stream ---

const sleep = (ms, signal) =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });

// OrderStream follows GET /api/v1/orders/stream. After a dropped or ended
// connection it connects again, after the server's retry hint (doubled
// while failures repeat, at most 30 s), with Last-Event-ID set to the last
// event's id, so the server sends exactly the changes missed meanwhile. It
// stops on an answer that retrying cannot change (401, other 4xx but 408
// and 429).
class OrderStream {
  constructor(handlers) {
    this.handlers = handlers;
    this.retry = 2000;
    this.controller = new AbortController();
    this.parser = new EventStreamParser(
      (event) => this.event(event),
      (ms) => {
        this.retry = Math.max(ms, 250);
      },
    );
  }

  start() {
    this.run(this.controller.signal);
  }

  stop() {
    this.controller.abort();
  }

  // event handles "order" (one order as a change left it) and "reset"
  // (the server skipped the history, too old to resume from: its data is
  // the first page of orders as they are now).
  event(event) {
    if (event.type !== "order" && event.type !== "reset") return;
    let data;
    try {
      data = parseJSON(event.data);
    } catch {
      return;
    }
    if (event.type === "order") this.handlers.onOrder(data);
    else this.handlers.onReset(data);
  }

  async run(signal) {
    let failures = 0;
    while (!signal.aborted) {
      let problem;
      try {
        const headers = { Accept: "text/event-stream", ...authHeaders() };
        if (this.parser.lastEventId) headers["Last-Event-ID"] = this.parser.lastEventId;
        let resp;
        try {
          resp = await fetch(streamPath, { headers, signal, cache: "no-store" });
        } catch (err) {
          if (signal.aborted) return;
          throw unreachable();
        }
        if (!resp.ok) {
          problem = await errorFrom(resp);
          if (resp.status === 401) {
            signOut(`${describe(problem)} Sign in again.`);
            return;
          }
          if (resp.status >= 400 && resp.status < 500 && resp.status !== 408 && resp.status !== 429) {
            this.handlers.onStopped(problem);
            return;
          }
        } else if (!(resp.headers.get("Content-Type") ?? "").startsWith("text/event-stream")) {
          this.handlers.onStopped(new ApiError(0, "", "The shop did not answer with an event stream."));
          return;
        } else {
          failures = 0;
          this.handlers.onOpen();
          await readEventStream(resp.body, this.parser, signal);
          problem = new ApiError(0, "", "The shop closed the connection.");
        }
      } catch (err) {
        if (signal.aborted) return;
        problem = err instanceof ApiError ? err : new ApiError(0, "", "The connection was lost.");
      }
      if (signal.aborted) return;
      failures++;
      const delay = Math.min(this.retry * 2 ** Math.min(failures - 1, 4), 30000) * (0.8 + Math.random() * 0.4);
      this.handlers.onRetrying(problem, delay);
      await sleep(delay, signal);
    }
  }
}

// --- start ---

// watchEdits forgets form's Idempotency-Key and clears its error once the
// shopper edits it.
function watchEdits(form, errorID) {
  form.addEventListener("input", (event) => {
    delete form.dataset.key;
    $(errorID).textContent = "";
    event.target.removeAttribute?.("aria-invalid");
  });
}

async function init() {
  $("sign-in-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", () => signOut());
  $("open-account").addEventListener("click", openAccount);
  $("top-up-form").addEventListener("submit", topUp);
  $("order-form").addEventListener("submit", placeOrder);
  $("more-orders").addEventListener("click", () => loadOrders(false));
  watchEdits($("top-up-form"), "top-up-error");
  watchEdits($("order-form"), "order-error");
  try {
    const resp = await fetch("/config.json", { cache: "no-store" });
    if (!resp.ok) throw await errorFrom(resp);
    config = await resp.json();
  } catch (err) {
    $("page-error").textContent = `The page could not load its settings. ${describe(err)} Reload to try again.`;
    return;
  }
  let saved = null;
  try {
    saved = JSON.parse(sessionStorage.getItem(sessionKey) ?? "null");
  } catch {
    saved = null;
  }
  if (saved && saved.auth === config.auth && saved.user) {
    session = { user: saved.user, token: saved.token ?? "" };
    enterShop(false);
  } else {
    showSignIn();
  }
  document.body.dataset.ready = "true";
}

init();
