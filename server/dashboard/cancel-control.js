// The Cancel button of a detail view (a job, a pipeline), the status line under it, and the
// request the button makes. `view` holds `cancelling` (the button is disabled while a request is
// out, and after it is accepted) and `notice` (what the status line says).
import { postJson } from './api.js'
import { element } from './dom.js'

/**
 * POSTs `url`; `apply(reply)` takes the answer into the view and returns the notice to show.
 * A refusal re-enables the button and says why. `onChange` redraws, before and after.
 */
export function requestCancel (view, url, apply, onChange) {
  view.cancelling = true
  view.notice = 'cancelling…'
  onChange()
  postJson(url).then(
    (reply) => { view.notice = apply(reply) },
    (error) => {
      view.cancelling = false
      view.notice = `cancel refused: ${error.code}: ${error.message}`
    }
  ).finally(onChange)
}

export function cancelButton (id, text, view, onClick) {
  const button = element('button', { className: 'cancel', text })
  button.id = id
  button.type = 'button'
  button.disabled = view.cancelling
  button.addEventListener('click', onClick)
  return button
}

export function noticeLine (id, view) {
  const notice = element('p', { className: 'notice', text: view.notice })
  notice.id = id
  notice.setAttribute('role', 'status')
  return notice
}
