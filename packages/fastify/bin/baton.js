#!/usr/bin/env node
// npm links the bins of direct dependencies only: this makes `npx baton` work after installing
// this adapter alone. The CLI itself lives in @baton/core.
require('@baton/core/cli').runCli(process.argv);
