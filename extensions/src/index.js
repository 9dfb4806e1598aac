// nora_lab's JupyterLab extension (built prebuilt into nora_lab/labextension; see README.md).
//
// 1. Image documents: double-clicking a .nii, .nii.gz, .mgz, .nrrd, .gii, .tck or .trk file
//    in the file browser opens it in a viewer document. The page loads the file itself from
//    the server's /files/ URL (as stored: a .nii.gz stays compressed on the wire) and draws
//    it with Niivue; no kernel is started and the contents API never sends the bytes.
// 2. "NORA desk" in the launcher: a notebook "NORA desk.ipynb" (written once, in the file
//    browser's folder) builds desktop(project) for the archive's first project and runs; the
//    study table goes to the left side panel and the viewer with its tools to a main-area
//    panel, both live views of that notebook's widgets (the notebook stays open as a tab:
//    it is their kernel).
import { ILayoutRestorer } from '@jupyterlab/application'
import { ABCWidgetFactory, DocumentWidget, TextModelFactory } from '@jupyterlab/docregistry'
import { ILauncher } from '@jupyterlab/launcher'
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser'
import { PageConfig, PathExt, URLExt } from '@jupyterlab/coreutils'
import { WidgetTracker } from '@jupyterlab/apputils'
import { LabIcon, tableRowsIcon } from '@jupyterlab/ui-components'
import { Widget } from '@lumino/widgets'
import { Niivue, SLICE_TYPE, SHOW_RENDER } from '@niivue/niivue'

const FACTORY = 'NORA viewer'
const MODEL = 'nora-image' // a model that never loads the file's content
export const FILE_TYPES = [
  { name: 'nora-nifti', displayName: 'NIfTI image', extensions: ['.nii', '.nii.gz'], kind: 'volume' },
  { name: 'nora-mgh', displayName: 'FreeSurfer MGH image', extensions: ['.mgz', '.mgh'], kind: 'volume' },
  { name: 'nora-nrrd', displayName: 'NRRD image', extensions: ['.nrrd', '.nhdr'], kind: 'volume' },
  { name: 'nora-gifti', displayName: 'GIFTI surface', extensions: ['.gii'], kind: 'mesh' },
  { name: 'nora-tracts', displayName: 'Fiber tracts', extensions: ['.tck', '.trk'], kind: 'mesh' }
]
const DESK_NOTEBOOK = 'NORA desk.ipynb'

const brainIcon = new LabIcon({
  name: 'nora:brain',
  svgstr: '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path class="jp-icon3" fill="#616161" d="M9 3a3 3 0 0 0-3 3 3 3 0 0 0-3 3c0 1 .5 2 1.3 2.5A3 3 0 0 0 6 17a3 3 0 0 0 3 3c1 0 2-.5 2.5-1.3V4.3A3 3 0 0 0 9 3zm6 0c-1 0-2 .5-2.5 1.3v14.4A3 3 0 0 0 15 20a3 3 0 0 0 3-3 3 3 0 0 0 1.7-5.5c.8-.5 1.3-1.5 1.3-2.5a3 3 0 0 0-3-3 3 3 0 0 0-3-3z"/></svg>'
})

// ------------------------------------------------------------------ image documents

class ContentlessModelFactory extends TextModelFactory {
  get name () { return MODEL }
  get contentType () { return 'file' }
  get fileFormat () { return null } // the context asks for metadata only, never the bytes
}

function fileUrl (path) {
  return URLExt.join(PageConfig.getBaseUrl(), 'files', URLExt.encodeParts(path))
}

function kindOf (path) {
  const name = PathExt.basename(path).toLowerCase()
  const ft = FILE_TYPES.find((t) => t.extensions.some((e) => name.endsWith(e)))
  return ft ? ft.kind : 'volume'
}

// One Niivue canvas showing one file: volumes in the multiplanar view (with the 3-D render),
// surfaces and tracts in 3-D. data-state on the node: loading | ready | error (for tests).
class ImageView extends Widget {
  constructor (context) {
    super()
    this.context = context
    this.addClass('nora-doc')
    this.node.dataset.state = 'loading'
    this.canvasBox = document.createElement('div')
    this.canvasBox.className = 'nora-doc-canvas'
    this.canvas = document.createElement('canvas')
    this.canvasBox.appendChild(this.canvas)
    this.info = document.createElement('div')
    this.info.className = 'nora-doc-info'
    this.info.textContent = `loading ${context.path} …`
    this.node.append(this.canvasBox, this.info)
    this.nv = null
  }

