#!/usr/bin/env node
// The installed `orbit` command: runs the compiled CLI (npm ci builds it through `prepare`).
import { main } from '../dist/src/cli/main.js';

await main(process.argv);
