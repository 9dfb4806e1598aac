// nora_lab PACS query: the page of nora_lab/widgets/pacsquery.py (plain DOM).

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

const FIELDS = [
  ["patient_name", "patient name", "Doe^J*"], ["patient_id", "ID", ""],
  ["birth_date", "birth date", "19700131"], ["study_date", "study date", "2020 or 20200101-20201231"],
  ["modality", "modality", "MR"], ["study_description", "description", "*head*"],
];
const CSS = `
.nora-pacsquery { font: 12px sans-serif; display: grid; gap: 6px; }
.nora-pacsquery table { border-collapse: collapse; }
.nora-pacsquery td, .nora-pacsquery th { border: 1px solid #ddd; padding: 1px 4px; text-align: left; }
.nora-pacsquery tr.hl td { background: #e3f0ff; }
.nora-pacsquery tr.in-project td { color: #777; }
.nora-pacsquery .error { color: #b00; white-space: pre-wrap; }
.nora-pacsquery progress { width: 20em; }
`;

function render({ model, el }) {
  const send = (action, extra = {}) => model.send({ action, ...extra });
  el.classList.add("nora-pacsquery");
  el.append(h("style", {}, CSS));
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

export default { render };
