// Front end of nora_lab.widgets.StudyTable: NORA's subject/study table.
// A hand-written ES module without dependencies (no build step).
//
// Python owns the state (filters, page, rows, total, selected, files, error) and asks the
// archive; this module renders it and reports what the user did:
//   model traits: filters (typed into the bars), page, selected (row click)
//   messages:     {type: 'tag', op: 'add'|'remove', psid, tag}, {type: 'step', step: ±1},
//                 {type: 'open', psid, relpath, shift} (double-click on a file), {type: 'refresh'}
// After each render the root element carries data-seq (the model's seq it shows),
// data-rows, data-total, data-page, data-selected and data-error for headless tests.

const BARS = [
  ['subject', 'Subject'],
  ['study', 'Study'],
  ['date', 'Date'],
  ['description', 'Description']
]
const JOB_NAMES = { q: 'queued', r: 'running', e: 'error', d: 'done', k: 'killed' }
const DEBOUNCE_MS = 350

function h (tag, cls, text) {
  const e = document.createElement(tag)
  if (cls) e.className = cls
  if (text !== undefined && text !== null) e.textContent = String(text)
  return e
}

class TableView {
  constructor (model, el) {
    this.model = model
    this.timer = null
    this.root = h('div', 'nora-table')
    this.root.tabIndex = 0
    this.root.setAttribute('data-lm-suppress-shortcuts', 'true')
    this.inputs = {}

    const bar = h('div', 'nora-table-bar')
    const files = this.filterInput('files', 'file search, e.g. t1*/s0*.nii & STAG:control')
    files.classList.add('nora-filter-files')
    const refresh = h('button', 'nora-table-refresh', '⟳')
    refresh.title = 'query again'
    refresh.addEventListener('click', () => this.model.send({ type: 'refresh' }))
    this.title = h('span', 'nora-table-title')
    bar.append(this.title, files, refresh)

    this.errorLine = h('div', 'nora-table-error')
    this.scroll = h('div', 'nora-table-scroll')
    const table = h('table')
    const thead = h('thead')
    const names = h('tr')
    const bars = h('tr', 'nora-table-filters')
    for (const [col, label] of BARS) {
      names.appendChild(h('th', '', label))
      const td = h('th')
      td.appendChild(this.filterInput(col, label.toLowerCase()))
      bars.appendChild(td)
    }
    names.append(h('th', '', 'Tags'), h('th', '', 'Jobs'))
    bars.append(h('th'), h('th'))
    thead.append(names, bars)
    this.tbody = h('tbody')
    table.append(thead, this.tbody)
    this.scroll.appendChild(table)

    this.pager = h('div', 'nora-table-pager')
    this.first = h('button', '', '«')
    this.prev = h('button', '', '‹')
    this.count = h('span', 'nora-table-count')
    this.next = h('button', '', '›')
    this.last = h('button', '', '»')
    this.first.addEventListener('click', () => this.goto(0))
    this.prev.addEventListener('click', () => this.goto(this.model.get('page') - 1))
    this.next.addEventListener('click', () => this.goto(this.model.get('page') + 1))
    this.last.addEventListener('click', () => this.goto(this.lastPage()))
    this.pager.append(this.first, this.prev, this.count, this.next, this.last)

    this.messageLine = h('div', 'nora-table-message')
    this.filesBox = h('div', 'nora-table-files')

    this.root.append(bar, this.errorLine, this.scroll, this.pager, this.messageLine, this.filesBox)
    el.appendChild(this.root)

    this.root.addEventListener('keydown', (e) => {
      if (e.target.tagName === 'INPUT') return
      if (e.key === 'ArrowUp' || e.key === 'ArrowDown') {
        e.preventDefault()
        e.stopPropagation()
        this.model.send({ type: 'step', step: e.key === 'ArrowDown' ? 1 : -1 })
      }
    })
    this.render()
  }

  filterInput (col, placeholder) {
    const inp = h('input', 'nora-filter')
    inp.type = 'text'
    inp.placeholder = placeholder
    inp.dataset.col = col
    inp.spellcheck = false
    inp.value = (this.model.get('filters') || {})[col] || ''
    inp.addEventListener('input', () => {
      clearTimeout(this.timer)
      this.timer = setTimeout(() => this.commit(), DEBOUNCE_MS)
    })
    inp.addEventListener('keydown', (e) => {
      e.stopPropagation() // typing in a bar is not a notebook shortcut
      if (e.key === 'Enter') {
        clearTimeout(this.timer)
        this.commit()
      }
    })
    this.inputs[col] = inp
    return inp
  }

  commit () {
    const filters = {}
    for (const [col, inp] of Object.entries(this.inputs)) filters[col] = inp.value
    const now = this.model.get('filters') || {}
    if (Object.keys(filters).every((k) => (now[k] || '') === filters[k])) return
    this.model.set('filters', filters)
    this.model.save_changes()
  }

  lastPage () {
    const total = this.model.get('total')
    const size = this.model.get('page_size')
    return total === null || total === undefined ? this.model.get('page') + 1 : Math.max(0, Math.ceil(total / size) - 1)
  }

  goto (page) {
    const p = Math.max(0, Math.min(page, this.lastPage()))
    if (p === this.model.get('page')) return
    this.model.set('page', p)
    this.model.save_changes()
  }

  select (psid) {
    if (this.model.get('selected') === psid) return
    this.model.set('selected', psid)
    this.model.save_changes()
  }

