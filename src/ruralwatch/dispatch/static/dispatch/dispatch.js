// Dispatch pages, no build step: keyboard moves through the inbox (j / k, Enter opens a task).
// Acting on a task is htmx (attributes in the templates); without JavaScript the forms post.
(function () {
  "use strict";

  // Rows a user can see: those folded inside a closed "Show more" are skipped.
  function rows() {
    return Array.from(document.querySelectorAll("tr.dp-task")).filter(function (row) {
      const fold = row.closest("details");
      return !fold || fold.open;
    });
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target.closest && target.closest("input, textarea, select, button, summary")) return;
    const all = rows();
    if (!all.length) return;
    const current = target.closest ? target.closest("tr.dp-task") : null;
    const i = current ? all.indexOf(current) : -1;
    if (event.key === "j" || event.key === "k") {
      const next = event.key === "j" ? Math.min(i + 1, all.length - 1) : Math.max(i - 1, 0);
      all[next].focus();
      event.preventDefault();
    } else if (event.key === "Enter" && current && target === current) {
      window.location.assign(current.dataset.taskUrl);
      event.preventDefault();
    }
  });

  // A step that did not reach the server (network, expired session, CSRF): say so in the row
  // instead of leaving the button looking as if nothing happened.
  function failed(event) {
    const row = event.detail && event.detail.target;
    const cell = row && row.querySelector ? row.querySelector("td.dp-act") : null;
    const page = document.querySelector("[data-act-error]");
    if (!cell || !page) return;
    let box = cell.querySelector(".dp-error");
    if (!box) {
      box = document.createElement("p");
      box.className = "dp-error";
      box.setAttribute("role", "alert");
      cell.appendChild(box);
    }
    box.textContent = page.dataset.actError;
  }
  document.addEventListener("htmx:responseError", failed);
  document.addEventListener("htmx:sendError", failed);

  // After htmx swapped a row, keep the keyboard where it was.
  document.addEventListener("htmx:afterSwap", function (event) {
    const old = event.detail && event.detail.target;
    const row = old && old.id ? document.getElementById(old.id) : null;
    if (row && row.matches("tr.dp-task")) row.focus();
  });
})();
