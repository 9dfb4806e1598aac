// nora_lab's upload drop zone (nora_lab/widgets/upload.py). Plain DOM, no bundle.
// Dropped files go straight to the server extension's REST import (POST nora/api/import),
// with the browser's upload progress; the job is then polled until done. Drops onto a row
// of the desk's study table (tr[data-psid]) go to that row's subject. Every change of a
// job is mirrored into the `jobs` trait; a finished job is told to Python ({type: finished}).

const CSS = `
.nora-upload { font: 13px sans-serif; border: 2px dashed #9ab; border-radius: 6px;
  padding: 6px 10px; margin: 4px 0; color: #345; }
.nora-upload.nora-drag, .nora-desk tr.nora-drop-target { background: #e6f2ff; outline: 2px dashed #58c; }
.nora-upload .nora-upload-job { display: grid; grid-template-columns: 1fr 140px; gap: 2px 8px;
  border-top: 1px solid #ddd; padding: 3px 0; }
.nora-upload .nora-upload-job[data-state=failed], .nora-upload .nora-upload-job[data-state=refused] { color: #b00; }
.nora-upload .nora-upload-msg { grid-column: 1 / 3; white-space: pre-wrap; font-family: monospace; font-size: 12px; }
.nora-upload progress { width: 140px; }
`;

function config() {
  const node = document.getElementById("jupyter-config-data");
  let cfg = {};
  try { cfg = node ? JSON.parse(node.textContent) : {}; } catch (e) { cfg = {}; }
  const base = (cfg.baseUrl || "/").replace(/\/?$/, "/");
  const xsrf = (document.cookie.match(/(?:^|;\s*)_xsrf=([^;]+)/) || [])[1] || "";
  return { base, token: cfg.token || "", xsrf: decodeURIComponent(xsrf) };
}

// Does a zip hold dataset_description.json at its top (or in its one top folder)?
// Reads only the zip's central directory.
async function isBidsZip(file) {
  const tail = new DataView(await file.slice(Math.max(0, file.size - 65557)).arrayBuffer());
  let eocd = -1;
  for (let i = tail.byteLength - 22; i >= 0; i--) if (tail.getUint32(i, true) === 0x06054b50) { eocd = i; break; }
  if (eocd < 0) return false;
  const size = tail.getUint32(eocd + 12, true), offset = tail.getUint32(eocd + 16, true);
  const cd = new DataView(await file.slice(offset, offset + size).arrayBuffer());
  const dec = new TextDecoder();
  for (let p = 0; p + 46 <= cd.byteLength && cd.getUint32(p, true) === 0x02014b50;) {
    const n = cd.getUint16(p + 28, true), x = cd.getUint16(p + 30, true), c = cd.getUint16(p + 32, true);
    const name = dec.decode(new Uint8Array(cd.buffer, cd.byteOffset + p + 46, n));
    const parts = name.split("/");
    if (parts[parts.length - 1] === "dataset_description.json" && parts.length <= 2) return true;
    p += 46 + n + x + c;
  }
  return false;
}

function kindOf(name) {
  if (/\.nii(\.gz)?$/i.test(name)) return "nifti";
  if (/\.zip$/i.test(name)) return "zip";
  return "";
}

