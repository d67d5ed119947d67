#!/usr/bin/env node
// A committed shim so the bin link exists at install time, before `tsc` has produced dist/.
import { main } from '../dist/main.js'

process.exitCode = await main(process.argv)
