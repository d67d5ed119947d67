// Static assets served from 'self', so the CSP needs neither 'unsafe-inline' nor a nonce.

export const STYLESHEET = `
:root { color-scheme: light dark; --accent: #1f7a4d; --muted: #666; }
* { box-sizing: border-box; }
body { font: 16px/1.5 system-ui, sans-serif; margin: 0; }
header { padding: .75rem 1.5rem; border-bottom: 1px solid #8884; display: flex; gap: 1rem; align-items: center; }
header .brand { font-weight: 700; color: var(--accent); text-decoration: none; }
header nav { display: flex; gap: 1rem; margin-left: auto; align-items: center; }
main { max-width: 68rem; margin: 2rem auto; padding: 0 1.5rem; }
label { display: block; font-weight: 600; margin-top: 1rem; }
input[type=email], input[type=password], input[type=text], select { width: 100%; padding: .5rem; font: inherit; margin-top: .25rem; }
td button { margin-top: 0; }
button { font: inherit; padding: .5rem 1rem; margin-top: 1rem; cursor: pointer; border-radius: 4px; border: 1px solid #8888; }
a.button { display: inline-block; padding: .5rem 1rem; border: 1px solid #8888; border-radius: 4px; text-decoration: none; color: inherit; }
button.primary { background: var(--accent); color: #fff; border-color: var(--accent); }
button.link { background: none; border: none; padding: 0; margin: 0; color: inherit; text-decoration: underline; }
:focus-visible { outline: 3px solid #f5a623; outline-offset: 2px; }
.error { border-left: 4px solid #c0392b; padding: .5rem 1rem; background: #c0392b18; }
.notice { border-left: 4px solid var(--accent); padding: .5rem 1rem; background: #1f7a4d18; }
.muted { color: var(--muted); }
.table-scroll { overflow-x: auto; }
.nowrap { white-space: nowrap; }
table { font-size: .9rem; width: 100%; border-collapse: collapse; margin-top: 1rem; }
th, td { text-align: left; padding: .4rem .5rem; border-bottom: 1px solid #8884; vertical-align: top; }
code, pre { font-family: ui-monospace, monospace; }
pre.secret { white-space: pre-wrap; word-break: break-all; padding: .75rem; border: 1px solid #8888; border-radius: 4px; }
.actions { display: flex; gap: .75rem; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
`

// Progressive enhancement only: without JavaScript the text is still there to select and copy.
export const COPY_SCRIPT = `
document.querySelectorAll('[data-copy]').forEach(function (button) {
  button.hidden = false
  button.addEventListener('click', function () {
    var source = document.getElementById(button.getAttribute('data-copy'))
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      var status = document.getElementById(button.getAttribute('data-status'))
      if (status) status.textContent = 'Copied to the clipboard.'
    })
  })
})
`
