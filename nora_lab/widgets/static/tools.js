// nora_lab's processing tools: the pages of nora_lab/widgets/batchtool.py, gridstats.py and
// pacsquery.py (plain DOM, no bundle). Each widget names its page in the `_tool` trait; every
// action is a message {action, ...} to Python, and the page only redraws from traits.

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

// ---------------------------------------------------------------- batchtool

const BT_CSS = `
.nora-batchtool { font: 13px sans-serif; display: grid; gap: 6px; }
.nora-batchtool fieldset { border: 1px solid #bbb; padding: 4px 8px; }
.nora-batchtool textarea { width: 100%; font-family: monospace; min-height: 3em; }
.nora-batchtool table { border-collapse: collapse; }
.nora-batchtool td, .nora-batchtool th { border: 1px solid #ddd; padding: 1px 4px; text-align: left; vertical-align: top; }
.nora-batchtool .missing { background: #fdd; }
.nora-batchtool .error { color: #b00; white-space: pre-wrap; }
.nora-batchtool .status { white-space: pre-wrap; font-family: monospace; max-height: 16em; overflow: auto; }
`;

function render_batchtool({ model, el }) {
  const send = (action, extra = {}) => model.send({ action, ...extra });
  el.classList.add("nora-batchtool");
  el.append(h("style", {}, BT_CSS));
  const body = h("div");
  el.append(body);

  function header() {
    const tpl = h("select", { class: "nora-bt-template" },
      model.get("templates").map((t) => h("option", { value: t.type === "builtin" ? t.job : t.type, title: t.description || "" }, t.label)));
    const saved = h("select", { class: "nora-bt-saved" }, h("option", { value: "" }, "— saved batches —"),
      model.get("saved").map((n) => h("option", { value: n }, n)));
    const bind = (trait, e) => { e.value = model.get(trait); e.addEventListener("change", () => { model.set(trait, e.value); model.save_changes(); }); return e; };
    const options = (xs) => xs.map((x) => h("option", { value: x }, x));
    return h("fieldset", {}, h("legend", {}, "Batch"),
      "name ", bind("name", h("input", { class: "nora-bt-name", size: 14 })), " level ",
      bind("level", h("select", { class: "nora-bt-level" }, options(["study", "subject"]))), " backend ",
      bind("backend", h("select", { class: "nora-bt-backend" }, options(["local", "slurm", "sge"]))), " queue ",
      bind("queue", h("input", { class: "nora-bt-queue", size: 10, list: "nora-bt-queues" })),
      h("datalist", { id: "nora-bt-queues" }, options(model.get("queues"))),
      h("br"), tpl, h("button", { class: "nora-bt-add", onclick: () => send("add_job", { kind: tpl.value }) }, "add job"),
      " ", saved, h("button", { class: "nora-bt-load", onclick: () => saved.value && send("load", { name: saved.value }) }, "load"),
      h("button", { class: "nora-bt-save", onclick: () => send("save") }, "save"));
  }

  function jobView(job, i) {
    const rows = Object.entries(job.args || {}).map(([name, a]) => {
      const input = a.kind === "OPTION" && (a.options || []).length
        ? h("select", {}, a.options.map((o) => h("option", { value: o, selected: o === a.value }, o)))
        : h("input", { size: 40, value: a.value ?? "", placeholder: a.kind === "FILE" ? "t1*/s0*.nii" : a.kind === "OUT" ? "derived/out.nii TAG(x)" : "" });
      input.dataset.arg = name;
      input.addEventListener("change", () => send("set_arg", { index: i, name, value: input.value }));
      return h("tr", {}, h("td", {}, name), h("td", {}, a.kind), h("td", {}, input));
    });
    let script = null;
    if (job.type === "bash" || job.type === "python") {
      script = h("textarea", { class: "nora-bt-script", placeholder: job.type === "bash" ? "cp $f1 $o1" : "open($o1, 'w').write(open($f1).read())" });
      script.value = job.script || "";
      let timer = null;  // arguments follow the script as it is typed
      script.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => send("set_script", { index: i, script: script.value }), 300); });
    }
    return h("fieldset", { class: "nora-bt-job", dataset: { index: i, type: job.type } },
      h("legend", {}, `${i + 1}. ${job.type === "builtin" ? job.job : job.type.toUpperCase()}`),
      h("button", { onclick: () => send("move_job", { index: i, delta: -1 }) }, "↑"),
      h("button", { onclick: () => send("move_job", { index: i, delta: 1 }) }, "↓"),
      h("button", { onclick: () => send("remove_job", { index: i }) }, "✕"),
      script, h("table", { class: "nora-bt-args" }, rows));
  }

  function scopeSelect() {
    const s = h("select", { class: "nora-bt-scope", title: "with a study table: the studies its filters match, or its selected study" },
      ["filtered", "selected"].map((x) => h("option", { value: x, selected: x === model.get("scope") }, x === "filtered" ? "studies in the table" : "selected study")));
    s.addEventListener("change", () => { model.set("scope", s.value); model.save_changes(); });
    return s;
  }

  function previewView() {
    const rows = model.get("preview");
    const keys = [...new Set(rows.flatMap((r) => Object.keys(r.files)))];
    const failing = rows.filter((r) => r.missing.length).length;
    return h("fieldset", { class: "nora-bt-preview" },
      h("legend", {}, `Studies: ${model.get("studies").length} selected, ${failing} resolve to nothing`),
      scopeSelect(), h("button", { class: "nora-bt-refresh", onclick: () => send("refresh") }, "take selection"),
      h("table", {}, h("tr", {}, h("th", {}, "study"), keys.map((k) => h("th", {}, k))),
        rows.map((r) => h("tr", { dataset: { psid: r.psid }, class: r.missing.length ? "missing" : null },
          h("td", {}, r.psid), keys.map((k) => h("td", { title: r.error || "" }, (r.files[k] || []).join(" ") || "— nothing —"))))));
  }

  function runView() {
    const counts = model.get("run_counts");
    const errs = model.get("run_errors");
    const link = model.get("debug_link");
    return h("fieldset", { class: "nora-bt-run" }, h("legend", {}, "Run"),
      h("button", { class: "nora-bt-dry", onclick: () => send("dry_run") }, "dry run"),
      h("button", { class: "nora-bt-launch", onclick: () => send("launch") }, "launch"),
      h("span", { class: "nora-bt-counts", dataset: { run: model.get("run_id") } },
        " ", Object.entries(counts).map(([k, v]) => `${k}: ${v}`).join("  ")),
      errs.length ? h("div", {}, "errors: ", errs.map((p) =>
        h("button", { class: "nora-bt-debug", dataset: { psid: p }, onclick: () => send("debug", { psid: p }) }, `debug ${p}`))) : null,
      link ? h("div", {}, h("a", { class: "nora-bt-debug-link", href: new URL(link, location.href).href, target: "_blank" }, link),
        " ", h("code", {}, model.get("debug_path"))) : null,
      h("div", { class: "error" }, model.get("error")),
      h("div", { class: "status" }, model.get("status")));
  }

  function draw() {
    body.replaceChildren(header(), ...model.get("jobs").map(jobView), previewView(), runView());
    el.dataset.jobs = model.get("jobs").length;
    el.dataset.run = model.get("run_id");
  }
  // a redraw would replace a textarea being typed in: keep focus and caret
  function redraw() {
    const a = document.activeElement;
    const inside = a && el.contains(a) && a.classList.contains("nora-bt-script");
    const idx = inside ? a.closest(".nora-bt-job").dataset.index : null;
    const pos = inside ? a.selectionStart : 0;
    draw();
    if (inside) {
      const t = el.querySelector(`.nora-bt-job[data-index="${idx}"] .nora-bt-script`);
      if (t) { t.focus(); t.setSelectionRange(pos, pos); }
    }
  }
  for (const trait of ["templates", "jobs", "saved", "studies", "preview", "run_id", "run_counts",
    "run_errors", "status", "error", "debug_link", "name", "level", "backend", "queue"])
    model.on(`change:${trait}`, redraw);
  draw();
}

