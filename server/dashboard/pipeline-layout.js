// Where the pipeline graph's boxes go: a layered layout by dependency depth. Existing buffers a
// step reads are source nodes in the first column; a step sits one column right of the deepest
// thing it reads, so every edge points right. Within a column, nodes are ordered by the mean row
// of what they read (one barycentre pass), which untangles the common fan-out/fan-in shapes.
// Pure: plain objects in, plain objects out, nothing drawn here.

export const BOX_W = 190
export const BOX_H = 104
export const SOURCE_H = 48
const GAP_X = 130 // room for an edge's size label
const GAP_Y = 28
const PAD = 12

/**
 * steps: [{id, inputs: [bufferId | {step, output}]}] as the server describes them.
 * Returns {nodes: [{key, type: 'step'|'buffer', id, column, row, x, y, w, h}], edges:
 * [{from, to, input, output, bufferId?}], width, height}. An edge per input, so a step reading
 * the same output twice has two.
 */
export function layoutPipeline (steps) {
  const byId = new Map(steps.map((step) => [step.id, step]))
  const nodes = new Map() // key → node
  const edges = []
  for (const step of steps) nodes.set(`step:${step.id}`, { key: `step:${step.id}`, type: 'step', id: step.id, column: 0, parents: [] })
  for (const step of steps) {
    const to = `step:${step.id}`
    const inputs = Array.isArray(step.inputs) ? step.inputs : []
    inputs.forEach((input, index) => {
      let from
      if (typeof input === 'string') {
        from = `buffer:${input}`
        if (!nodes.has(from)) nodes.set(from, { key: from, type: 'buffer', id: input, column: 0, parents: [] })
        edges.push({ from, to, input: index, bufferId: input })
      } else if (input && byId.has(input.step)) {
        from = `step:${input.step}`
        edges.push({ from, to, input: index, step: input.step, output: Number(input.output) || 0 })
      } else {
        return // a reference the server would have refused: nothing to draw it from
      }
      nodes.get(to).parents.push(from)
    })
  }

  // Depth: 0 for sources and steps reading nothing, else one past the deepest input. The server
  // refuses cycles; `visiting` still keeps a bad answer from recursing forever.
  const visiting = new Set()
  const depth = (key) => {
    const node = nodes.get(key)
    if (node.depth !== undefined) return node.depth
    if (visiting.has(key)) return 0
    visiting.add(key)
    node.depth = node.parents.length ? 1 + Math.max(...node.parents.map(depth)) : 0
    visiting.delete(key)
    return node.depth
  }
  for (const key of nodes.keys()) depth(key)

  const columns = []
  // Sources first in column 0, then steps in the order the spec gave them.
  const ordered = [...nodes.values()].sort((a, b) => (a.type === b.type ? 0 : a.type === 'buffer' ? -1 : 1))
  for (const node of ordered) {
    node.column = node.depth
    if (!columns[node.column]) columns[node.column] = []
    columns[node.column].push(node)
  }
  for (let c = 0; c < columns.length; c++) {
    const column = columns[c]
    if (c > 0) {
      const mean = (node) => node.parents.length ? node.parents.reduce((sum, key) => sum + nodes.get(key).row, 0) / node.parents.length : Infinity
      const rank = new Map(column.map((node, i) => [node, i]))
      column.sort((a, b) => mean(a) - mean(b) || rank.get(a) - rank.get(b))
    }
    column.forEach((node, row) => { node.row = row })
  }

  const tallest = Math.max(1, ...columns.map((column) => column.length))
  const height = PAD * 2 + tallest * BOX_H + (tallest - 1) * GAP_Y
  for (const column of columns) {
    const used = column.length * BOX_H + (column.length - 1) * GAP_Y
    const top = PAD + (height - PAD * 2 - used) / 2 // each column centred on the tallest
    for (const node of column) {
      node.w = BOX_W
      node.h = node.type === 'buffer' ? SOURCE_H : BOX_H
      node.x = PAD + node.column * (BOX_W + GAP_X)
      node.y = top + node.row * (BOX_H + GAP_Y) + (BOX_H - node.h) / 2
    }
  }
  const width = PAD * 2 + columns.length * BOX_W + Math.max(0, columns.length - 1) * GAP_X
  const list = [...nodes.values()].map(({ parents, depth: _depth, ...node }) => node)
  return { nodes: list, edges, width, height }
}
