/* RuralWatch village daily report (村级日报): the form works with no network.
   A sending goes to a queue on the phone (IndexedDB) with an idempotency key made here, then
   is sent; with no network it waits and is sent when the network returns (the "online"
   event, Background Sync through the service worker where the browser has it, and the
   "Send now" button where it has not). The server stores one report per key, so sending an
   item twice (two taps, a retry after a lost answer) stores it once. */
(function () {
  "use strict";
  const root = document.getElementById("in-report");
  if (!root) return;
  const form = document.getElementById("in-form");
  const queueBox = document.getElementById("in-queue");
  const statusLine = document.getElementById("in-status");
  const msg = (name) => root.dataset["msg" + name] || "";

  /* --- service worker: the page and its files offline --- */
  let registration = null;
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker
      .register(root.dataset.sw, { scope: root.dataset.scope })
      .then((reg) => { registration = reg; })
      .catch(() => {});
    navigator.serviceWorker.addEventListener("message", (e) => {
      if (e.data && e.data.type === "rw-intake-flushed") render();
    });
  }

  /* --- the queue --- */
  function openQueue() {
    return new Promise((resolve, reject) => {
      const r = indexedDB.open("rw-intake", 1);
      r.onupgradeneeded = () => r.result.createObjectStore("queue", { keyPath: "key" });
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
  }
  async function tx(mode, fn) {
    const db = await openQueue();
    return new Promise((resolve, reject) => {
      const t = db.transaction("queue", mode);
      const out = fn(t.objectStore("queue"));
      t.oncomplete = () => resolve(out && "result" in out ? out.result : undefined);
      t.onerror = () => reject(t.error);
    });
  }
  const allItems = () => tx("readonly", (s) => s.getAll());
  const putItem = (item) => tx("readwrite", (s) => s.put(item));
  const delItem = (key) => tx("readwrite", (s) => s.delete(key));

  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  }
  let keyUsed = false;
  form.elements.key.value = newKey();
  form.addEventListener("input", () => {
    document.getElementById("in-check").dataset.confirmed = "";
    if (keyUsed) { form.elements.key.value = newKey(); keyUsed = false; }
  });

  function csrf() {
    const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : form.elements.csrfmiddlewaretoken.value;
  }

  /* --- "not known" disables the number --- */
  form.querySelectorAll(".in-unknown input").forEach((box) => {
    box.addEventListener("change", () => {
      const field = box.closest(".in-field");
      const input = field.querySelector("input[type=number]");
      input.disabled = box.checked;
      if (box.checked) input.value = "";
    });
  });

  /* --- checks before sending (the server checks again) --- */
  function collect() {
    const values = {};
    let ok = true;
    form.querySelectorAll(".in-field").forEach((field) => {
      const code = field.dataset.code;
      const input = field.querySelector("input[type=number]");
      const unknown = field.querySelector(".in-unknown input").checked;
      const error = field.querySelector(".in-error");
      error.hidden = true;
      error.textContent = "";
      if (unknown) { values[code] = null; return; }
      const text = input.value.trim();
      const number = Number(text);
      let problem = "";
      if (text === "") problem = input.dataset.msgEmpty || root.dataset.msgEmpty || "";
      else if (!Number.isFinite(number) || number < 0) problem = input.validationMessage || "?";
      else if (input.step === "1" && !Number.isInteger(number)) problem = input.validationMessage || "?";
      if (problem) {
        ok = false;
        error.textContent = problem;
        error.hidden = false;
      } else values[code] = number;
    });
    return ok ? values : null;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = collect();
    if (values === null) return;
    const body = {
      key: form.elements.key.value,
      date: form.elements.date.value,
      values: values,
      reporter: form.elements.reporter.value,
      comment: form.elements.comment.value,
      reason: form.elements.reason.value,
    };
    // Validation rules (positives <= tests, ...): asked of the server when there is a
    // network; a sending that fails one is shown first, and a second tap sends it as it is.
    // With no network the report is queued unchecked (the nightly run checks it again).
    const box = document.getElementById("in-check");
    if (navigator.onLine && box.dataset.confirmed !== body.key) {
      const warnings = await checkRules(body);
      if (warnings.length) {
        box.textContent = "";
        warnings.forEach((w) => {
          const p = document.createElement("span");
          p.className = "in-rule";
          p.dataset.rule = w.rule;
          p.textContent = w.message + " ";
          box.append(p);
        });
        box.append(msg("Confirm"));
        box.hidden = false;
        box.dataset.confirmed = body.key;
        return;
      }
    }
    box.hidden = true;
    keyUsed = true;
    await putItem({
      key: body.key,
      url: root.dataset.submit,
      csrf: csrf(),
      body: body,
      state: "waiting",
      created: new Date().toISOString(),
    });
    await flush();
  });

  async function checkRules(body) {
    try {
      const res = await fetch(root.dataset.check, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf() },
        body: JSON.stringify(body),
      });
      if (!res.ok) return [];
      return (await res.json()).warnings || [];
    } catch (e) {
      return [];
    }
  }

  /* --- sending what waits --- */
  let flushing = false;
  async function flush() {
    if (flushing) return;
    flushing = true;
    let offline = false;
    try {
      const items = (await allItems()).filter((i) => i.state === "waiting");
      for (const item of items) {
        statusLine.textContent = msg("Sending");
        let res;
        try {
          res = await fetch(item.url, {
            method: "POST",
            credentials: "same-origin",
            redirect: "manual",
            headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": item.csrf },
            body: JSON.stringify(item.body),
          });
        } catch (e) {
          offline = true;
          break;
        }
        if (res.type === "opaqueredirect") { statusLine.textContent = msg("Login"); offline = true; break; }
        if (res.status >= 500) { offline = true; break; }
        let answer = {};
        try { answer = await res.json(); } catch (e) { answer = {}; }
        if (res.status === 200 || res.status === 201) {
          await delItem(item.key);
          statusLine.textContent = res.status === 201 ? msg("Stored") : msg("Duplicate");
          root.dataset.lastAnswer = answer.status || "";
          if (item.key === form.elements.key.value) markStored(answer);
        } else {
          await putItem({ ...item, state: "refused", reason: answer.reason || String(res.status) });
          root.dataset.lastAnswer = answer.status || "refused";
          showProblems(answer);
        }
      }
    } finally {
      flushing = false;
    }
    if (offline) {
      statusLine.textContent = msg("Queued");
      if (registration && "sync" in registration) {
        try { await registration.sync.register("rw-intake"); } catch (e) { /* retry button */ }
      }
    }
    await render();
  }

  function markStored(answer) {
    const done = document.createElement("p");
    done.className = "in-done";
    done.id = "in-done";
    done.setAttribute("role", "status");
    done.textContent = answer.message || msg("Stored");
    const old = document.getElementById("in-done");
    if (old) old.replaceWith(done); else form.before(done);
  }

  function showProblems(answer) {
    (answer.problems || []).forEach((p) => {
      const field = form.querySelector(`.in-field[data-code="${CSS.escape(p.field)}"] .in-error`);
      if (field) { field.textContent = p.reason; field.hidden = false; }
    });
    let box = document.getElementById("in-refused");
    if (!box) {
      box = document.createElement("div");
      box.id = "in-refused";
      box.className = "in-refused";
      box.setAttribute("role", "alert");
      form.before(box);
    }
    box.textContent = answer.reason || msg("Refused");
  }

  async function render() {
    const items = await allItems();
    const list = document.getElementById("in-queue-list");
    list.textContent = "";
    let waiting = 0;
    items.sort((a, b) => (a.created < b.created ? -1 : 1)).forEach((item) => {
      const li = document.createElement("li");
      li.dataset.key = item.key;
      li.dataset.state = item.state;
      if (item.state === "waiting") waiting += 1;
      const label = item.state === "waiting" ? msg("Waiting") : msg("Refused");
      li.textContent = `${item.body.date} · ${label}${item.reason ? " · " + item.reason : ""}`;
      if (item.state !== "waiting") {
        const drop = document.createElement("button");
        drop.type = "button";
        drop.textContent = "×";
        drop.addEventListener("click", () => delItem(item.key).then(render));
        li.append(" ", drop);
      }
      list.append(li);
    });
    document.getElementById("in-queue-count").textContent = String(waiting);
    queueBox.hidden = items.length === 0;
    root.dataset.waiting = String(waiting);
  }

  document.getElementById("in-retry").addEventListener("click", () => flush());
  window.addEventListener("online", () => flush());
  render().then(() => { if (navigator.onLine) flush(); });
})();
