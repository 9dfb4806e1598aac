// Build nora_lab/widgets/static/viewer.js (one ES module, Niivue bundled in)
// and static/colormaps.json (the colormap names Niivue knows).
// Usage: npm ci && npm run build      (from nora_lab/widgets/js)
import { build } from 'esbuild'
import { createHash } from 'node:crypto'
import { appendFileSync, readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const out = join(here, '..', 'static')
mkdirSync(out, { recursive: true })

// The bundle records a hash of its sources; tests/widgets checks it is current.
const srcDir = join(here, 'src')
const hash = createHash('sha256')
for (const f of readdirSync(srcDir).sort()) hash.update(f).update(readFileSync(join(srcDir, f)))
hash.update(readFileSync(join(here, 'package-lock.json')))
const digest = hash.digest('hex')
const niivue = JSON.parse(readFileSync(join(here, 'node_modules/@niivue/niivue/package.json'))).version

// One patch to Niivue, applied at bundle time (the build fails if it no longer applies):
// refreshLayers() recomputes a 3-D gradient texture (a blur and a Sobel pass over every
// voxel) whenever the background changes, e.g. on every window change, although only
// gradient-lit or gradient-opacity volume rendering reads it. Compute it only then
// (setVolumeRenderIllumination / setGradientOpacity refresh the layer and so still get
// it). On a CPU renderer this is most of the time to open a 512x512x400 CT.
const GRADIENT_FROM = `    if (layer === 0) {
      this.volumeTexture = outTexture;
      this.gradientTexture = gradientGL({`
const GRADIENT_TO = `    if (layer === 0) {
      this.volumeTexture = outTexture;
    }
    if (layer === 0 && (this.gradientTextureAmount > 0 || this.opts.gradientOpacity > 0 || this.renderGradientValues)) {
      this.gradientTexture = gradientGL({`
const patchNiivue = {
  name: 'nora-niivue-patch',
  setup (b) {
    b.onLoad({ filter: /@niivue[\\/]niivue[\\/]build[\\/]niivue[\\/]index\.js$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8')
      const n = text.split(GRADIENT_FROM).length - 1
      if (n !== 1) throw new Error(`nora-niivue-patch: expected the gradient call once in ${args.path}, found ${n}; review the patch for this Niivue version`)
      return { contents: text.replace(GRADIENT_FROM, GRADIENT_TO), loader: 'js' }
    })
  }
}

const result = await build({
  metafile: true,
  plugins: [patchNiivue],
  entryPoints: [join(srcDir, 'viewer.js')],
  bundle: true,
  format: 'esm',
  minify: !process.argv.includes('--dev'),
  sourcemap: process.argv.includes('--dev') ? 'inline' : false,
  target: 'es2020',
  legalComments: 'none',
  banner: { js: `// nora_lab viewer bundle: @niivue/niivue ${niivue} (BSD-2-Clause). source-sha256: ${digest}` },
  outfile: join(out, 'viewer.js'),
  logLevel: 'warning'
})

// Licences of every npm package that ended up in the bundle.
const pkgs = new Map()
for (const input of Object.keys(result.metafile.inputs)) {
  const m = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//)
  if (m) pkgs.set(m[1], join(here, 'node_modules', m[1]))
}
let notice = 'Third-party code bundled into viewer.js (built by nora_lab/widgets/js/build.mjs)\n'
for (const [name, dir] of [...pkgs].sort()) {
  const meta = JSON.parse(readFileSync(join(dir, 'package.json')))
  const lic = readdirSync(dir).find((f) => /^(licen[cs]e|copying)/i.test(f))
  notice += `\n==== ${name} ${meta.version} (${meta.license || 'see text'})\n`
  notice += lic ? readFileSync(join(dir, lic), 'utf8') : '(no licence file shipped in the package)\n'
}
// appended to the bundle itself so the notices ship wherever the module goes
appendFileSync(join(out, 'viewer.js'), `\n/*!\n${notice.replaceAll('*/', '* /')}*/\n`)

const cmapDir = join(here, 'node_modules/@niivue/niivue/src/cmaps')
const names = readdirSync(cmapDir)
  .filter((f) => f.endsWith('.json') && !f.startsWith('_'))
  .map((f) => f.slice(0, -5))
  .sort()
writeFileSync(join(out, 'colormaps.json'), JSON.stringify(names, null, 0) + '\n')
console.log(`built static/viewer.js (niivue ${niivue}, source ${digest.slice(0, 12)}), ${names.length} colormaps`)
