// nora_lab BatchTool: the page of nora_lab/widgets/batchtool.py (plain DOM, no bundle).
// Every action is a message {action, ...} to Python; the page only redraws from traits.

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

const CSS = `
.nora-batchtool { font: 13px sans-serif; display: grid; gap: 6px; }
.nora-batchtool fieldset { border: 1px solid #bbb; padding: 4px 8px; }
.nora-batchtool textarea { width: 100%; font-family: monospace; min-height: 3em; }
.nora-batchtool table { border-collapse: collapse; }
.nora-batchtool td, .nora-batchtool th { border: 1px solid #ddd; padding: 1px 4px; text-align: left; vertical-align: top; }
.nora-batchtool .missing { background: #fdd; }
.nora-batchtool .error { color: #b00; white-space: pre-wrap; }
.nora-batchtool .status { white-space: pre-wrap; font-family: monospace; max-height: 16em; overflow: auto; }
`;

function render({ model, el }) {
  const send = (action, extra = {}) => model.send({ action, ...extra });
  el.classList.add("nora-batchtool");
  el.append(h("style", {}, CSS));
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

export default { render };