  onAfterAttach () {
    if (!this.nv) this.load().catch((e) => this.fail(e))
  }

  onResize () {
    if (this.nv) this.nv.resizeListener()
  }

  async load () {
    const path = this.context.path
    const mesh = kindOf(path) === 'mesh'
    const nv = new Niivue({
      backColor: [0, 0, 0, 1],
      crosshairColor: [1, 0.15, 0.15, 1],
      show3Dcrosshair: !mesh, // a surface or tract alone: no crosshair through it
      isResizeCanvas: true,
      logLevel: 'error',
      loadingText: '',
      dragAndDropEnabled: false,
      multiplanarShowRender: SHOW_RENDER.ALWAYS
    })
    this.nv = nv
    await nv.attachToCanvas(this.canvas)
    const item = { url: fileUrl(path), name: PathExt.basename(path) }
    const t0 = performance.now()
    if (mesh) {
      nv.setSliceType(SLICE_TYPE.RENDER)
      await nv.loadMeshes([{ ...item, rgba255: [230, 200, 160, 255] }])
      const m = nv.meshes[0]
      this.info.textContent = `${path} · ${m ? (m.pts.length / 3) : 0} points · drag: rotate, wheel: zoom`
    } else {
      nv.setSliceType(SLICE_TYPE.MULTIPLANAR)
      await nv.loadVolumes([item])
      const v = nv.volumes[0]
      const dims = v.hdr.dims.slice(1, 4).join('×')
      const mm = v.hdr.pixDims.slice(1, 4).map((x) => Math.round(x * 100) / 100).join('×')
      this.info.textContent = `${path} · ${dims} voxels of ${mm} mm · click: crosshair, wheel: slice, middle drag: window · in a notebook: Viewer(${JSON.stringify(path)})`
      this.node.dataset.dims = JSON.stringify(Array.from(v.hdr.dims.slice(1, 4)))
    }
    this.node.dataset.loadMs = String(Math.round(performance.now() - t0))
    this.node.dataset.state = 'ready'
  }

  fail (e) {
    console.error('[nora viewer document]', e)
    this.node.dataset.state = 'error'
    this.node.dataset.error = String((e && e.message) || e)
    this.info.textContent = `cannot view ${this.context.path}: ${this.node.dataset.error}`
  }

  dispose () {
    if (this.nv) {
      try {
        const ext = this.nv.gl && this.nv.gl.getExtension('WEBGL_lose_context')
        if (ext) ext.loseContext()
      } catch (e) { /* already gone */ }
      this.nv = null
    }
    super.dispose()
  }
}

class ImageFactory extends ABCWidgetFactory {
  createNewWidget (context) {
    const content = new ImageView(context)
    const widget = new DocumentWidget({ content, context })
    widget.title.icon = brainIcon
    widget.addClass('nora-doc-widget')
    return widget
  }
}

// ------------------------------------------------------------------ the desk

function deskNotebook () {
  const code = (src) => ({ cell_type: 'code', metadata: {}, execution_count: null, outputs: [], source: src })
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' } },
    cells: [
      {
        cell_type: 'markdown',
        metadata: {},
        source: '# NORA desk\nOpened from the launcher: the study table is in the left side panel, the viewer and the tools in their own panel. Both are views of the widgets made here: keep this notebook open (it is their kernel). Change the project below and run again.'
      },
      code('from nora_lab.archive import Archive\nfrom nora_lab.widgets import desktop\n\narchive = Archive.open()\nproject = archive.project(archive.projects()["name"].iloc[0])\ndesk = desktop(project, height=560)\nbar, upload, main, state, tools = desk.children'),
      code('desk.table'),
      code('import ipywidgets as W\n\nW.VBox([bar, desk.viewer, state, tools])')
    ]
  }
}

// The study table needs a wider side panel than JupyterLab's default. LabShell has no public
// setter for it: its split panel's relative sizes (left, main, right) are set when found.
function widenLeftArea (shell, fraction) {
  const split = shell._hsplitPanel
  if (!split || typeof split.relativeSizes !== 'function') return
  const sizes = split.relativeSizes()
  if (sizes.length !== 3 || sizes[0] >= fraction) return
  split.setRelativeSizes([fraction, Math.max(0.2, sizes[1] + sizes[0] - fraction), sizes[2]])
}

