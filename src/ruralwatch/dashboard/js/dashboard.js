// Page script, bundled with vega-embed by vl-convert (no imports: vegaEmbed is in scope).
// Draws the embedded Vega-Lite specs and drills down/up without a full page load: links and
// rows marked for drilling fetch the page fragment (HX-Request header, as htmx would send)
// and swap it into #content; any failure falls back to ordinary navigation.

window.vegaEmbed = vegaEmbed;
window.vega = vega;
window.vegaLite = vegaLite;

const content = () => document.getElementById("content");

async function drawCharts(root) {
  for (const el of root.querySelectorAll("[data-spec]")) {
    const source = document.getElementById(el.dataset.spec);
    if (!source) continue;
    const spec = JSON.parse(source.textContent);
    if (el.dataset.columns === "auto" && spec.columns) {
      // Small multiples: as many panels per row as the card holds (no sideways scrolling).
      const width = el.clientWidth || el.parentElement.clientWidth || 360;
      spec.columns = Math.max(1, Math.min(spec.columns, Math.floor(width / 200)));
    }
    try {
      const result = await vegaEmbed(el, spec, { actions: false, renderer: "svg" });
      result.view.addEventListener("click", (_event, item) => {
        if (item && item.datum && item.datum.url) navigate(item.datum.url, true);
      });
      el.dataset.rendered = "true";
    } catch (error) {
      el.dataset.rendered = "error";
      console.error(error);
    }
  }
}

// Parts of a page that cost more than the page (the resources and key-area panels) come
// after it: an element marked data-lazy is replaced by the fragment at its URL.
async function loadLazy(root) {
  for (const el of root.querySelectorAll("[data-lazy]")) {
    const url = el.dataset.lazy;
    delete el.dataset.lazy;
    try {
      const response = await fetch(url, {
        headers: { "HX-Request": "true" },
        credentials: "same-origin",
      });
      if (!response.ok || response.redirected) throw new Error(`${url}: ${response.status}`);
      el.innerHTML = await response.text();
      el.dataset.loaded = "true";
    } catch (error) {
      el.dataset.loaded = "error";
      console.warn(error);
    } finally {
      el.removeAttribute("aria-busy");
    }
  }
}

async function navigate(url, push) {
  const main = content();
  main.setAttribute("aria-busy", "true");
  try {
    const response = await fetch(url, {
      headers: { "HX-Request": "true" },
      credentials: "same-origin",
    });
    if (!response.ok || response.redirected) {
      window.location.assign(url);
      return;
    }
    main.innerHTML = await response.text();
    if (push) history.pushState({ drill: true }, "", url);
    const page = main.querySelector("[data-title]");
    if (page) document.title = page.dataset.title;
    for (const input of document.querySelectorAll("form.lang input[name=next]")) {
      input.value = window.location.pathname + window.location.search;
    }
    syncDatePicker();
    window.scrollTo(0, 0);
    loadLazy(main);
    await drawCharts(main);
  } catch (error) {
    console.error(error);
    window.location.assign(url);
  } finally {
    main.removeAttribute("aria-busy");
  }
}

document.addEventListener("click", (event) => {
  if (event.defaultPrevented || event.button !== 0) return;
  if (event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
  const link = event.target.closest("a[data-drill]");
  if (link) {
    event.preventDefault();
    navigate(link.href, true);
    return;
  }
  const row = event.target.closest("tr[data-href]");
  if (row && !event.target.closest("a, button")) navigate(row.dataset.href, true);
});

window.addEventListener("popstate", () => navigate(window.location.href, false));

// The site frame's date picker stays outside the swapped content (it submits to the
// document's URL): after a drill-down it must keep the new page's parameters (the indicator,
// not the page number).
function syncDatePicker() {
  const form = document.getElementById("asof-picker");
  if (!form) return;
  for (const hidden of form.querySelectorAll("input[type=hidden]")) hidden.remove();
  const params = new URLSearchParams(window.location.search);
  for (const [key, value] of params) {
    if (["date", "page", "format", "table"].includes(key)) continue;
    const input = document.createElement("input");
    input.type = "hidden";
    input.name = key;
    input.value = value;
    form.prepend(input);
  }
}

// A picker marked data-autosubmit shows its choice at once.
document.addEventListener("change", (event) => {
  const select = event.target.closest("select[data-autosubmit]");
  if (select && select.form) select.form.requestSubmit();
});

// Printing opens the evidence, so that the paper carries it.
window.addEventListener("beforeprint", () => {
  for (const details of document.querySelectorAll("details.evidence")) details.open = true;
});

// The map's measure picker: draw the chosen measure's spec (same data URL) in the map's place.
document.addEventListener("change", (event) => {
  const select = event.target.closest("select[data-map-measure]");
  if (!select) return;
  const el = document.getElementById(select.dataset.mapMeasure);
  if (!el) return;
  el.dataset.spec = "spec-map-" + select.value;
  drawCharts(el.parentElement);
});

loadLazy(document);
drawCharts(document);
