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

const result = await build({
  metafile: true,
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
