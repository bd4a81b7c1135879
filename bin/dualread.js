#!/usr/bin/env node
// The `dualread` command. In a clone it runs the TypeScript sources as they are (Node 24 strips
// types; no build). The installed package has no src/ (package.json `files`) and runs the
// JavaScript build in dist/: Node does not strip types from files under node_modules.
import { existsSync } from 'node:fs'

const source = new URL('../src/cli/main.ts', import.meta.url)
const { main } = await import(existsSync(source) ? source.href : '../dist/cli/main.js')
await main(process.argv)
