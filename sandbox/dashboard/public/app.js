// The dashboard stand-in's page: plain browser JavaScript, no build step. It calls the
// bridge's settings API with a dashboard JWT that its own small server mints.

const $ = (id) => document.getElementById(id)
const state = { config: null, merchantId: '', token: null, tokenAt: 0, status: null, objects: [], fields: [], properties: [] }

function show(message, isError = false) {
  $('message').textContent = message
  $('message').className = isError ? 'error' : ''
}

async function token() {
  // Tokens live 10 minutes; take a fresh one well before that.
  if (state.token && Date.now() - state.tokenAt < 5 * 60 * 1000) return state.token
  const res = await fetch('/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ merchantId: state.merchantId }) })
  state.token = (await res.json()).token
  state.tokenAt = Date.now()
  return state.token
}

async function api(method, path, body) {
  const res = await fetch(`${state.config.bridgeUrl}/v1/merchants/${encodeURIComponent(state.merchantId)}/salesforce${path}`, {
    method,
    headers: { authorization: `Bearer ${await token()}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  })
  const json = await res.json().catch(() => ({}))
  if (!res.ok) {
    const error = json.error ?? { code: String(res.status), message: res.statusText }
    throw Object.assign(new Error(error.field ? `${error.message} (${error.field})` : error.message), { code: error.code })
  }
  return json
}

function option(value, label, selected) {
  const o = document.createElement('option')
  o.value = value
  o.textContent = label
  o.selected = selected
  return o
}

function renderConnection() {
  const c = state.status.connection
  const status = $('connection-status')
  status.dataset.state = c.state
  status.textContent = { connected: 'Connected', 'not-connected': 'Not connected', 'needs-reauth': 'Needs re-authorisation: connect again' }[c.state]
  $('connection-details').hidden = c.state === 'not-connected'
  if (c.state !== 'not-connected') {
    $('org-id').textContent = c.orgId
    $('username').textContent = c.username
    $('instance-url').textContent = c.instanceUrl
    $('environment').textContent = c.environment
  }
  $('connect').textContent = c.state === 'connected' ? 'Reconnect' : 'Connect'
  $('disconnect').hidden = c.state === 'not-connected'
  const connected = c.state === 'connected'
  for (const id of ['import-enabled', 'import-save']) $(id).disabled = !connected
  $('export-enabled').disabled = !connected || !state.status.import.enabled
  $('export-save').disabled = !connected || !state.status.import.enabled
  $('health').textContent = JSON.stringify(state.status.health, null, 2)
}

async function loadFields(object) {
  state.fields = object ? (await api('GET', `/objects/${encodeURIComponent(object)}/fields`)).fields : []
  const imp = state.status.import
  const email = $('import-email')
  email.replaceChildren(...state.fields.filter((f) => f.emailCapable).map((f) => option(f.name, `${f.label} (${f.name})`, imp.emailField ? f.name === imp.emailField : f.type === 'email')))
  const chosen = new Map((imp.object === object ? imp.fields ?? [] : []).map((f) => [f.field, f.property]))
  $('import-fields').replaceChildren(...state.fields.map((f) => {
    const label = document.createElement('label')
    label.innerHTML = '<input type="checkbox"> <span></span>'
    const box = label.querySelector('input')
    box.value = f.name
    box.checked = chosen.has(f.name)
    box.dataset.field = f.name
    label.querySelector('span').textContent = `${f.label} (${f.name})`
    return label
  }))
  const exp = state.status.export
  const idFields = state.fields.filter((f) => f.updateable && (f.type === 'string' || f.type === 'textarea'))
  const idChoice = exp.cohortUserIdField ?? idFields.find((f) => /cohort.*user.*id/i.test(f.name))?.name
  $('export-id-field').replaceChildren(...idFields.map((f) => option(f.name, `${f.label} (${f.name})`, f.name === idChoice)))
  renderMappings(exp.mappings ?? [])
}

function renderMappings(mappings) {
  const updateable = state.fields.filter((f) => f.updateable)
  $('export-mappings').replaceChildren(...mappings.map((m) => mappingRow(m, updateable)))
}

function mappingRow(mapping, updateable) {
  const row = document.createElement('div')
  row.className = 'row mapping'
  const property = document.createElement('select')
  property.className = 'mapping-property'
  property.replaceChildren(...state.properties.map((p) => option(p.key, `${p.name} (${p.type})`, p.key === mapping.property)))
  const field = document.createElement('select')
  field.className = 'mapping-field'
  field.replaceChildren(...updateable.map((f) => option(f.name, `${f.label} (${f.type})`, f.name === mapping.field)))
  const remove = document.createElement('button')
  remove.type = 'button'
  remove.textContent = '✕'
  remove.onclick = () => row.remove()
  row.append(property, ' → ', field, remove)
  return row
}

async function refresh() {
  state.status = await api('GET', '')
  renderConnection()
  const imp = state.status.import
  $('import-enabled').checked = Boolean(imp.enabled)
  $('export-enabled').checked = Boolean(state.status.export.enabled)
  document.querySelector(`input[name=import-mode][value=${imp.mode ?? 'all'}]`).checked = true
  document.querySelector(`input[name=export-mode][value=${state.status.export.mode ?? 'existing'}]`).checked = true
  if (state.status.connection.state !== 'connected') return
  state.objects = (await api('GET', '/objects')).objects
  state.properties = (await (await fetch(`/cohort/properties?merchantId=${encodeURIComponent(state.merchantId)}`)).json()).data ?? []
  const current = imp.object ?? (state.objects.some((o) => o.name === 'Contact') ? 'Contact' : state.objects[0]?.name)
  $('import-object').replaceChildren(...state.objects.map((o) => option(o.name, `${o.label} (${o.name})`, o.name === current)))
  await loadFields(current)
}

async function saveImport() {
  const body = {
    enabled: $('import-enabled').checked,
    object: $('import-object').value,
    emailField: $('import-email').value,
    mode: document.querySelector('input[name=import-mode]:checked').value,
    fields: [...document.querySelectorAll('#import-fields input:checked')].map((box) => ({ field: box.dataset.field })),
  }
  state.status = await api('PUT', '/import', body)
  show(body.enabled ? 'Import settings saved.' : 'Import turned off.')
  await refresh()
}

async function saveExport() {
  const body = {
    enabled: $('export-enabled').checked,
    cohortUserIdField: $('export-id-field').value,
    mode: document.querySelector('input[name=export-mode]:checked').value,
    mappings: [...document.querySelectorAll('#export-mappings .mapping')].map((row) => ({ property: row.querySelector('.mapping-property').value, field: row.querySelector('.mapping-field').value })),
  }
  state.status = await api('PUT', '/export', body)
  show(body.enabled ? 'Export settings saved.' : 'Export turned off.')
  await refresh()
}

function connect() {
  // Open the pop-up inside the click (pop-up blockers allow only that), then send it on its way.
  const popup = window.open('about:blank', 'salesforce-connect', 'width=520,height=680')
  const params = new URLSearchParams({ merchantId: state.merchantId, environment: $('environment-choice').value })
  token().then(
    (t) => {
      params.set('token', t)
      popup.location.href = `${state.config.bridgeUrl}/oauth/salesforce/connect?${params}`
    },
    (err) => {
      popup.close()
      show(`Could not start the connection: ${err.message}`, true)
    },
  )
}

const guard = (fn) => () => fn().catch((err) => show(err.message, true))

window.addEventListener('message', (event) => {
  if (event.origin !== new URL(state.config.bridgeUrl).origin) return
  if (event.data?.type === 'salesforce-connected') {
    show('Salesforce connected.')
    guard(refresh)()
  } else if (event.data?.type === 'salesforce-error') {
    show(`Salesforce could not be connected: ${event.data.code}`, true)
  }
})

async function main() {
  state.config = await (await fetch('/config.json')).json()
  state.merchantId = new URLSearchParams(location.search).get('merchantId') ?? state.config.defaultMerchantId
  $('merchant').value = state.merchantId
  $('merchant').onchange = () => {
    location.search = `?merchantId=${encodeURIComponent($('merchant').value)}`
  }
  $('connect').onclick = connect
  $('disconnect').onclick = guard(async () => {
    state.status = await api('DELETE', '')
    show('Disconnected.')
    await refresh()
  })
  $('import-object').onchange = guard(() => loadFields($('import-object').value))
  $('import-save').onclick = guard(saveImport)
  $('export-save').onclick = guard(saveExport)
  $('export-add-mapping').onclick = () => $('export-mappings').append(mappingRow({}, state.fields.filter((f) => f.updateable)))
  await guard(refresh)()
  document.body.dataset.ready = 'true'
}

main()
