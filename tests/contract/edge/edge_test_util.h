// Helpers for the edge's tests: literal requests for the router, an edge built from an environment map, and
// reading the inbox table and the metrics.
#pragma once

#include <gtest/gtest.h>

#include <cctype>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "edge/config.h"
#include "edge/edge.h"
#include "libs/http/form.h"
#include "libs/http/server.h"
#include "libs/kernel/config.h"
#include "libs/kernel/metrics.h"

namespace protectogram::edge::testing {

// A request as the server would hand it to the router: path and decoded query split from the target,
// header names lower-cased.
inline http::Request MakeRequest(std::string method, std::string target,
                                 const std::map<std::string, std::string>& headers = {},
                                 std::string body = "") {
  http::Request r;
  r.method = std::move(method);
  r.target = std::move(target);
  const size_t q = r.target.find('?');
  r.path = r.target.substr(0, q);
  if (q != std::string::npos) {
    for (auto& [k, v] : http::FormDecode(std::string_view(r.target).substr(q + 1))) r.query.emplace(k, v);
  }
  for (const auto& [name, value] : headers) {
    std::string lower = name;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.headers[lower] = value;
  }
  r.body = std::move(body);
  r.remote_address = "203.0.113.7";
  return r;
}

inline http::Request Post(std::string target, const std::map<std::string, std::string>& headers,
                          std::string body) {
  std::map<std::string, std::string> with_type = headers;
  if (!with_type.contains("Content-Type")) with_type["Content-Type"] = "application/json";
  return MakeRequest("POST", std::move(target), with_type, std::move(body));
}

inline EdgeConfig ConfigFrom(const std::map<std::string, std::string>& values,
                             kernel::AppEnv app_env = kernel::AppEnv::kDev) {
  kernel::MapEnv env(values);
  absl::StatusOr<EdgeConfig> config = LoadEdgeConfig(env, app_env);
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *config : EdgeConfig();
}

// The value of one sample line ("name{labels}") in an exposition, or 0 when absent.
inline double MetricValue(const kernel::MetricsRegistry& metrics, const std::string& sample) {
  const std::string text = metrics.Expose();
  size_t pos = 0;
  while ((pos = text.find(sample + " ", pos)) != std::string::npos) {
    if (pos == 0 || text[pos - 1] == '\n')
      return std::strtod(text.c_str() + pos + sample.size() + 1, nullptr);
    pos += sample.size();
  }
  return 0;
}

}  // namespace protectogram::edge::testing
