#include <stdexcept>
#include <string>

#include "gtest/gtest.h"
#include "libs/http/server.h"

namespace protectogram::http {
namespace {

Request Make(std::string method, std::string path) {
  Request r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.target = r.path;
  return r;
}

Handler Reply(std::string body) {
  return [body](const Request&) { return Response::Text(200, body); };
}

TEST(RouterTest, ExactRouteMatchesOnlyItsPath) {
  Router router;
  router.Add("GET", "/health", Reply("health"));
  std::string label;
  Response r = router.Dispatch(Make("GET", "/health"), &label);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "health");
  EXPECT_EQ(label, "/health");

  r = router.Dispatch(Make("GET", "/health/live"), &label);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(label, kRouteUnmatched);
}

TEST(RouterTest, PrefixRouteMatchesBelowItAndLabelsWithThePrefix) {
  Router router;
  router.AddPrefix("POST", "/webhook/", Reply("hook"));
  std::string label;
  Response r = router.Dispatch(Make("POST", "/webhook/alpha"), &label);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hook");
  EXPECT_EQ(label, "/webhook/");
  EXPECT_EQ(router.Dispatch(Make("POST", "/webhook"), &label).status, 404);
  EXPECT_EQ(router.Dispatch(Make("POST", "/other/alpha"), &label).status, 404);
}

TEST(RouterTest, ExactWinsOverPrefixAndLongestPrefixWins) {
  Router router;
  router.AddPrefix("GET", "/a/", Reply("short"));
  router.AddPrefix("GET", "/a/b/", Reply("long"));
  router.Add("GET", "/a/b/c", Reply("exact"));
  std::string label;
  EXPECT_EQ(router.Dispatch(Make("GET", "/a/b/c"), &label).body, "exact");
  EXPECT_EQ(label, "/a/b/c");
  EXPECT_EQ(router.Dispatch(Make("GET", "/a/b/d"), &label).body, "long");
  EXPECT_EQ(label, "/a/b/");
  EXPECT_EQ(router.Dispatch(Make("GET", "/a/x"), &label).body, "short");
  EXPECT_EQ(label, "/a/");
}

TEST(RouterTest, SamePathDifferentMethods) {
  Router router;
  router.Add("GET", "/wa", Reply("verify"));
  router.Add("POST", "/wa", Reply("event"));
  EXPECT_EQ(router.Dispatch(Make("GET", "/wa"), nullptr).body, "verify");
  EXPECT_EQ(router.Dispatch(Make("POST", "/wa"), nullptr).body, "event");
}

TEST(RouterTest, UnknownPathIs404JsonWithUnmatchedLabel) {
  Router router;
  router.Add("GET", "/health", Reply("ok"));
  std::string label = "stale";
  Response r = router.Dispatch(Make("GET", "/nope"), &label);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_NE(r.body.find(R"("error":"not_found")"), std::string::npos) << r.body;
  EXPECT_EQ(label, "unmatched");
}

TEST(RouterTest, KnownPathWrongMethodIs405WithAllow) {
  Router router;
  router.Add("POST", "/wa", Reply("event"));
  router.Add("GET", "/wa", Reply("verify"));
  router.AddPrefix("PUT", "/w", Reply("prefix"));
  std::string label;
  Response r = router.Dispatch(Make("DELETE", "/wa"), &label);
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(label, "/wa");
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0].first, "Allow");
  EXPECT_EQ(r.headers[0].second, "GET, HEAD, POST, PUT");
  EXPECT_NE(r.body.find(R"("error":"method_not_allowed")"), std::string::npos) << r.body;
}

TEST(RouterTest, PrefixFallsBackWhenExactRouteHasOtherMethod) {
  Router router;
  router.Add("GET", "/x", Reply("exact"));
  router.AddPrefix("POST", "/x", Reply("prefix"));
  std::string label;
  EXPECT_EQ(router.Dispatch(Make("POST", "/x"), &label).body, "prefix");
  EXPECT_EQ(label, "/x");
}

TEST(RouterTest, ThrowingHandlerBecomes500) {
  Router router;
  router.Add("GET", "/boom", [](const Request&) -> Response { throw std::runtime_error("kaboom"); });
  router.Add("GET", "/boom2", [](const Request&) -> Response { throw 42; });
  std::string label;
  Response r = router.Dispatch(Make("GET", "/boom"), &label);
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(label, "/boom");
  EXPECT_EQ(r.body, R"({"error":"internal","message":"internal error"})");
  EXPECT_EQ(router.Dispatch(Make("GET", "/boom2"), &label).status, 500);
}

TEST(ResponseTest, ErrorIsEscapedJson) {
  Response r = Response::Error(400, "bad_request", "say \"hi\"\n\\");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(r.body, R"({"error":"bad_request","message":"say \"hi\"\n\\"})");
}

TEST(ResponseTest, JsonAndText) {
  Response j = Response::Json(201, R"({"a":1})");
  EXPECT_EQ(j.status, 201);
  EXPECT_EQ(j.content_type, "application/json");
  EXPECT_EQ(j.body, R"({"a":1})");
  Response t = Response::Text(200, "ok");
  EXPECT_EQ(t.content_type, "text/plain; charset=utf-8");
  EXPECT_EQ(t.body, "ok");
}

TEST(RequestTest, HeaderAndQueryParam) {
  Request r;
  r.headers = {{"content-type", "application/json"}, {"x-hub-signature-256", "sha256=ab"}};
  r.query = {{"hub.mode", "subscribe"}, {"x", "1"}, {"x", "2"}};
  EXPECT_EQ(r.Header("content-type"), "application/json");
  EXPECT_EQ(r.Header("x-hub-signature-256"), "sha256=ab");
  EXPECT_EQ(r.Header("absent"), "");
  EXPECT_EQ(r.QueryParam("hub.mode"), "subscribe");
  EXPECT_EQ(r.QueryParam("x"), "1");
  EXPECT_EQ(r.QueryParam("absent"), "");
}

}  // namespace
}  // namespace protectogram::http
