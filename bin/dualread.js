#!/usr/bin/env node
// The `dualread` command. In a clone it runs the TypeScript sources as they are (Node 24 strips
// types; no build). The installed package has no src/ (package.json `files`) and runs the
// JavaScript build in dist/: Node does not strip types from files under node_modules. A clone's
// dist/ (left by `npm pack`) is never what runs there, however stale.
import { existsSync } from 'node:fs'

const entry = ['../src/cli/main.ts', '../dist/cli/main.js'].map(p => new URL(p, import.meta.url)).find(url => existsSync(url))
const { main } = await import(entry.href)
await main(process.argv)
