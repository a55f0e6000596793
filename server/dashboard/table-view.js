// One table: rows keyed by id, built once by `create` and refreshed by `update`; rows are moved
// only when out of place, so a busy table does not rebuild itself on every batch.

/** Puts the rows of tbody in the order of ids, moving only rows that are out of place. */
function reorder (tbody, ids, rows) {
  let cursor = tbody.firstElementChild
  for (const id of ids) {
    const row = rows.get(id)
    if (!row) continue
    if (row.tr === cursor) cursor = cursor.nextElementSibling
    else tbody.insertBefore(row.tr, cursor)
  }
}

export function tableView (selector, create, update) {
  const tbody = document.querySelector(`${selector} tbody`)
  const rows = new Map()
  return {
    rows,
    tbody,
    /** Refreshes the rows of ids whose data changed; a missing (or hidden) item removes its row. */
    patch (ids, lookup, visible = () => true) {
      for (const id of ids) {
        const item = lookup(id)
        let row = rows.get(id)
        if (!item || !visible(id)) {
          if (row) {
            row.tr.remove()
            rows.delete(id)
          }
          continue
        }
        if (!row) {
          row = create(id)
          rows.set(id, row)
        }
        update(row, item)
      }
    },
    order (ids) {
      reorder(tbody, ids, rows)
    }
  }
}
