// Validates CSAF 2.0 documents with the reference validator (@secvisogram/csaf-validator-lib):
// the strict schema, every mandatory and optional test, and the informative tests but 6.3.6
// and 6.3.7 (they make network requests) and 6.3.8 (it needs the hunspell program).
// Usage: node validate.mjs <library dir> <document.json>...; prints one JSON line per
// document and exits 1 when any test reports an error.
import { readFileSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { join } from 'node:path'

const [libDir, ...files] = process.argv.slice(2)
const lib = (p) => import(pathToFileURL(join(libDir, 'node_modules/@secvisogram/csaf-validator-lib', p)).href)
const validateStrict = (await lib('validateStrict.js')).default
const schema = await lib('schemaTests.js')
const mandatory = await lib('mandatoryTests.js')
const optional = await lib('optionalTests.js')
const informative = await lib('informativeTests.js')
const skipped = ['informativeTest_6_3_6', 'informativeTest_6_3_7', 'informativeTest_6_3_8']
const tests = [schema.csaf_2_0_strict]
  .concat(Object.values(mandatory))
  .concat(Object.values(optional))
  .concat(Object.entries(informative).filter(([name]) => !skipped.includes(name)).map(([, t]) => t))

let failed = false
for (const file of files) {
  const doc = JSON.parse(readFileSync(file, 'utf8'))
  const result = await validateStrict(tests, doc)
  const errors = result.tests.flatMap((t) => t.errors.map((e) => ({ test: t.name, ...e })))
  const warnings = result.tests.flatMap((t) => t.warnings.map((w) => ({ test: t.name, ...w })))
  const infos = result.tests.flatMap((t) => (t.infos || []).map((i) => ({ test: t.name, ...i })))
  if (!result.isValid || errors.length > 0) failed = true
  console.log(JSON.stringify({ file, isValid: result.isValid, tests: result.tests.length, errors, warnings, infos }))
}
process.exit(failed ? 1 : 0)
