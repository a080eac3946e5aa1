// The OpenAPI 3.0 document of the REST call API (call_api.h), served at GET /openapi.json without auth.
// tests/unit/edge/call_api_test.cc checks that it is JSON and names every route.
#pragma once

#include <string_view>

namespace protectogram::edge {

// The document, as JSON.
std::string_view CallApiOpenApiJson();

}  // namespace protectogram::edge