  tagCell (row, editable) {
    const td = h('td', 'nora-tags')
    for (const tag of row.tags || []) {
      const chip = h('span', 'nora-tag', tag)
      chip.dataset.tag = tag
      if (editable) {
        const x = h('span', 'nora-tag-remove', '×')
        x.title = `remove tag ${tag}`
        x.addEventListener('click', (e) => {
          e.stopPropagation()
          this.model.send({ type: 'tag', op: 'remove', psid: row.psid, tag })
        })
        chip.appendChild(x)
      }
      td.appendChild(chip)
    }
    if (editable) {
      const add = h('span', 'nora-tag-add', '+')
      add.title = 'add a study tag'
      add.addEventListener('click', (e) => {
        e.stopPropagation()
        const inp = h('input', 'nora-tag-input')
        inp.type = 'text'
        inp.placeholder = 'tag'
        inp.addEventListener('click', (ev) => ev.stopPropagation())
        inp.addEventListener('keydown', (ev) => {
          ev.stopPropagation()
          if (ev.key === 'Enter' && inp.value.trim()) {
            this.model.send({ type: 'tag', op: 'add', psid: row.psid, tag: inp.value.trim() })
          } else if (ev.key === 'Escape') {
            inp.replaceWith(add)
          }
        })
        add.replaceWith(inp)
        inp.focus()
      })
      td.appendChild(add)
    }
    return td
  }

  jobCell (row) {
    const td = h('td', 'nora-jobs')
    const counts = {}
    const titles = []
    for (const [batch, state] of Object.entries(row.jobs || {})) {
      counts[state] = (counts[state] || 0) + 1
      titles.push(`${batch}: ${JOB_NAMES[state] || state}`)
    }
    for (const state of ['e', 'r', 'q', 'k', 'd']) {
      if (!counts[state]) continue
      const b = h('span', `nora-job nora-job-${state}`, counts[state] > 1 ? `${state}${counts[state]}` : state)
      b.dataset.state = state
      td.appendChild(b)
    }
    td.title = titles.join('\n')
    return td
  }

  render () {
    const m = this.model
    const rows = m.get('rows') || []
    const selected = m.get('selected')
    const editable = !!m.get('editable')
    const filters = m.get('filters') || {}
    for (const [col, inp] of Object.entries(this.inputs)) {
      if (document.activeElement !== inp && inp.value !== (filters[col] || '')) inp.value = filters[col] || ''
    }
    this.title.textContent = m.get('project_name') || ''
    this.scroll.style.maxHeight = `${m.get('height')}px`

    const error = m.get('error') || ''
    const errCol = m.get('error_column') || ''
    this.errorLine.textContent = error ? `⚠ ${errCol ? errCol + ': ' : ''}${error}` : ''
    for (const [col, inp] of Object.entries(this.inputs)) inp.classList.toggle('nora-filter-bad', !!error && col === errCol)

    const body = h('tbody')
    for (const row of rows) {
      const tr = h('tr')
      tr.dataset.psid = row.psid
      if (row.psid === selected) tr.classList.add('nora-selected')
      for (const [col] of BARS) tr.appendChild(h('td', `nora-col-${col}`, row[col] ?? ''))
      tr.append(this.tagCell(row, editable), this.jobCell(row))
      tr.addEventListener('click', () => { this.root.focus({ preventScroll: true }); this.select(row.psid) })
      body.appendChild(tr)
    }
    this.tbody.replaceWith(body)
    this.tbody = body
    const sel = body.querySelector('tr.nora-selected')
    if (sel) sel.scrollIntoView({ block: 'nearest' })

    const page = m.get('page')
    const size = m.get('page_size')
    const total = m.get('total')
    const from = rows.length ? page * size + 1 : 0
    const to = page * size + rows.length
    this.count.textContent = `${from}–${to} of ${total === null || total === undefined ? '…' : total}`
    this.first.disabled = this.prev.disabled = page === 0
    const more = total === null || total === undefined ? rows.length === size : to < total
    this.next.disabled = this.last.disabled = !more

    this.messageLine.textContent = m.get('message') || ''
    this.renderFiles(selected, m.get('files') || [])

    const d = this.root.dataset
    d.rows = String(rows.length)
    d.total = total === null || total === undefined ? '' : String(total)
    d.page = String(page)
    d.selected = selected || ''
    d.error = error
    d.seq = String(m.get('seq'))
  }

  renderFiles (psid, files) {
    const box = h('div', 'nora-table-files')
    if (psid) {
      box.appendChild(h('div', 'nora-files-title', `Files of ${psid} (double-click to open)`))
      const ul = h('ul')
      for (const f of files) {
        const li = h('li', 'nora-file')
        li.dataset.relpath = f.relpath
        li.appendChild(h('span', 'nora-file-name', f.relpath))
        if (f.tags && f.tags.length) li.appendChild(h('span', 'nora-file-tags', f.tags.join(', ')))
        li.addEventListener('dblclick', (e) => {
          e.preventDefault()
          this.model.send({ type: 'open', psid, relpath: f.relpath, shift: e.shiftKey })
        })
        ul.appendChild(li)
      }
      box.appendChild(ul)
    }
    this.filesBox.replaceWith(box)
    this.filesBox = box
  }
}

function render ({ model, el }) {
  const view = new TableView(model, el)
  const onChange = () => view.render()
  model.on('change', onChange)
  return () => model.off('change', onChange)
}

export default { render }
