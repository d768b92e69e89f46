{% load static %}/* RuralWatch daily report: service worker (offline form and queue). Served from /intake/ so
   that its scope covers the form. Pages: network first, the last copy when offline. Static
   files: cache first. Form sendings are never cached: the page's queue (IndexedDB) keeps them,
   and the "sync" event (Background Sync) sends what waits when the network returns. */
const CACHE = "rw-intake-v1";
const ASSETS = [
  "{% static 'intake/intake.js' %}",
  "{% static 'intake/intake.css' %}",
  "{% static 'dashboard/dashboard.css' %}",
  "{% url 'intake:manifest' %}",
];
const SCOPE = "{% url 'intake:home' %}";

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(ASSETS)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("rw-intake-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim())
  );
});

self.addEventListener("fetch", (event) => {
  const req = event.request;
  if (req.method !== "GET") return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  if (req.mode === "navigate" && url.pathname.startsWith(SCOPE)) {
    event.respondWith(
      fetch(req)
        .then((res) => {
          if (res.ok && !res.redirected) {
            const copy = res.clone();
            caches.open(CACHE).then((c) => c.put(req, copy));
          }
          return res;
        })
        .catch(() => caches.match(req, { ignoreVary: true }).then((hit) => hit || offlinePage()))
    );
    return;
  }
  if (ASSETS.includes(url.pathname)) {
    event.respondWith(caches.match(req).then((hit) => hit || fetch(req)));
  }
});

function offlinePage() {
  return new Response(
    "<!doctype html><meta charset=utf-8><meta name=viewport content='width=device-width'>" +
      "<p>离线：请先在有网络时打开一次日报页面。Offline: open the report page once while online first.</p>",
    { status: 503, headers: { "Content-Type": "text/html; charset=utf-8" } }
  );
}

/* --- the queue (the same store as intake.js) --- */
function openQueue() {
  return new Promise((resolve, reject) => {
    const r = indexedDB.open("rw-intake", 1);
    r.onupgradeneeded = () => r.result.createObjectStore("queue", { keyPath: "key" });
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}
function all(db) {
  return new Promise((resolve, reject) => {
    const r = db.transaction("queue").objectStore("queue").getAll();
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}
function put(db, item) {
  return new Promise((resolve, reject) => {
    const t = db.transaction("queue", "readwrite");
    t.objectStore("queue").put(item);
    t.oncomplete = () => resolve();
    t.onerror = () => reject(t.error);
  });
}
function del(db, key) {
  return new Promise((resolve, reject) => {
    const t = db.transaction("queue", "readwrite");
    t.objectStore("queue").delete(key);
    t.oncomplete = () => resolve();
    t.onerror = () => reject(t.error);
  });
}

async function flush() {
  const db = await openQueue();
  const items = (await all(db)).filter((i) => i.state === "waiting");
  let failed = false;
  for (const item of items) {
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
      failed = true;
      continue;
    }
    if (res.type === "opaqueredirect" || res.status >= 500) { failed = true; continue; }
    let answer = {};
    try { answer = await res.json(); } catch (e) { answer = {}; }
    if (res.status === 200 || res.status === 201) await del(db, item.key);
    else await put(db, { ...item, state: "refused", reason: answer.reason || String(res.status) });
  }
  const clients = await self.clients.matchAll();
  clients.forEach((c) => c.postMessage({ type: "rw-intake-flushed" }));
  if (failed) throw new Error("some reports wait for the network");
}

self.addEventListener("sync", (event) => {
  if (event.tag === "rw-intake") event.waitUntil(flush());
});