// ---------------------------------------------------------------- gridstats

const STATES = { q: "queued", r: "running", e: "error", d: "done", k: "killed" };
const COLORS = { q: "#999", r: "#2a7ae2", e: "#d33", d: "#2a2", k: "#a60" };
const SHOWN = ["id", "unit", "batch", "state", "attempts", "user", "submitted", "ended", "worker", "error"];
const GS_CSS = `
.nora-gridstats { font: 12px sans-serif; }
.nora-gridstats table { border-collapse: collapse; width: 100%; }
.nora-gridstats td, .nora-gridstats th { border: 1px solid #ddd; padding: 1px 4px; text-align: left; max-width: 28em; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.nora-gridstats th { cursor: pointer; background: #f4f4f4; }
.nora-gridstats tr.selected td { background: #fff4c0; }
.nora-gridstats .badge { display: inline-block; min-width: 1.2em; text-align: center; color: #fff; border-radius: 3px; }
.nora-gridstats pre { max-height: 20em; overflow: auto; background: #f8f8f8; margin: 2px 0; }
.nora-gridstats .error { color: #b00; white-space: pre-wrap; }
`;

function render_gridstats({ model, el }) {
  const send = (action, extra = {}) => model.send({ action, ...extra });
  el.classList.add("nora-gridstats");
  el.append(h("style", {}, GS_CSS));
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
      return h("tr", { class: r.id === model.get("selected_job") ? "selected" : null, dataset: { id: r.id, state: r.state, unit: r.unit, run: r.run },
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
  for (const tr of ["log", "job_json", "selected_job", "selected_study", "status", "error"]) model.on(`change:${tr}`, drawDetail);
  model.on("change:live", () => { live.checked = model.get("live"); });
  drawTable();
  drawDetail();
}

// ---------------------------------------------------------------- pacsquery

const FIELDS = [
  ["patient_name", "patient name", "Doe^J*"], ["patient_id", "ID", ""],
  ["birth_date", "birth date", "19700131"], ["study_date", "study date", "2020 or 20200101-20201231"],
  ["modality", "modality", "MR"], ["study_description", "description", "*head*"],
];
const PQ_CSS = `
.nora-pacsquery { font: 12px sans-serif; display: grid; gap: 6px; }
.nora-pacsquery table { border-collapse: collapse; }
.nora-pacsquery td, .nora-pacsquery th { border: 1px solid #ddd; padding: 1px 4px; text-align: left; }
.nora-pacsquery tr.hl td { background: #e3f0ff; }
.nora-pacsquery tr.in-project td { color: #777; }
.nora-pacsquery .error { color: #b00; white-space: pre-wrap; }
.nora-pacsquery progress { width: 20em; }
`;

function render_pacsquery({ model, el }) {
  const send = (action, extra = {}) => model.send({ action, ...extra });
  el.classList.add("nora-pacsquery");
  el.append(h("style", {}, PQ_CSS));
  const inputs = {};
  const form = h("form", { class: "nora-pq-form", onsubmit: (ev) => {
    ev.preventDefault();
    const values = Object.fromEntries(Object.entries(inputs).map(([k, i]) => [k, i.value]));
    model.set("form", values); model.save_changes();
    send("search", { form: values });
  } });
  for (const [key, label, ph] of FIELDS) {
    inputs[key] = h("input", { size: 14, placeholder: ph, dataset: { field: key } });
    inputs[key].value = model.get("form")[key] || "";
    form.append(label, " ", inputs[key], " ");
  }
  const node = h("select", { class: "nora-pq-node" }, model.get("nodes").map((n) => h("option", { value: n, selected: n === model.get("node") }, n)));
  node.addEventListener("change", () => { model.set("node", node.value); model.save_changes(); });
  form.append(node, " ", h("button", { type: "submit", class: "nora-pq-search" }, "search"));
  const ident = h("input", { type: "checkbox", class: "nora-pq-identity" });
  ident.addEventListener("change", () => { model.set("show_identity", ident.checked); model.save_changes(); });
  const results = h("div", { class: "nora-pq-results" });
  const bottom = h("div");
  el.append(form, h("label", { title: "only users with the identity right" }, ident, " show real names"), results, bottom);

  function toggle(trait, uid, on) {
    const cur = new Set(model.get(trait));
    on ? cur.add(uid) : cur.delete(uid);
    model.set(trait, [...cur]); model.save_changes();
  }
  function check(trait, uid) {
    const b = h("input", { type: "checkbox", checked: model.get(trait).includes(uid) });
    b.addEventListener("click", (ev) => { ev.stopPropagation(); toggle(trait, uid, b.checked); });
    return b;
  }
  function table(cls, cols, rows, extra) {
    return h("table", { class: cls }, h("tr", {}, h("th", {}, ""), cols.map((c) => h("th", {}, c[1]))),
      rows.map((r) => extra(r, cols.map((c) => h("td", {}, Array.isArray(r[c[0]]) ? r[c[0]].length : String(r[c[0]] ?? ""))))));
  }
  function draw() {
    const hl = model.get("highlight_patient");
    ident.checked = model.get("show_identity");
    ident.disabled = !model.get("can_see_identity");
    const pats = table("nora-pq-patients", [["key", ""], ["PatientName", "name"], ["PatientID", "ID"], ["PatientBirthDate", "born"], ["studies", "studies"]],
      model.get("patients"), (r, tds) => h("tr", { class: r.key === hl ? "hl" : null, dataset: { key: r.key }, onclick: () => send("patient", { key: r.key }) }, h("td", {}, "▸"), tds));
    const studies = table("nora-pq-studies", [["key", "patient"], ["StudyDate", "date"], ["StudyDescription", "description"], ["modalities", "mod."], ["series", "series"], ["instances", "images"], ["in_project", "in project"]],
      model.get("studies"), (r, tds) => h("tr", { class: [r.key === hl ? "hl" : "", r.in_project ? "in-project" : ""].join(" "), dataset: { uid: r.StudyInstanceUID, key: r.key } },
        h("td", {}, check("selected_studies", r.StudyInstanceUID)), tds));
    const seqs = table("nora-pq-sequences", [["Modality", "mod."], ["SeriesDescription", "sequence"], ["in_studies", "in studies"], ["in_patients", "in patients"], ["instances", "images"]],
      model.get("sequences"), (r, tds) => h("tr", { class: hl && model.get("studies").some((s) => s.key === hl && r.StudyInstanceUIDs.includes(s.StudyInstanceUID)) ? "hl" : null }, h("td", {}, ""), tds));
    const series = table("nora-pq-series", [["key", "patient"], ["SeriesNumber", "#"], ["Modality", "mod."], ["SeriesDescription", "description"], ["_n", "images"], ["in_archive", "here"]],
      model.get("series"), (r, tds) => h("tr", { class: r.key === hl ? "hl" : null, dataset: { uid: r.SeriesInstanceUID } }, h("td", {}, check("selected_series", r.SeriesInstanceUID)), tds));
    results.replaceChildren(h("b", {}, "Patients"), pats, h("b", {}, "Studies"), studies,
      h("details", { open: true }, h("summary", {}, "Sequences (in studies)"), seqs),
      h("details", {}, h("summary", {}, "Series"), series));
    el.dataset.patients = model.get("patients").length;
    el.dataset.studies = model.get("studies").length;
  }
  function drawBottom() {
    const p = model.get("progress");
    const pulled = model.get("pulled");
    bottom.replaceChildren(
      h("button", { class: "nora-pq-pull", disabled: p.running, onclick: () => send("pull") }, "pull selected"), " ",
      h("progress", { max: p.series_total || 1, value: p.series_done || 0 }),
      ` ${p.done || 0}/${p.total || 0} studies ${p.current ? "— " + p.current : ""}`,
      p.running && p.images_total ? ` · ${p.images || 0}/${p.images_total} images` : "",
      h("div", { class: "error" }, model.get("error")),
      h("div", { class: "nora-pq-status" }, model.get("status")),
      pulled.length ? table("nora-pq-pulled", [["psid", "in project"], ["date", "date"], ["description", "description"], ["status", "status"], ...(pulled[0].name !== undefined ? [["name", "real name"]] : [])],
        pulled, (r, tds) => h("tr", { dataset: { psid: r.psid } }, h("td", {}, ""), tds)) : null);
    el.dataset.pulled = pulled.length;
    el.dataset.running = p.running ? "1" : "0";
  }
  for (const tr of ["patients", "studies", "series", "sequences", "highlight_patient", "selected_studies", "selected_series", "show_identity", "can_see_identity"])
    model.on(`change:${tr}`, draw);
  for (const tr of ["progress", "pulled", "status", "error"]) model.on(`change:${tr}`, drawBottom);
  draw();
  drawBottom();
}

const PAGES = { batchtool: render_batchtool, gridstats: render_gridstats, pacsquery: render_pacsquery };

function render(ctx) {
  const page = PAGES[ctx.model.get("_tool")];
  if (!page) throw new Error(`nora_lab tools.js: no page ${ctx.model.get("_tool")}`);
  return page(ctx);
}

export default { render };
