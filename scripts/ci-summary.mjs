#!/usr/bin/env node
// Prints the one-line CI summary, "N passed, N failed, N skipped", from a vitest JSON report.
// Usage: node scripts/ci-summary.mjs [build/vitest-report.json]
// A missing or unreadable report (vitest crashed before writing it) prints "0 passed, 1 failed,
// 0 skipped" and exits 1, so the line is always printed and never reads as a pass.
import { readFileSync } from "node:fs";

const path = process.argv[2] ?? "build/vitest-report.json";
let report;
try {
  report = JSON.parse(readFileSync(path, "utf8"));
} catch (err) {
  console.error(`ci-summary: cannot read ${path}: ${err instanceof Error ? err.message : err}`);
  console.log("0 passed, 1 failed, 0 skipped");
  process.exit(1);
}

const count = (v) => (Number.isInteger(v) ? v : 0);
// A test file that fails to load (syntax error, throwing import, failing beforeAll without
// tests) has no failed test of its own; count each such file as one failure.
const brokenFiles = (Array.isArray(report.testResults) ? report.testResults : []).filter(
  (file) =>
    file?.status === "failed" &&
    !(file.assertionResults ?? []).some((test) => test?.status === "failed"),
).length;

const passed = count(report.numPassedTests);
const failed = count(report.numFailedTests) + brokenFiles;
const skipped = count(report.numPendingTests) + count(report.numTodoTests);
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 || report.success === false ? 1 : 0);
