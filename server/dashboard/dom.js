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
