// The viewer's anywidget module as every Viewer carries it: a loader of ~2 KB. The real
// module (static/viewer.js, Niivue bundled, 2.3 MB) is loaded once per page: imported over
// HTTP from the Jupyter server that serves the page (nora/static/viewer-<hash>.js, the
// nora_lab server extension; gzipped, cached by the browser), else asked from the kernel
// ({type: 'esm'} -> the gzipped bundle as one binary buffer), inflated by the browser's
// DecompressionStream and imported from a blob: URL; every later Viewer of the page, of
// any kernel, reuses it. __BUNDLE_HASH__ (the bundle's source hash) is filled in by
// nora_lab/widgets/viewer.py, so two versions of the bundle never mix.
const HASH = '__BUNDLE_HASH__'
const KEY = Symbol.for('nora_lab.viewer.' + HASH)

// the page's Jupyter server (JupyterLab and Notebook 7 pages hold their config as JSON)
function serverModuleUrl () {
  const el = globalThis.document && document.getElementById('jupyter-config-data')
  if (!el) return null
  try {
    const base = JSON.parse(el.textContent).baseUrl || '/'
    return new URL(base.replace(/\/?$/, '/') + 'nora/static/viewer-' + HASH + '.js',
      location.origin).href
  } catch (e) {
    return null
  }
}

function fromKernel (model) {
  return new Promise((resolve, reject) => {
    const onMsg = (msg, buffers) => {
      if (!msg || msg.type !== 'esm') return
      model.off('msg:custom', onMsg)
      const dv = buffers[0]
      const bytes = new Uint8Array(dv.buffer, dv.byteOffset, dv.byteLength)
      const code = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'))
      new Response(code).blob()
        .then((b) => import(URL.createObjectURL(new Blob([b], { type: 'text/javascript' }))))
        .then((m) => resolve(m.default), reject)
    }
    model.on('msg:custom', onMsg)
    model.send({ type: 'esm' })
  })
}

function load (model) {
  if (!globalThis[KEY]) {
    const url = serverModuleUrl()
    const fromServer = url
      ? import(/* webpackIgnore: true */ url).then((m) => m.default)
      : Promise.reject(new Error('not a Jupyter server page'))
    globalThis[KEY] = fromServer.catch(() => fromKernel(model))
    globalThis[KEY].catch(() => { delete globalThis[KEY] }) // let the next Viewer try again
  }
  return globalThis[KEY]
}

// The kernel's answer cannot reach a model before anywidget has finished initializing it,
// so the module is asked for in render(); the real initialize() runs once per model then,
// with the model handle of initialize() (its listeners live as long as the model).
const MODELS = new Map() // _uid -> {model, init: Promise | null, cleanup}

export default {
  initialize ({ model }) {
    const uid = model.get('_uid')
    const entry = { model, init: null, cleanup: null }
    MODELS.set(uid, entry)
    return () => {
      MODELS.delete(uid)
      if (typeof entry.cleanup === 'function') entry.cleanup()
    }
  },
  async render ({ model, el }) {
    const widget = await load(model)
    const entry = MODELS.get(model.get('_uid'))
    if (entry && !entry.init) {
      entry.init = Promise.resolve(widget.initialize({ model: entry.model })).then((c) => { entry.cleanup = c })
    }
    if (entry) await entry.init
    return widget.render({ model, el })
  }
}
