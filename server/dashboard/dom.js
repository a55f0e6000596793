// Small DOM helpers. Everything that came from the server goes into the page with textContent or
// dataset, never as HTML, so a buffer named "<img onerror=…>" is shown as those characters.
import { show } from './formatting.js'

export function element (tag, options = {}, children = []) {
  const node = document.createElement(tag)
  if (options.className) node.className = options.className
  if (options.text !== undefined) node.textContent = options.text
  for (const child of children) node.append(child)
  return node
}

/** Writes text only when it changed: an unchanged textContent still costs a layout. */
export function setText (node, text) {
  if (node.textContent !== text) node.textContent = text
}

export function stateBadge () {
  return element('span', { className: 'badge' })
}

export function setBadge (badge, value, label = value) {
  setText(badge, show(label))
  badge.dataset.state = show(value)
}

/**
 * Replaces a view's content and gives focus back to the element with the same id (a Cancel
 * button), so a keyboard user does not lose their place each time an event redraws the view.
 */
export function replaceKeepingFocus (root, ...children) {
  const active = document.activeElement
  const id = active && active !== document.body && root.contains(active) ? active.id : ''
  root.replaceChildren(...children)
  if (id) {
    const again = document.getElementById(id)
    if (again && root.contains(again)) again.focus()
  }
}
