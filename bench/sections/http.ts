/**
 * Section "http": the request rate of the pool's REST face against bare Fastify (with CPU time
 * per request), then a large upload against bare node:http. Two halves, one table each, printed
 * together at the end as before the harness was split.
 */
import type { Section } from '../harness/section'
import { runRequestRate, printRequestRate, type HttpRow } from './http-requests'
import { httpSettings } from './http-settings'
import { runUpload, printUpload, type UploadRow } from './upload'

export interface HttpResult {
  reference: string | null
  upload_reference: string | null
  targets: { name: string, description: string }[]
  upload_targets: { name: string, description: string }[]
  setup_errors: Record<string, string>
  requests: HttpRow[]
  uploads: UploadRow[]
}

export const httpSection: Section<HttpResult> = {
  name: 'http',
  summary: 'autocannon against a hello-world route (req/s, CPU µs per request), and a 1 GiB upload (256 MiB with --quick)',
  settings: httpSettings,
  async run (options) {
    const H = httpSettings(options)
    const requests = await runRequestRate(H)
    const uploads = await runUpload(H)
    printRequestRate(requests, H)
    printUpload(uploads, H)
    return {
      reference: requests.reference,
      upload_reference: uploads.reference,
      targets: requests.targets,
      upload_targets: uploads.targets,
      setup_errors: { ...requests.setup_errors, ...uploads.setup_errors },
      requests: requests.requests,
      uploads: uploads.uploads,
    }
  },
}
