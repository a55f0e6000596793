/** Printing issue 14's goals for one run or several side by side (unpinned, pinned). */
import { fmtRatio } from '../stats'
import { printTable } from './report'
import type { Goal } from './goals'

/** One table: a row per goal, a column per run (`runs` maps a label to that run's goals). */
export function printGoals (title: string, runs: Record<string, Goal[]>): void {
  const names: string[] = []
  const bounds = new Map<string, string>()
  for (const goals of Object.values(runs)) {
    for (const g of goals) {
      if (!names.includes(g.goal)) names.push(g.goal)
      bounds.set(g.goal, `${g.atLeast ? '≥' : '≤'} ${fmtRatio(g.bound)}`)
    }
  }
  if (names.length === 0) return
  printTable<string>(title, [
    { header: 'goal', cell: (n) => n },
    { header: 'bound', cell: (n) => bounds.get(n) ?? '' },
    ...Object.entries(runs).map(([label, goals]) => ({
      header: label,
      cell: (n: string) => {
        const g = goals.find((x) => x.goal === n)
        return g ? `${fmtRatio(g.value)} ${g.met ? 'met' : 'not met'}` : '-'
      },
    })),
  ], names)
}