function render({ model, el }) {
  el.classList.add("nora-upload");
  el.append(Object.assign(document.createElement("style"), { textContent: CSS }));
  const hint = document.createElement("div");
  hint.className = "nora-upload-hint";
  hint.textContent = `⇪ Drop DICOM zips, NIfTI files or a BIDS zip here (into project ${model.get("project")}) or onto a subject's row of the table`;
  const list = document.createElement("div");
  list.className = "nora-upload-jobs";
  el.append(hint, list);
  const jobs = [];

  function publish(job, finished) {
    model.set("jobs", jobs.map((j) => ({ ...j.state })));
    model.save_changes();
    if (finished) model.send({ type: "finished", job: { ...job.state } });
  }

  function show(job) {
    const s = job.state;
    job.row.dataset.state = s.state;
    job.title.textContent = `${s.name} → ${s.target} (${s.kind})`;
    job.bar.value = s.progress;
    job.status.textContent = s.state;
    const lines = [s.message || ""];
    for (const r of s.series || []) lines.push(`${r.status}\t${r.psid}/${r.series}${r.problems && r.problems.length ? "  " + r.problems.join("; ") : ""}`);
    if (!(s.series || []).length && (s.files || []).length) lines.push(...s.files.slice(0, 20));
    job.msg.textContent = lines.filter(Boolean).join("\n");
  }

  async function upload(file, subject) {
    const guess = kindOf(file.name);
    const state = { name: file.name, kind: guess || "?", target: subject ? `subject ${subject}` : `project ${model.get("project")}`,
      state: "uploading", progress: 0, message: "", studies: [], files: [], series: [] };
    const row = document.createElement("div");
    row.className = "nora-upload-job";
    const title = document.createElement("span"), bar = document.createElement("progress"), status = document.createElement("span"), msg = document.createElement("div");
    bar.max = 1;
    msg.className = "nora-upload-msg";
    row.append(title, bar, status, msg);
    list.append(row);
    const job = { state, row, title, bar, status, msg };
    jobs.push(job);
    const finish = (st, message) => { Object.assign(state, { state: st, message }); show(job); publish(job, true); };
    if (!guess) return finish("refused", `${file.name}: not a .zip, .nii or .nii.gz`);
    state.kind = guess === "zip" ? ((await isBidsZip(file)) ? "bids" : "dicom") : guess;
    if (state.kind === "nifti" && !subject) return finish("refused", `${file.name}: a NIfTI file goes to a subject: drop it onto a subject's row`);
    show(job); publish(job, false);
    const { base, token, xsrf } = config();
    const q = new URLSearchParams({ project: model.get("project") });
    if (subject) q.set("patients_id", subject);
    if (state.kind !== "dicom") q.set("kind", state.kind);
    if (state.kind === "nifti") q.set("name", file.name);
    const headers = { "X-XSRFToken": xsrf };
    if (token) headers.Authorization = `token ${token}`;
    const answer = await new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", `${base}nora/api/import?${q}`);
      for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
      xhr.setRequestHeader("Content-Type", state.kind === "nifti" ? "application/octet-stream" : "application/zip");
      xhr.upload.onprogress = (e) => { if (e.lengthComputable) { state.progress = e.loaded / e.total; show(job); } };
      xhr.onload = () => { let body = {}; try { body = JSON.parse(xhr.responseText); } catch (e) { body = { message: xhr.responseText }; } resolve({ status: xhr.status, body }); };
      xhr.onerror = () => resolve({ status: 0, body: { message: "the upload was cut off (network error)" } });
      xhr.send(file);
    });
    if (answer.status !== 202) return finish("refused", `HTTP ${answer.status}: ${answer.body.message || ""}`);
    state.progress = 1;
    let st = answer.body;
    while (!["done", "failed"].includes(st.state)) {
      Object.assign(state, { state: st.state }); show(job); publish(job, false);
      await new Promise((r) => setTimeout(r, 400));
      const resp = await fetch(`${base}nora/api/import/${st.id}`, { headers, credentials: "same-origin" });
      st = await resp.json();
      if (!resp.ok) return finish("failed", st.message || `HTTP ${resp.status}`);
    }
    Object.assign(state, { studies: st.studies || [], files: st.files || [], series: st.series || [] });
    finish(st.state, st.message || "");
  }

  // drop targets: this strip (the project) and the desk's table rows (their subject)
  const targetRow = (e) => (e.target instanceof Element ? e.target.closest("tr[data-psid]") : null);
  let marked = null;
  const mark = (tr) => { if (marked && marked !== tr) marked.classList.remove("nora-drop-target"); marked = tr; if (tr) tr.classList.add("nora-drop-target"); };
  const over = (e) => {
    if (!e.dataTransfer || ![...e.dataTransfer.types].includes("Files")) return;
    const tr = targetRow(e);
    if (!tr && !el.contains(e.target)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "copy";
    mark(tr);
    el.classList.toggle("nora-drag", !tr);
  };
  const leave = () => { mark(null); el.classList.remove("nora-drag"); };
  const drop = (e) => {
    const tr = targetRow(e);
    if (!tr && !el.contains(e.target)) return;
    e.preventDefault();
    e.stopPropagation();
    leave();
    const subject = tr ? tr.dataset.psid.split("#")[0] : "";
    for (const file of e.dataTransfer.files) upload(file, subject);
  };
  let desk = null, timer = 0;
  const attach = () => {  // the desk is known once the strip is in the page
    if (!el.isConnected) { timer = setTimeout(attach, 100); return; }
    desk = el.closest(".nora-desk") || el;
    desk.addEventListener("dragover", over);
    desk.addEventListener("dragleave", leave);
    desk.addEventListener("drop", drop);
    el.dataset.ready = "1";
  };
  attach();
  return () => {
    clearTimeout(timer);
    if (desk) { desk.removeEventListener("dragover", over); desk.removeEventListener("dragleave", leave); desk.removeEventListener("drop", drop); }
  };
}

export default { render };
