#!/usr/bin/env node
// The Corral Node.js runner: `node bin/corral-runner.js [--modules DIR]...` (README.md).
import { main } from "../src/main.js";

main();