async function openDesk (app, browser) {
  // a desk opened before gives its panels up (the notebook reruns and makes new ones)
  for (const area of ['left', 'main']) {
    for (const w of Array.from(app.shell.widgets(area))) {
      if (w.hasClass('nora-desk-side') || w.hasClass('nora-desk-main')) w.dispose()
    }
  }
  const contents = app.serviceManager.contents
  const dir = browser ? browser.model.path : ''
  const path = PathExt.join(dir, DESK_NOTEBOOK)
  try {
    await contents.get(path, { content: false })
  } catch (e) {
    await contents.save(path, { type: 'notebook', format: 'json', content: deskNotebook() })
  }
  const panel = await app.commands.execute('docmanager:open', { path, factory: 'Notebook', kernel: { name: 'python3' } })
  await panel.context.ready
  await panel.sessionContext.ready
  app.shell.activateById(panel.id)
  await app.commands.execute('notebook:run-all-cells')
  const cells = panel.content.widgets
  // the outputs of cells 2 (table) and 3 (viewer and tools) as panels of their own
  const views = []
  for (const index of [2, 3]) {
    const before = new Set(Array.from(app.shell.widgets('main')).map((w) => w.id))
    await app.commands.execute('notebook:create-output-view', { path: panel.context.path, index })
    const view = Array.from(app.shell.widgets('main')).find((w) => !before.has(w.id))
    if (!view) throw new Error(`NORA desk: no output view for cell ${index} of ${path}`)
    views.push(view)
  }
  const [table, viewer] = views
  table.title.icon = tableRowsIcon
  table.title.caption = table.title.label = 'NORA studies'
  table.addClass('nora-desk-side')
  app.shell.add(table, 'left', { rank: 50 })
  app.shell.activateById(table.id)
  widenLeftArea(app.shell, 0.34)
  viewer.title.icon = brainIcon
  viewer.title.label = 'NORA desk'
  viewer.addClass('nora-desk-main')
  app.shell.add(viewer, 'main', { mode: 'tab-after', ref: panel.id })
  app.shell.activateById(viewer.id)
  return { panel, table, viewer, cells: cells.length }
}

// ------------------------------------------------------------------ the plugin

const plugin = {
  id: 'nora-lab-jupyterlab:plugin',
  description: 'NORA image documents (double-click an image) and the NORA desk launcher item',
  autoStart: true,
  optional: [ILauncher, ILayoutRestorer, IDefaultFileBrowser],
  activate: (app, launcher, restorer, browser) => {
    const registry = app.docRegistry
    registry.addModelFactory(new ContentlessModelFactory())
    for (const ft of FILE_TYPES) {
      registry.addFileType({
        name: ft.name,
        displayName: ft.displayName,
        extensions: ft.extensions,
        mimeTypes: ['application/octet-stream'],
        contentType: 'file',
        fileFormat: null,
        icon: brainIcon
      })
    }
    const factory = new ImageFactory({
      name: FACTORY,
      label: 'NORA viewer',
      modelName: MODEL,
      fileTypes: FILE_TYPES.map((t) => t.name),
      defaultFor: FILE_TYPES.map((t) => t.name),
      readOnly: true
    })
    registry.addWidgetFactory(factory)
    const tracker = new WidgetTracker({ namespace: 'nora-viewer' })
    factory.widgetCreated.connect((_, widget) => {
      widget.context.pathChanged.connect(() => tracker.save(widget))
      void tracker.add(widget)
    })
    if (restorer) {
      void restorer.restore(tracker, {
        command: 'docmanager:open',
        args: (w) => ({ path: w.context.path, factory: FACTORY }),
        name: (w) => w.context.path
      })
    }

    app.commands.addCommand('nora:open-desk', {
      label: 'NORA desk',
      caption: 'The study table, the viewer and the tools of the archive\'s first project',
      icon: brainIcon,
      execute: () => openDesk(app, browser)
    })
    if (launcher) launcher.add({ command: 'nora:open-desk', category: 'Other', rank: 0 })
  }
}

export default plugin
