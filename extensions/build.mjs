// Build the prebuilt labextension into ../nora_lab/labextension (shipped in the wheel) and
// stamp it with a hash of the sources, which tests/widgets/test_labextension.py checks.
// Usage (from extensions/): npm ci && npm run build
//   JupyterLab's staging folder (the core the extension builds against) is found through
//   ../.venv/bin/python, or $PYTHON, or $JUPYTERLAB_STAGING.
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const out = join(here, '..', 'nora_lab', 'labextension')
const python = process.env.PYTHON || join(here, '..', '.venv', 'bin', 'python')
const staging = process.env.JUPYTERLAB_STAGING || execFileSync(python, ['-c',
  'import jupyterlab, os; print(os.path.join(os.path.dirname(jupyterlab.__file__), "staging"))'
]).toString().trim()
execFileSync(process.execPath, [join(here, 'node_modules', '@jupyterlab', 'builder', 'lib', 'build-labextension.js'),
  '--core-path', staging, here], { stdio: 'inherit' })

// the same hash test_labextension.py computes: every file of src/ and style/, package.json
// and package-lock.json, in sorted order, each as its path then its bytes
export function sourceHash (root) {
  const hash = createHash('sha256')
  const files = ['package.json', 'package-lock.json']
  for (const dir of ['src', 'style']) for (const f of readdirSync(join(root, dir))) files.push(`${dir}/${f}`)
  for (const f of files.sort()) hash.update(f).update(readFileSync(join(root, f)))
  return hash.digest('hex')
}
const digest = sourceHash(here)
writeFileSync(join(out, 'build.json'), JSON.stringify({ source_sha256: digest }, null, 1) + '\n')
console.log(`built nora_lab/labextension (source ${digest.slice(0, 12)})`)
