// nora_lab Gridstats: the page of nora_lab/widgets/gridstats.py (plain DOM).

function h(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(e.dataset, v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat()) if (kid !== null && kid !== undefined)
    e.append(kid instanceof Node ? kid : String(kid));
  return e;
}

const STATES = { q: "queued", r: "running", e: "error", d: "done", k: "killed" };
const COLORS = { q: "#999", r: "#2a7ae2", e: "#d33", d: "#2a2", k: "#a60" };
const SHOWN = ["id", "unit", "batch", "state", "attempts", "user", "submitted", "ended", "worker", "error"];
const CSS = `
.nora-gridstats { font: 12px sans-serif; }
.nora-gridstats table { border-collapse: collapse; width: 100%; }
.nora-gridstats td, .nora-gridstats th { border: 1px solid #ddd; padding: 1px 4px; text-align: left; max-width: 28em; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.nora-gridstats th { cursor: pointer; background: #f4f4f4; }
.nora-gridstats tr.selected td { background: #fff4c0; }
.nora-gridstats .badge { display: inline-block; min-width: 1.2em; text-align: center; color: #fff; border-radius: 3px; }
.nora-gridstats pre { max-height: 20em; overflow: auto; background: #f8f8f8; margin: 2px 0; }
.nora-gridstats .error { color: #b00; white-space: pre-wrap; }
`;

function render({ model, el }) {
  const send = (action, extra = {}) => model.send({ action, ...extra });
  el.classList.add("nora-gridstats");
  el.append(h("style", {}, CSS));
  const checked = new Set();
  const filterBar = h("div", { class: "nora-gs-filters" });
  for (const key of ["user", "batch", "state", "study"]) {
    const input = h("input", { size: key === "state" ? 4 : 12, placeholder: key === "state" ? "e r q d k" : key, dataset: { filter: key } });
    input.value = (model.get("filters") || {})[key] || "";
    input.addEventListener("change", () => { model.set("filters", { ...model.get("filters"), [key]: input.value }); model.save_changes(); });
    filterBar.append(key, " ", input, " ");
  }
  const live = h("input", { type: "checkbox", class: "nora-gs-live" });
  live.checked = model.get("live");
  live.addEventListener("change", () => { model.set("live", live.checked); model.save_changes(); });
  const ids = () => [...checked];
  filterBar.append(h("label", {}, live, "live"), " ",
    h("button", { class: "nora-gs-refresh", onclick: () => send("refresh") }, "refresh"),
    h("button", { class: "nora-gs-kill", onclick: () => send("kill", { ids: ids() }) }, "kill"),
    h("button", { class: "nora-gs-suspend", title: model.get("suspend_note"), onclick: () => send("suspend", { ids: ids() }) }, "suspend"),
    h("button", { class: "nora-gs-rerun", title: "launch the batch again on its studies in error (JOB:e)",
      onclick: () => { const r = model.get("rows").find((x) => x.id === model.get("selected_job")) || model.get("rows").find((x) => x.state === "e");
        if (r) send("rerun", { batch: r.batch }); } }, "rerun errors"));
  const table = h("table", { class: "nora-gs-table" });
  const detail = h("div", { class: "nora-gs-detail" });
  const info = h("div");
  el.append(filterBar, info, table, detail);

  function drawTable() {
    const rows = model.get("rows");
    const sort = model.get("sort"), desc = model.get("descending");
    const head = h("tr", {}, h("th", {}, ""), SHOWN.map((c) => h("th", { dataset: { col: c },
      onclick: () => { if (sort === c) model.set("descending", !desc); else model.set("sort", c); model.save_changes(); } },
      c + (sort === c ? (desc ? " ▼" : " ▲") : ""))));
    const body = rows.map((r) => {
      const box = h("input", { type: "checkbox", checked: checked.has(r.id) });
      box.addEventListener("click", (ev) => { ev.stopPropagation(); box.checked ? checked.add(r.id) : checked.delete(r.id); });
      return h("tr", { class: r.id === model.get("selected_job") ? "selected" : null, dataset: { id: r.id, state: r.state, unit: r.unit },
        onclick: () => send("select", { id: r.id }) },
        h("td", {}, box), SHOWN.map((c) => c === "state"
          ? h("td", {}, h("span", { class: "badge", style: `background:${COLORS[r.state] || "#777"}`, title: STATES[r.state] }, r.state))
          : h("td", { title: r[c] ?? "" }, r[c] ?? "")));
    });
    table.replaceChildren(head, ...body);
    info.textContent = `${rows.length} of ${model.get("total")} jobs`;
    el.dataset.rows = rows.length;
    el.dataset.states = rows.map((r) => r.state).join("");
  }
  function drawDetail() {
    const job = model.get("selected_job") >= 0 ? [
      h("b", {}, `job ${model.get("selected_job")} — ${model.get("selected_study")}`),
      h("details", {}, h("summary", {}, "JSON"), h("pre", { class: "nora-gs-json" }, model.get("job_json"))),
      h("pre", { class: "nora-gs-log" }, model.get("log"))] : [];
    detail.replaceChildren(
      h("div", { class: "error" }, model.get("error")),
      h("div", { class: "nora-gs-status" }, model.get("status")), ...job);
    el.dataset.selected = model.get("selected_job");
  }
  for (const tr of ["rows", "sort", "descending", "total", "selected_job"]) model.on(`change:${tr}`, drawTable);
  for (const tr of ["log", "job_json", "selected_job", "status", "error"]) model.on(`change:${tr}`, drawDetail);
  model.on("change:live", () => { live.checked = model.get("live"); });
  drawTable();
  drawDetail();
}

export default { render };
