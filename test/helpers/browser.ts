// A real headless Chromium for the dashboard tests (Debian's, driven by playwright-core): one
// browser per test file, a fresh context per test that records the page's errors, and cleanup
// that unwinds like a stack with a time limit per step.
import { after, before, type TestContext } from 'node:test'
import fs from 'node:fs'
import path from 'node:path'
import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const ARTIFACTS = path.join(__dirname, '..', '..', '..', 'test-artifacts')
/** Each test's timeout: a hang fails the test (named) instead of the whole file at its 10-minute cap. */
export const TEST_TIMEOUT_MS = 90_000
/** One cleanup step's limit: a step that hangs fails the test, naming the step, and the next ones still run. */
const CLEANUP_STEP_MS = 20_000

/**
 * The tests' `skip` option: on a developer machine without Chromium they say why they did not
 * run; in CI (.ci/run installs Chromium) a missing browser is a failure, not a skip.
 */
export const skip = !fs.existsSync(CHROMIUM) && process.env.CI === undefined
  ? `${CHROMIUM} is missing (apt-get install chromium); CI installs it and runs this test`
  : false

const cleanupStacks = new WeakMap<TestContext, Array<{ label: string, run: () => unknown }>>()

/**
 * Registers a cleanup step for the test. Steps run last-registered first (the page closes
 * before the server it talks to, as a stack unwinds), each within CLEANUP_STEP_MS; node:test's
 * own t.after runs hooks first-registered first and waits on a hanging one forever.
 */
export function defer (t: TestContext, label: string, run: () => unknown): void {
  let stack = cleanupStacks.get(t)
  if (stack === undefined) {
    const steps: Array<{ label: string, run: () => unknown }> = []
    stack = steps
    cleanupStacks.set(t, steps)
    t.after(async () => {
      const failures: string[] = []
      for (const step of steps.reverse()) {
        let timer: NodeJS.Timeout | undefined
        const limit = new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => { reject(new Error(`cleanup step '${step.label}' did not finish in ${CLEANUP_STEP_MS} ms`)) }, CLEANUP_STEP_MS)
        })
        try {
          await Promise.race([Promise.resolve().then(step.run), limit])
        } catch (error) {
          failures.push((error as Error).message)
        } finally {
          clearTimeout(timer)
        }
      }
      if (failures.length > 0) throw new Error(failures.join('; '))
    })
  }
  stack.push({ label, run })
}

/**
 * Launches Chromium before the file's tests and closes it after them; `file` names the test file
 * in the line printed if the browser dies midway (every later step would fail).
 */
export function useBrowser (file: string): { readonly browser: Browser } {
  const holder: { browser: Browser | undefined } = { browser: undefined }
  let closing = false
  before(async () => {
    if (skip !== false) return
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      timeout: 60_000
    })
    browser.on('disconnected', () => { if (!closing) process.stderr.write(`${file}: Chromium disconnected before the file ended\n`) })
    holder.browser = browser
  })
  after(async () => {
    closing = true
    await holder.browser?.close()
  })
  return {
    get browser (): Browser {
      if (holder.browser === undefined) throw new Error('the browser is not running (before() has not run, or Chromium is missing)')
      return holder.browser
    }
  }
}

/** A page at 1280×800 in a fresh context that records every console error and uncaught exception. */
export async function openPage (t: TestContext, browser: Browser, options: BrowserContextOptions = {}): Promise<{ page: Page, errors: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options })
  defer(t, 'browser context close', async () => { await context.close() })
  const page = await context.newPage()
  const errors: string[] = []
  page.on('console', (message) => { if (message.type() === 'error') errors.push(`console: ${message.text()}`) })
  page.on('pageerror', (error) => { errors.push(`pageerror: ${error.message}`) })
  return { page, errors }
}

/** Marks the document; the mark survives exactly as long as no navigation or reload happens. */
export async function markDocument (page: Page): Promise<void> {
  await page.evaluate(() => { (globalThis as unknown as { notReloaded: boolean }).notReloaded = true })
}

export async function stillSameDocument (page: Page): Promise<boolean> {
  return await page.evaluate(() => (globalThis as unknown as { notReloaded?: boolean }).notReloaded === true)
}

/** Writes a full-page screenshot to test-artifacts/NAME (not committed). */
export async function screenshot (page: Page, name: string, fullPage = true): Promise<void> {
  fs.mkdirSync(ARTIFACTS, { recursive: true })
  await page.screenshot({ path: path.join(ARTIFACTS, name), fullPage })
}
