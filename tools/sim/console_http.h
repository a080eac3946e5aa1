// The sandbox console over HTTP: the page (GET /, /console.js, /console.css) and its API — GET /api/state and
// the people's actions as POSTs (docs/console.md). Every action answers {"ok":true}, or the error's status
// (400 bad input, 404 unknown person or call, 409 not now, 503 the edge did not take it) with
// {"ok":false,"error":"..."}.
#pragma once

#include "libs/http/server.h"
#include "tools/sim/sandbox.h"

namespace protectogram::sim {

http::Router ConsoleRouter(Sandbox& sandbox);

}  // namespace protectogram::sim
