// A running tollgate node (`tollgate run`): opens the store, binds the
// listeners, runs the SIP worker (event loop, transport, transactions, the
// switch) on the calling thread, writes CDRs on a writer thread, watches the
// store for provisioning changes on a watcher thread and swaps them into the
// worker without dropping calls, and drains on SIGTERM/SIGINT: new calls get
// 503, calls in progress may finish for node.drain_timeout, the rest are hung
// up, CDRs are flushed, then the process exits. SIGHUP reloads provisioning
// at once. Not thread-safe: one Node per process, driven from main().
#pragma once

#include "app/config.h"

namespace tollgate::app {

// Runs until drained. Returns the process exit code (0 clean, 1 start-up
// failure such as a port in use or an unreadable store).
int runNode(const Config& config);

}  // namespace tollgate::app
