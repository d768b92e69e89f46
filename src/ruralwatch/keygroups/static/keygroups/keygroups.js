// Key-group pages, no build step, no dependency. Two jobs:
// 1. The day's list: the quick buttons post with fetch; the server answers with the updated
//    row, which replaces the old one and moves to the section its status now belongs to.
// 2. The area pages: drill-down links and rows load the page fragment (HX-Request header)
//    into the content area and push the URL. Without JavaScript both work as plain HTML.
(function () {
  "use strict";

  const SECTIONS = { overdue: "overdue", due: "due", ok: "done" };

  function refreshCounts() {
    for (const id of Object.values(SECTIONS)) {
      const section = document.getElementById(id);
      if (!section) continue;
      const n = section.querySelectorAll(".kg-rows > li").length;
      const count = section.querySelector(".count");
      if (count) count.textContent = String(n);
      const empty = section.querySelector(".empty");
      if (empty) empty.hidden = n > 0;
    }
  }

  function chosenMethod() {
    const checked = document.querySelector("input[name='kg-method']:checked");
    return checked ? checked.value : "phone";
  }

  function placeRow(oldRow, html) {
    const holder = document.createElement("ul");
    holder.innerHTML = html.trim();
    const row = holder.firstElementChild;
    if (!row) {
      oldRow.remove();
      return;
    }
    const target = document.getElementById(SECTIONS[row.dataset.due] || "done");
    const list = target && target.querySelector(".kg-rows");
    if (list && list !== oldRow.parentElement) {
      oldRow.remove();
      list.prepend(row);
    } else {
      oldRow.replaceWith(row);
    }
    row.classList.add("kg-updated");
  }

  async function submitQuick(form, submitter) {
    if (submitter && submitter.dataset.confirm && !window.confirm(submitter.dataset.confirm)) return;
    const data = new FormData(form);
    if (submitter && submitter.name) data.set(submitter.name, submitter.value);
    data.set("method", chosenMethod());
    const row = form.closest(".kg-row");
    const error = form.querySelector(".kg-error");
    const buttons = form.querySelectorAll("button");
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const response = await fetch(form.action, {
        method: "POST",
        body: data,
        headers: { "HX-Request": "true" },
        credentials: "same-origin",
      });
      if (response.status === 204) {
        row.remove();
      } else if (response.ok) {
        placeRow(row, await response.text());
      } else if (response.status === 400) {
        error.innerHTML = await response.text();
        error.hidden = false;
        buttons.forEach((b) => { b.disabled = false; });
        return;
      } else {
        throw new Error("HTTP " + response.status);
      }
      refreshCounts();
    } catch (exc) {
      console.error(exc);
      const holder = document.getElementById("kg-content");
      error.textContent = holder ? holder.dataset.networkError : String(exc);
      error.hidden = false;
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  document.addEventListener("submit", (event) => {
    const form = event.target.closest("form.kg-quick");
    if (!form) return;
    event.preventDefault();
    submitQuick(form, event.submitter);
  });

  // --- drill-down -------------------------------------------------------------------------

  async function load(url, push) {
    const holder = document.getElementById("kg-content");
    if (!holder) {
      window.location.assign(url);
      return;
    }
    holder.setAttribute("aria-busy", "true");
    try {
      const response = await fetch(url, { headers: { "HX-Request": "true" }, credentials: "same-origin" });
      if (!response.ok || response.redirected) {
        window.location.assign(url);
        return;
      }
      holder.innerHTML = await response.text();
      if (push) history.pushState({ kg: true }, "", url);
      const page = holder.querySelector("[data-title]");
      if (page) document.title = page.dataset.title;
      for (const input of document.querySelectorAll("form.lang input[name=next]")) {
        input.value = window.location.pathname + window.location.search;
      }
      window.scrollTo(0, 0);
    } catch (exc) {
      console.error(exc);
      window.location.assign(url);
    } finally {
      holder.removeAttribute("aria-busy");
    }
  }

  document.addEventListener("click", (event) => {
    if (event.defaultPrevented || event.button !== 0) return;
    if (event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    const link = event.target.closest(".kg-area a[data-drill]");
    if (link) {
      event.preventDefault();
      load(link.href, true);
      return;
    }
    const row = event.target.closest(".kg-area tr[data-href]");
    if (row && !event.target.closest("a, button")) load(row.dataset.href, true);
  });

  window.addEventListener("popstate", (event) => {
    if (document.querySelector(".kg-area")) load(window.location.href, false);
  });
})();
