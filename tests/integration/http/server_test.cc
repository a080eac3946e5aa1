// The server on real loopback sockets, driven byte by byte with RawConnection.
#include "libs/http/server.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/http/raw_connection.h"

namespace protectogram::http {
namespace {

using ::protectogram::http::testing::RawConnection;
using ::protectogram::http::testing::RawResponse;
using std::chrono::milliseconds;
using ::testing::HasSubstr;
using SteadyClock = std::chrono::steady_clock;

milliseconds Since(SteadyClock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(SteadyClock::now() - start);
}

// Polls `done` until it holds or ~3 s pass.
template <typename F>
bool Eventually(F done) {
  for (int i = 0; i < 300; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return done();
}

// A one-shot latch for "the handler has started".
class Latch {
 public:
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  bool Wait(milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

class ServerTest : public ::testing::Test {
 protected:
  ServerTest() {
    options_.address = "127.0.0.1";
    options_.port = 0;
    options_.threads = 2;
    options_.handler_threads = 4;
    options_.read_timeout = milliseconds(300);
    options_.idle_timeout = milliseconds(300);
    options_.observer = [this](std::string_view route, int status, std::chrono::nanoseconds) {
      std::lock_guard<std::mutex> lock(observed_mu_);
      observed_.emplace_back(std::string(route), status);
    };
    router_.Add("GET", "/hello", [](const Request&) { return Response::Json(200, R"({"hello":"world"})"); });
    router_.Add("POST", "/echo", [this](const Request& r) {
      ++echo_calls_;
      {
        std::lock_guard<std::mutex> lock(observed_mu_);
        last_request_ = r;
      }
      Response response = Response::Text(200, r.body);
      response.headers.emplace_back("X-Echo-Query", std::string(r.QueryParam("q")));
      return response;
    });
    router_.Add("GET", "/inspect", [this](const Request& r) {
      std::lock_guard<std::mutex> lock(observed_mu_);
      last_request_ = r;
      return Response::Json(200, "{}");
    });
    router_.AddPrefix("POST", "/webhook/", [](const Request&) { return Response::Json(200, "{}"); });
    router_.Add("GET", "/boom", [](const Request&) -> Response { throw std::runtime_error("kaboom"); });
    router_.Add("GET", "/slow", [this](const Request&) {
      slow_started_.Open();
      std::this_thread::sleep_for(slow_handler_time_);
      return Response::Json(200, R"({"slow":true})");
    });
    options_.refusal_observer = [this](std::string_view route, const Refusal& refusal,
                                       std::string_view client) {
      std::lock_guard<std::mutex> lock(observed_mu_);
      refusals_.emplace_back(std::string(route), std::string(RefusalLabel(refusal.reason)),
                             std::string(client));
    };
    router_.Add("POST", "/health", [this](const Request&) {
      ++health_calls_;
      return Response::Json(200, "{}");
    });
    // A route with its own, lower, body limit.
    router_.Add(
        "POST", "/small",
        [this](const Request& r) {
          ++small_calls_;
          return Response::Text(200, r.body);
        },
        RouteOptions{.body_limit = 16});
    // A route whose precheck wants a secret header before any body is read.
    RouteOptions hook;
    hook.precheck = [this](const Request& head) -> std::optional<Response> {
      if (!head.body.empty()) precheck_saw_body_ = true;
      if (head.Header("x-secret") != "s") return Response::Error(401, "unauthorized", "bad secret");
      return std::nullopt;
    };
    router_.Add(
        "POST", "/hook",
        [this](const Request& r) {
          ++hook_calls_;
          return Response::Text(200, std::to_string(r.body.size()));
        },
        hook);
    router_.Add(
        "GET", "/guarded", [](const Request&) { return Response::Json(200, "{}"); }, hook);
  }

  // The handlers and the observer use the fixture: stop the server before any member goes.
  void TearDown() override { server_.reset(); }

  void StartServer() {
    server_ = std::make_unique<Server>(options_, router_);
    ASSERT_TRUE(server_->Start().ok());
    ASSERT_NE(server_->port(), 0);
  }

  std::vector<std::pair<std::string, int>> Observed() {
    std::lock_guard<std::mutex> lock(observed_mu_);
    return observed_;
  }

  // (route label, reason label, client) of every refusal so far.
  using Refused = std::tuple<std::string, std::string, std::string>;
  std::vector<Refused> Refusals() {
    std::lock_guard<std::mutex> lock(observed_mu_);
    return refusals_;
  }

  Request LastRequest() {
    std::lock_guard<std::mutex> lock(observed_mu_);
    return last_request_;
  }

  ServerOptions options_;
  Router router_;
  std::unique_ptr<Server> server_;
  std::atomic<int> echo_calls_{0};
  milliseconds slow_handler_time_{500};
  Latch slow_started_;
  std::mutex observed_mu_;
  std::vector<std::pair<std::string, int>> observed_;
  std::vector<Refused> refusals_;
  Request last_request_;
  std::atomic<int> health_calls_{0};
  std::atomic<int> small_calls_{0};
  std::atomic<int> hook_calls_{0};
  std::atomic<bool> precheck_saw_body_{false};
};

TEST_F(ServerTest, GetAndPostOnOneKeepAliveConnection) {
  StartServer();
  RawConnection c(server_->port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.Send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto first = c.ReadResponse();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(first->body, R"({"hello":"world"})");
  EXPECT_EQ(first->Header("content-type"), "application/json");
  EXPECT_EQ(first->Header("content-length"), "17");
  EXPECT_EQ(first->Header("server"), "protectogram");
  EXPECT_EQ(first->Header("connection"), "");

  ASSERT_TRUE(c.Send("POST /echo?q=a+b%26c HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"));
  auto second = c.ReadResponse();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->status, 200);
  EXPECT_EQ(second->body, "hello");
  EXPECT_EQ(second->Header("x-echo-query"), "a b&c");
  EXPECT_EQ(server_->open_connections(), 1u);
}

TEST_F(ServerTest, RequestIsDecoded) {
  StartServer();
  RawConnection c(server_->port());
  ASSERT_TRUE(
      c.Send("GET /insp%65ct?hub.mode=subscribe&hub.challenge=12%2034&flag&x=1&x=2 HTTP/1.1\r\nHost: x\r\n"
             "X-Hub-Signature-256: sha256=abc\r\nX-Dup: a\r\nx-dup: b\r\n\r\n"));
  auto response = c.ReadResponse();
  ASSERT_TRUE(response.has_value());
  ASSERT_EQ(response->status, 200);
  std::lock_guard<std::mutex> lock(observed_mu_);
  EXPECT_EQ(last_request_.method, "GET");
  EXPECT_EQ(last_request_.path, "/inspect");
  EXPECT_EQ(last_request_.target, "/insp%65ct?hub.mode=subscribe&hub.challenge=12%2034&flag&x=1&x=2");
  EXPECT_EQ(last_request_.QueryParam("hub.mode"), "subscribe");
  EXPECT_EQ(last_request_.QueryParam("hub.challenge"), "12 34");
  EXPECT_EQ(last_request_.query.count("flag"), 1u);
  EXPECT_EQ(last_request_.query.count("x"), 2u);
  EXPECT_EQ(last_request_.Header("x-hub-signature-256"), "sha256=abc");
  EXPECT_EQ(last_request_.Header("host"), "x");
  EXPECT_EQ(last_request_.Header("x-dup"), "a,b");
  EXPECT_EQ(last_request_.remote_address, "127.0.0.1");
}

TEST_F(ServerTest, PipelinedRequestsAreAnsweredInOrder) {
  StartServer();
  RawConnection c(server_->port());
  ASSERT_TRUE(
      c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\none"
             "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\ntwo"));
  auto first = c.ReadResponse();
  auto second = c.ReadResponse();
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(first->body, "one");
  EXPECT_EQ(second->body, "two");
}

TEST_F(ServerTest, ConnectionCloseIsHonoured) {
  StartServer();
  RawConnection c(server_->port());
  ASSERT_TRUE(c.Send("GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  auto response = c.ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->Header("connection"), "close");
  EXPECT_TRUE(c.WaitForClose(milliseconds(2000)));
}

TEST_F(ServerTest, ExpectContinueGetsAnInterimResponse) {
  StartServer();
  RawConnection c(server_->port());
  ASSERT_TRUE(c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"));
  EXPECT_EQ(c.ReadBytes(25), "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_TRUE(c.Send("body"));
  auto response = c.ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "body");
}

TEST_F(ServerTest, BodyOverLimitIs413AndNeverReachesTheHandler) {
  options_.limits.body = 1024;
  StartServer();
  {
    RawConnection c(server_->port());
    ASSERT_TRUE(c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n"));
    c.Send(std::string(4096, 'a'));  // may fail once the server has closed
    auto response = c.ReadResponse();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 413);
    EXPECT_EQ(response->Header("connection"), "close");
    EXPECT_THAT(response->body, HasSubstr(R"("error":"too_large")"));
    EXPECT_TRUE(c.WaitForClose(milliseconds(3000)));
  }
  {
    // Chunked: the limit is found while reading the body.
    RawConnection c(server_->port());
    std::string chunk(800, 'b');
    ASSERT_TRUE(c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"));
    c.Send("320\r\n" + chunk + "\r\n320\r\n" + chunk + "\r\n0\r\n\r\n");
    auto response = c.ReadResponse();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 413);
  }
  {
    // Exactly at the limit is fine.
    RawConnection c(server_->port());
    ASSERT_TRUE(
        c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1024\r\n\r\n" + std::string(1024, 'c')));
    auto response = c.ReadResponse();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 200);
  }
  EXPECT_EQ(echo_calls_.load(), 1);
}

TEST_F(ServerTest, HugeHeadersAre431) {
  options_.limits.header_total = 1024;
  StartServer();
  RawConnection c(server_->port());
  ASSERT_TRUE(c.Send("GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(4000, 'h') + "\r\n\r\n"));
  auto response = c.ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 431);
  EXPECT_THAT(response->body, HasSubstr(R"("error":"headers_too_large")"));
  EXPECT_TRUE(c.WaitForClose(milliseconds(3000)));
}

TEST_F(ServerTest, NotFoundAndMethodNotAllowed) {
  StartServer();
  RawConnection c(server_->port());
  ASSERT_TRUE(c.Send("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto not_found = c.ReadResponse();
  ASSERT_TRUE(not_found.has_value());
  EXPECT_EQ(not_found->status, 404);
  EXPECT_THAT(not_found->body, HasSubstr(R"("error":"not_found")"));

  ASSERT_TRUE(c.Send("DELETE /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto not_allowed = c.ReadResponse();
  ASSERT_TRUE(not_allowed.has_value());
  EXPECT_EQ(not_allowed->status, 405);
  EXPECT_EQ(not_allowed->Header("allow"), "GET, HEAD");
}

TEST_F(ServerTest, MalformedRequestIs400AndCloses) {
  StartServer();
  for (const char* garbage : {"GET / HTTX/1.1\r\nHost: x\r\n\r\n", "GET / HTTP/1.1\r\nBad Header\r\n\r\n",
                              "POST /echo HTTP/1.1\r\nContent-Length: abc\r\n\r\n", "\x01\x02\x03\r\n\r\n"}) {
    RawConnection c(server_->port());
    ASSERT_TRUE(c.Send(garbage));
    auto response = c.ReadResponse();
    ASSERT_TRUE(response.has_value()) << garbage;
    EXPECT_EQ(response->status, 400) << garbage;
    EXPECT_THAT(response->body, HasSubstr(R"("error":"bad_http")"));
    EXPECT_TRUE(c.WaitForClose(milliseconds(3000)));
  }
}

TEST_F(ServerTest, SlowClientGets408WithinReadTimeout) {
  StartServer();
  for (const char* half :
       {"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhalf", "GET /hello HTTP/1.1\r\nHo"}) {
    RawConnection c(server_->port());
    const auto start = SteadyClock::now();
    ASSERT_TRUE(c.Send(half));
    auto response = c.ReadResponse(milliseconds(3000));
    ASSERT_TRUE(response.has_value()) << half;
    EXPECT_EQ(response->status, 408);
    EXPECT_THAT(response->body, HasSubstr(R"("error":"timeout")"));
    EXPECT_TRUE(c.WaitForClose(milliseconds(3000)));
    EXPECT_GE(Since(start), milliseconds(250));
    EXPECT_LT(Since(start), milliseconds(2000));
  }
  EXPECT_EQ(echo_calls_.load(), 0);
}

TEST_F(ServerTest, TricklingClientIsStillCutOff) {
  StartServer();
  RawConnection c(server_->port());
  const auto start = SteadyClock::now();
  // One byte every 50 ms: each read makes progress, but the request as a whole is too slow.
  const std::string request = "GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: 0123456789\r\n\r\n";
  for (char ch : request) {
    if (c.Readable() || !c.Send(std::string(1, ch))) break;
    std::this_thread::sleep_for(milliseconds(50));
  }
  auto response = c.ReadResponse(milliseconds(1000));
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 408);
  EXPECT_LT(Since(start), milliseconds(1500));
}

TEST_F(ServerTest, IdleConnectionsAreClosedSilently) {
  StartServer();
  {
    // A keep-alive connection after its request.
    RawConnection c(server_->port());
    ASSERT_TRUE(c.Send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_TRUE(c.ReadResponse().has_value());
    const auto start = SteadyClock::now();
    EXPECT_TRUE(c.WaitForClose(milliseconds(3000)));
    EXPECT_TRUE(c.buffered().empty()) << c.buffered();
    EXPECT_GE(Since(start), milliseconds(250));
  }
  {
    // A connection that never sends anything.
    RawConnection c(server_->port());
    EXPECT_TRUE(c.WaitForClose(milliseconds(3000)));
    EXPECT_TRUE(c.buffered().empty()) << c.buffered();
  }
  EXPECT_TRUE(Eventually([&] { return server_->open_connections() == 0; }));
}

TEST_F(ServerTest, ConnectionsOverTheCapGet503) {
  options_.max_connections = 2;
  options_.read_timeout = milliseconds(5000);
  options_.idle_timeout = milliseconds(5000);
  StartServer();
  auto first = std::make_unique<RawConnection>(server_->port());
  RawConnection second(server_->port());
  for (RawConnection* c : {first.get(), &second}) {
    ASSERT_TRUE(c->Send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto response = c->ReadResponse();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 200);
  }
  EXPECT_EQ(server_->open_connections(), 2u);

  RawConnection third(server_->port());
  auto rejected = third.ReadResponse();
  ASSERT_TRUE(rejected.has_value());
  EXPECT_EQ(rejected->status, 503);
  EXPECT_THAT(rejected->body, HasSubstr(R"("error":"over_capacity")"));
  EXPECT_TRUE(third.WaitForClose(milliseconds(3000)));

  // A slot frees up when a connection closes.
  first.reset();
  ASSERT_TRUE(Eventually([&] { return server_->open_connections() == 1; }));
  RawConnection fourth(server_->port());
  ASSERT_TRUE(fourth.Send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto response = fourth.ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
}

TEST_F(ServerTest, ThrowingHandlerGets500AndServerCarriesOn) {
  StartServer();
  RawConnection c(server_->port());
  ASSERT_TRUE(c.Send("GET /boom HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto boom = c.ReadResponse();
  ASSERT_TRUE(boom.has_value());
  EXPECT_EQ(boom->status, 500);
  EXPECT_THAT(boom->body, HasSubstr(R"("error":"internal")"));
  ASSERT_TRUE(c.Send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto ok = c.ReadResponse();
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->status, 200);
}

TEST_F(ServerTest, ObserverSeesLowCardinalityRouteLabels) {
  options_.limits.body = 16;
  StartServer();
  RawConnection c(server_->port());
  for (const char* request :
       {"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST /webhook/alpha HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        "POST /webhook/beta HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        "GET /no/such/thing HTTP/1.1\r\nHost: x\r\n\r\n", "PUT /hello HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"}) {
    ASSERT_TRUE(c.Send(request));
    ASSERT_TRUE(c.ReadResponse().has_value()) << request;
  }
  ASSERT_TRUE(Eventually([&] { return Observed().size() == 6; }));
  EXPECT_THAT(Observed(), ::testing::ElementsAre(std::pair<std::string, int>{"/hello", 200},
                                                 std::pair<std::string, int>{"/webhook/", 200},
                                                 std::pair<std::string, int>{"/webhook/", 200},
                                                 std::pair<std::string, int>{"unmatched", 404},
                                                 std::pair<std::string, int>{"/hello", 405},
                                                 std::pair<std::string, int>{"rejected", 413}));
}

TEST_F(ServerTest, SlowHandlerDoesNotStallOtherConnections) {
  options_.threads = 1;
  options_.handler_threads = 4;
  slow_handler_time_ = milliseconds(1000);
  StartServer();
  RawConnection slow(server_->port());
  ASSERT_TRUE(slow.Send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(slow_started_.Wait(milliseconds(2000)));
  const auto start = SteadyClock::now();
  RawConnection fast(server_->port());
  ASSERT_TRUE(fast.Send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto response = fast.ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
  EXPECT_LT(Since(start), milliseconds(500));
  auto slow_response = slow.ReadResponse();
  ASSERT_TRUE(slow_response.has_value());
  EXPECT_EQ(slow_response->status, 200);
}

TEST_F(ServerTest, StopWaitsForInFlightRequest) {
  slow_handler_time_ = milliseconds(500);
  options_.idle_timeout = milliseconds(10000);
  StartServer();
  const uint16_t port = server_->port();
  RawConnection idle(port);  // an idle keep-alive connection is closed at once
  ASSERT_TRUE(idle.Send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(idle.ReadResponse().has_value());

  RawConnection busy(port);
  ASSERT_TRUE(busy.Send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(slow_started_.Wait(milliseconds(2000)));
  const auto start = SteadyClock::now();
  server_->Stop(milliseconds(5000));
  EXPECT_GE(Since(start), milliseconds(300));
  EXPECT_LT(Since(start), milliseconds(3000));

  auto response = busy.ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, R"({"slow":true})");
  EXPECT_EQ(response->Header("connection"), "close");
  EXPECT_TRUE(busy.WaitForClose(milliseconds(1000)));
  EXPECT_TRUE(idle.WaitForClose(milliseconds(1000)));
  EXPECT_EQ(server_->open_connections(), 0u);

  RawConnection late(port);
  EXPECT_FALSE(late.connected());
  server_->Stop();  // twice is fine
}

TEST_F(ServerTest, StopAfterDrainClosesWhatIsLeft) {
  slow_handler_time_ = milliseconds(600);
  StartServer();
  RawConnection busy(server_->port());
  ASSERT_TRUE(busy.Send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(slow_started_.Wait(milliseconds(2000)));
  server_->Stop(milliseconds(50));
  EXPECT_TRUE(busy.WaitForClose(milliseconds(1000)));
  EXPECT_TRUE(busy.buffered().empty());
  EXPECT_EQ(server_->open_connections(), 0u);
}

TEST_F(ServerTest, DestructorStopsAndStopWithoutStartIsHarmless) {
  {
    Server never_started(options_, router_);
    never_started.Stop();
  }
  StartServer();
  RawConnection c(server_->port());
  ASSERT_TRUE(c.Send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(c.ReadResponse().has_value());
  server_.reset();
  EXPECT_TRUE(c.WaitForClose(milliseconds(1000)));
}

TEST_F(ServerTest, StartFailsWhenThePortIsTaken) {
  StartServer();
  ServerOptions options = options_;
  options.port = server_->port();
  Server second(options, router_);
  absl::Status status = second.Start();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_EQ(server_->Start().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(ServerTest, HandlersInlineOnIoThreads) {
  options_.handler_threads = 0;
  StartServer();
  RawConnection c(server_->port());
  ASSERT_TRUE(c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"));
  auto response = c.ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->body, "hi");
}

TEST_F(ServerTest, ManyConcurrentClients) {
  StartServer();
  std::vector<std::future<int>> results;
  for (int i = 0; i < 16; ++i) {
    results.push_back(std::async(std::launch::async, [port = server_->port()] {
      RawConnection c(port);
      int ok = 0;
      for (int j = 0; j < 20; ++j) {
        if (!c.Send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")) break;
        auto r = c.ReadResponse();
        if (r && r->status == 200) ++ok;
      }
      return ok;
    }));
  }
  for (auto& r : results) EXPECT_EQ(r.get(), 20);
}

// ---------------------------------------------------------------------------------------------------------
// HEAD.

TEST_F(ServerTest, HeadOnGetRouteHasTheHeadersAndNoBody) {
  options_.idle_timeout = milliseconds(5000);
  StartServer();
  RawConnection c(server_->port());
  ASSERT_TRUE(c.Send("HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto head = c.ReadHeadResponse();
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->Header("content-length"), "17");  // what GET would send
  EXPECT_EQ(head->Header("content-type"), "application/json");
  EXPECT_EQ(head->Header("connection"), "");
  // No body follows: nothing more arrives, and a GET on the same connection is read cleanly after it.
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_FALSE(c.Readable());
  EXPECT_TRUE(c.buffered().empty()) << c.buffered();
  ASSERT_TRUE(c.Send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto get = c.ReadResponse();
  ASSERT_TRUE(get.has_value());
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(get->body, R"({"hello":"world"})");

  // Pipelined: HEAD then GET in one write.
  ASSERT_TRUE(c.Send("HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
  head = c.ReadHeadResponse();
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->status, 200);
  get = c.ReadResponse();
  ASSERT_TRUE(get.has_value());
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(get->body, R"({"hello":"world"})");
}

TEST_F(ServerTest, HeadOnPostOnlyRouteIs405WithoutBodyAndKeepsTheConnection) {
  options_.idle_timeout = milliseconds(5000);
  StartServer();
  RawConnection c(server_->port());
  for (const char* path : {"/echo", "/webhook/alpha"}) {
    ASSERT_TRUE(c.Send(std::string("HEAD ") + path + " HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto head = c.ReadHeadResponse();
    ASSERT_TRUE(head.has_value()) << path;
    EXPECT_EQ(head->status, 405) << path;
    EXPECT_EQ(head->Header("allow"), "POST") << path;
    EXPECT_EQ(head->Header("connection"), "") << path;  // no body was sent: nothing to skip
    std::this_thread::sleep_for(milliseconds(100));
    EXPECT_FALSE(c.Readable()) << path;
    EXPECT_TRUE(c.buffered().empty()) << c.buffered();
  }
  ASSERT_TRUE(c.Send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto get = c.ReadResponse();
  ASSERT_TRUE(get.has_value());
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(get->body, R"({"hello":"world"})");
  EXPECT_EQ(echo_calls_.load(), 0);
}

// ---------------------------------------------------------------------------------------------------------
// Framing (RFC 9112 §6) on the wire: the right status, the connection closed, and the request pipelined after
// the refused one never handled.

TEST_F(ServerTest, FramingViolationsAreRefusedAndCloseAndWhatFollowsIsNeverHandled) {
  StartServer();
  const std::string next = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi";
  struct Case {
    const char* name;
    std::string request;
    int status;
    std::string label;
  };
  const std::string post = "POST /echo HTTP/1.1\r\nHost: x\r\n";
  const std::vector<Case> cases = {
      {"te_identity", post + "Transfer-Encoding: identity\r\n\r\n", 400, "bad_http"},
      {"te_xchunked", post + "Transfer-Encoding: xchunked\r\n\r\n", 400, "bad_http"},
      {"te_chunked_identity", post + "Transfer-Encoding: chunked, identity\r\n\r\n", 400, "bad_http"},
      {"te_gzip_chunked", post + "Transfer-Encoding: gzip, chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n", 501,
       "not_implemented"},
      {"te_with_content_length",
       post + "Transfer-Encoding: chunked\r\nContent-Length: 12\r\n\r\n2\r\nhi\r\n0\r\n\r\n", 400,
       "bad_http"},
      {"content_lengths_differ", post + "Content-Length: 2\r\nContent-Length: 3\r\n\r\nhi!", 400, "bad_http"},
      {"obs_fold", post + "X-A: a\r\n b\r\nContent-Length: 2\r\n\r\nhi", 400, "bad_http"},
      {"bare_cr", post + "X-A: a\rb\r\nContent-Length: 2\r\n\r\nhi", 400, "bad_http"},
      {"bare_lf", "POST /echo HTTP/1.1\nHost: x\r\nContent-Length: 2\r\n\r\nhi", 400, "bad_http"},
      {"space_before_colon", post + "Content-Length : 2\r\n\r\nhi", 400, "bad_http"},
      {"missing_host", "POST /echo HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi", 400, "bad_http"},
      {"two_hosts", post + "Host: y\r\nContent-Length: 2\r\n\r\nhi", 400, "bad_http"},
      {"te_in_http10", "POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n", 400,
       "bad_http"},
      {"http20", "POST /echo HTTP/2.0\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi", 505,
       "version_not_supported"},
      {"content_encoding_gzip", post + "Content-Encoding: gzip\r\nContent-Length: 2\r\n\r\nhi", 415,
       "unsupported_encoding"},
  };
  for (const Case& c : cases) {
    RawConnection conn(server_->port());
    ASSERT_TRUE(conn.Send(c.request + next)) << c.name;
    auto response = conn.ReadResponse();
    ASSERT_TRUE(response.has_value()) << c.name;
    EXPECT_EQ(response->status, c.status) << c.name;
    EXPECT_THAT(response->body, HasSubstr("\"error\":\"" + c.label + "\"")) << c.name;
    EXPECT_EQ(response->Header("connection"), "close") << c.name;
    EXPECT_TRUE(conn.WaitForClose(milliseconds(2000))) << c.name;
    EXPECT_TRUE(conn.buffered().empty()) << c.name << ": " << conn.buffered();  // no second response
  }
  EXPECT_EQ(echo_calls_.load(), 0);
  const std::vector<Refused> refusals = Refusals();
  ASSERT_EQ(refusals.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(std::get<0>(refusals[i]), "rejected") << cases[i].name;
    EXPECT_EQ(std::get<1>(refusals[i]), cases[i].label) << cases[i].name;
  }
}

TEST_F(ServerTest, SmuggledRequestInABodyWithoutFramingIsNeverHandled) {
  StartServer();
  // A front end that takes "identity" or an unknown coding as "no body" would pass on the /echo request as a
  // request of its own; we refuse the whole thing.
  const std::string smuggled = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
  for (const char* coding : {"identity", "xchunked"}) {
    RawConnection c(server_->port());
    ASSERT_TRUE(c.Send(std::string("POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ") + coding +
                       "\r\n\r\n" + smuggled));
    auto response = c.ReadResponse();
    ASSERT_TRUE(response.has_value()) << coding;
    EXPECT_EQ(response->status, 400) << coding;
    EXPECT_THAT(response->body, HasSubstr(R"("error":"bad_http")"));
    EXPECT_EQ(response->Header("connection"), "close");
    EXPECT_TRUE(c.WaitForClose(milliseconds(2000))) << coding;
    EXPECT_TRUE(c.buffered().empty()) << c.buffered();
  }
  EXPECT_EQ(echo_calls_.load(), 0);
  EXPECT_EQ(health_calls_.load(), 0);
}

TEST_F(ServerTest, ChunkedBodyIsDecodedForTheHandler) {
  StartServer();
  RawConnection c(server_->port());
  // In pieces, split inside sizes, extensions, data and trailers; then a pipelined GET.
  const std::vector<std::string> pieces = {
      "POST /echo?q=chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;na", "me=value\r\nhel",
      "lo\r\n7;flag\r\n world!\r\n0\r\nX-Trai", "ler: t\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n"};
  for (const std::string& piece : pieces) {
    ASSERT_TRUE(c.Send(piece));
    std::this_thread::sleep_for(milliseconds(20));
  }
  auto response = c.ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "hello world!");
  EXPECT_EQ(response->Header("x-echo-query"), "chunked");
  const Request request = LastRequest();
  EXPECT_EQ(request.body, "hello world!");
  EXPECT_EQ(request.Header("transfer-encoding"), "chunked");
  EXPECT_EQ(request.Header("x-trailer"), "");  // trailers are dropped
  auto get = c.ReadResponse();
  ASSERT_TRUE(get.has_value());
  EXPECT_EQ(get->status, 200);

  // Repeated identical Content-Length is one length.
  ASSERT_TRUE(c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok"));
  response = c.ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "ok");
  EXPECT_EQ(echo_calls_.load(), 2);
}

// ---------------------------------------------------------------------------------------------------------
// Floods and trickles.

// Sends `start`, then `piece` over and over until the server answers (or `max_pieces`).
void Flood(RawConnection& c, const std::string& start, const std::string& piece, int max_pieces = 1024) {
  if (!c.Send(start)) return;
  for (int i = 0; i < max_pieces && !c.Readable(); ++i) {
    if (!c.Send(piece)) return;
  }
}

TEST_F(ServerTest, ChunkExtensionFloodIsRefusedAndClosedQuickly) {
  StartServer();
  RawConnection c(server_->port());
  const auto start = SteadyClock::now();
  std::string piece;
  while (piece.size() < 1024) piece += "a=b;";
  Flood(c, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1;", piece);
  auto response = c.ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 413);
  EXPECT_THAT(response->body, HasSubstr(R"("error":"too_large")"));
  EXPECT_TRUE(c.WaitForClose(milliseconds(2000)));
  EXPECT_LT(Since(start), milliseconds(1500));
  EXPECT_EQ(echo_calls_.load(), 0);
}

TEST_F(ServerTest, TrailerFloodIsRefusedAndClosedQuickly) {
  StartServer();
  RawConnection c(server_->port());
  const auto start = SteadyClock::now();
  Flood(c, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n",
        "X-Flood: " + std::string(100, 'f') + "\r\n");
  auto response = c.ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 431);
  EXPECT_THAT(response->body, HasSubstr(R"("error":"headers_too_large")"));
  EXPECT_TRUE(c.WaitForClose(milliseconds(2000)));
  EXPECT_LT(Since(start), milliseconds(1500));
  EXPECT_EQ(echo_calls_.load(), 0);
}

// Sends `data` one byte every 50 ms until the server answers or hangs up.
void Trickle(RawConnection& c, std::string_view data) {
  for (char ch : data) {
    if (c.Readable() || !c.Send(std::string(1, ch))) return;
    std::this_thread::sleep_for(milliseconds(50));
  }
}

TEST_F(ServerTest, TrickledHeadIsCutOffAtHeaderTimeout) {
  options_.header_timeout = milliseconds(300);
  options_.read_timeout = milliseconds(3000);
  StartServer();
  RawConnection c(server_->port());
  const auto start = SteadyClock::now();
  // Bytes keep arriving (every read makes progress), but the head as a whole is too slow.
  Trickle(c, "GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: " + std::string(100, 's') + "\r\n\r\n");
  auto response = c.ReadResponse(milliseconds(1000));
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 408);
  EXPECT_THAT(response->body, HasSubstr(R"("error":"timeout")"));
  EXPECT_TRUE(c.WaitForClose(milliseconds(2000)));
  EXPECT_GE(Since(start), milliseconds(250));
  EXPECT_LT(Since(start), milliseconds(1500));  // header_timeout, not read_timeout
  EXPECT_THAT(Refusals(), ::testing::ElementsAre(Refused{"rejected", "timeout", "127.0.0.1"}));
}

TEST_F(ServerTest, TrickledBodyIsCutOffAtReadTimeout) {
  options_.header_timeout = milliseconds(300);
  options_.read_timeout = milliseconds(800);
  StartServer();
  RawConnection c(server_->port());
  const auto start = SteadyClock::now();
  ASSERT_TRUE(c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"));
  // The head came in time; the body keeps coming, a byte at a time, past the whole request's deadline.
  Trickle(c, std::string(100, 'b'));
  auto response = c.ReadResponse(milliseconds(1000));
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 408);
  EXPECT_THAT(response->body, HasSubstr(R"("error":"timeout")"));
  EXPECT_TRUE(c.WaitForClose(milliseconds(2000)));
  EXPECT_GE(Since(start), milliseconds(750));  // not header_timeout
  EXPECT_LT(Since(start), milliseconds(2000));
  EXPECT_EQ(echo_calls_.load(), 0);
  EXPECT_THAT(Refusals(), ::testing::ElementsAre(Refused{"/echo", "timeout", "127.0.0.1"}));
}

// ---------------------------------------------------------------------------------------------------------
// Route options.

TEST_F(ServerTest, RouteBodyLimitIsAppliedFromTheHead) {
  StartServer();
  {
    // Over the route's limit (16) though far under the server's: 413 from the head, before any body byte.
    RawConnection c(server_->port());
    ASSERT_TRUE(c.Send("POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n"));
    auto response = c.ReadResponse();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 413);
    EXPECT_THAT(response->body, HasSubstr(R"("error":"too_large")"));
    EXPECT_EQ(response->Header("connection"), "close");
    EXPECT_TRUE(c.WaitForClose(milliseconds(2000)));
  }
  {
    // Chunked: refused when the body passes the limit.
    RawConnection c(server_->port());
    ASSERT_TRUE(
        c.Send("POST /small HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               "a\r\n0123456789\r\n7\r\n0123456\r\n0\r\n\r\n"));
    auto response = c.ReadResponse();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 413);
    EXPECT_TRUE(c.WaitForClose(milliseconds(2000)));
  }
  EXPECT_EQ(small_calls_.load(), 0);
  {
    // At the limit, both ways, on one connection; and another route keeps the server's limit.
    RawConnection c(server_->port());
    ASSERT_TRUE(c.Send("POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 16\r\n\r\n0123456789abcdef"));
    auto response = c.ReadResponse();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->body, "0123456789abcdef");
    ASSERT_TRUE(
        c.Send("POST /small HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               "a\r\n0123456789\r\n6\r\nabcdef\r\n0\r\n\r\n"));
    response = c.ReadResponse();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->body, "0123456789abcdef");
    ASSERT_TRUE(
        c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + std::string(100, 'e')));
    response = c.ReadResponse();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 200);
  }
  EXPECT_EQ(small_calls_.load(), 2);
  EXPECT_THAT(Refusals(), ::testing::ElementsAre(Refused{"/small", "too_large", "127.0.0.1"},
                                                 Refused{"/small", "too_large", "127.0.0.1"}));
}

TEST_F(ServerTest, RouteBodyLimitNeverRaisesTheServers) {
  options_.limits.body = 8;
  StartServer();
  RawConnection c(server_->port());
  ASSERT_TRUE(c.Send("POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789"));
  auto response = c.ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 413);
  EXPECT_EQ(small_calls_.load(), 0);
}

TEST_F(ServerTest, PrecheckRefusesFromTheHeadWithoutReadingTheBody) {
  StartServer();
  {
    // A large body announced and never sent: the answer comes anyway, and the connection is closed.
    RawConnection c(server_->port());
    ASSERT_TRUE(c.Send("POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: 500000\r\n\r\n"));
    auto response = c.ReadResponse();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 401);
    EXPECT_THAT(response->body, HasSubstr(R"("error":"unauthorized")"));
    EXPECT_EQ(response->Header("connection"), "close");
    EXPECT_TRUE(c.WaitForClose(milliseconds(2000)));
  }
  {
    // With Expect: 100-continue the client is told no at once (no 100 first).
    RawConnection c(server_->port());
    ASSERT_TRUE(
        c.Send("POST /hook HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 500000\r\n\r\n"));
    auto response = c.ReadResponse();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 401);
    EXPECT_TRUE(c.WaitForClose(milliseconds(2000)));
  }
  {
    // A client that sends the body regardless can still read the answer (the server discards, then closes).
    RawConnection c(server_->port());
    ASSERT_TRUE(c.Send("POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n"));
    c.Send(std::string(200000, 'b'));  // may fail once the server has closed
    auto response = c.ReadResponse();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 401);
  }
  EXPECT_EQ(hook_calls_.load(), 0);
  {
    // Passing the precheck, the body is read and handled.
    RawConnection c(server_->port());
    ASSERT_TRUE(c.Send("POST /hook HTTP/1.1\r\nHost: x\r\nX-Secret: s\r\nContent-Length: 5\r\n\r\nhello"));
    auto response = c.ReadResponse();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->body, "5");
  }
  EXPECT_EQ(hook_calls_.load(), 1);
  EXPECT_FALSE(precheck_saw_body_.load());
}

TEST_F(ServerTest, AnswerFromTheHeadHonoursConnectionClose) {
  options_.idle_timeout = milliseconds(5000);
  StartServer();
  // 404, 405 and a precheck's refusal, none with a body: the client asked to close (HTTP/1.1 "close", or
  // HTTP/1.0 without keep-alive), so the server must close after the answer (RFC 9112 §9.3, §9.6).
  for (const char* request :
       {"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "GET /nope HTTP/1.0\r\n\r\n",
        "DELETE /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "GET /guarded HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "GET /guarded HTTP/1.0\r\n\r\n"}) {
    RawConnection c(server_->port());
    ASSERT_TRUE(c.Send(request));
    auto response = c.ReadResponse();
    ASSERT_TRUE(response.has_value()) << request;
    EXPECT_NE(response->status, 200) << request;
    EXPECT_EQ(response->Header("connection"), "close") << request;
    EXPECT_TRUE(c.WaitForClose(milliseconds(1000))) << request;
  }
  // Without "close" they keep the connection.
  RawConnection c(server_->port());
  ASSERT_TRUE(c.Send("GET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /guarded HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto not_found = c.ReadResponse();
  ASSERT_TRUE(not_found.has_value());
  EXPECT_EQ(not_found->status, 404);
  EXPECT_EQ(not_found->Header("connection"), "");
  auto refused = c.ReadResponse();
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 401);
  EXPECT_EQ(refused->Header("connection"), "");
  ASSERT_TRUE(c.Send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto ok = c.ReadResponse();
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->status, 200);
}

TEST_F(ServerTest, AnswerFromTheHeadIsBoundedByWriteTimeoutNotTheHeadDeadline) {
  // A precheck's answer is written while the head's deadline would still be running: a client slow to read
  // it must get all of it (write_timeout bounds the write), not have it cut off at header_timeout.
  options_.header_timeout = milliseconds(300);
  options_.read_timeout = milliseconds(300);
  options_.idle_timeout = milliseconds(5000);
  RouteOptions big;
  big.precheck = [](const Request&) -> std::optional<Response> {
    return Response::Text(403, std::string(8 << 20, 'x'));
  };
  router_.Add(
      "GET", "/big-refusal", [](const Request&) { return Response::Json(200, "{}"); }, big);
  StartServer();
  RawConnection c(server_->port(), /*receive_buffer=*/4096);
  ASSERT_TRUE(c.Send("GET /big-refusal HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::this_thread::sleep_for(milliseconds(700));
  auto response = c.ReadResponse(milliseconds(10000));
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 403);
  EXPECT_EQ(response->body.size(), size_t{8} << 20);
}

// ---------------------------------------------------------------------------------------------------------
// Per-client connection cap.

TEST_F(ServerTest, ConnectionsOverTheClientCapGet429) {
  options_.max_connections_per_client = 2;
  options_.read_timeout = milliseconds(5000);
  options_.idle_timeout = milliseconds(5000);
  StartServer();
  auto first = std::make_unique<RawConnection>(server_->port());
  RawConnection second(server_->port());
  for (RawConnection* c : {first.get(), &second}) {
    ASSERT_TRUE(c->Send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto response = c->ReadResponse();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 200);
  }
  {
    RawConnection third(server_->port());
    auto rejected = third.ReadResponse();
    ASSERT_TRUE(rejected.has_value());
    EXPECT_EQ(rejected->status, 429);
    EXPECT_THAT(rejected->body, HasSubstr(R"("error":"client_over_capacity")"));
    EXPECT_EQ(rejected->Header("connection"), "close");
    EXPECT_TRUE(third.WaitForClose(milliseconds(2000)));
  }
  // The first two still work.
  for (RawConnection* c : {first.get(), &second}) {
    ASSERT_TRUE(c->Send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto response = c->ReadResponse();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 200);
  }
  // When one closes, a new one is admitted.
  first.reset();
  ASSERT_TRUE(Eventually([&] { return server_->open_connections() == 1; }));
  RawConnection fourth(server_->port());
  ASSERT_TRUE(fourth.Send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto response = fourth.ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
  EXPECT_THAT(Refusals(), ::testing::ElementsAre(Refused{"rejected", "client_over_capacity", "127.0.0.1"}));
}

TEST_F(ServerTest, ClientCapCountsTheClientNamedByTheTrustedHeader) {
  options_.max_connections_per_client = 1;
  options_.client_address_header = "x-client-ip";
  options_.read_timeout = milliseconds(5000);
  options_.idle_timeout = milliseconds(5000);
  StartServer();
  auto inspect = [](std::string_view client) {
    return "GET /inspect HTTP/1.1\r\nHost: x\r\nX-Client-IP: " + std::string(client) + "\r\n\r\n";
  };
  // Three connections from 127.0.0.1, for three clients: all served although the cap is 1.
  RawConnection a(server_->port()), b(server_->port()), c(server_->port());
  const std::vector<std::tuple<RawConnection*, std::string, std::string>> clients = {
      {&a, "10.0.0.1", "10.0.0.1"}, {&b, "10.0.0.2,", "10.0.0.2"}, {&c, "192.0.2.7, 10.0.0.3", "10.0.0.3"}};
  for (const auto& [conn, header, client] : clients) {
    ASSERT_TRUE(conn->Send(inspect(header)));
    auto response = conn->ReadResponse();
    ASSERT_TRUE(response.has_value()) << header;
    EXPECT_EQ(response->status, 200) << header;
    const Request request = LastRequest();
    // The rightmost (non-empty) element, the one the nearest proxy added.
    EXPECT_EQ(request.remote_address, client);
    EXPECT_EQ(request.peer_address, "127.0.0.1");
  }
  // A fourth for a client already at its cap is refused.
  RawConnection d(server_->port());
  ASSERT_TRUE(d.Send(inspect("10.0.0.1")));
  auto rejected = d.ReadResponse();
  ASSERT_TRUE(rejected.has_value());
  EXPECT_EQ(rejected->status, 429);
  EXPECT_THAT(rejected->body, HasSubstr(R"("error":"client_over_capacity")"));
  EXPECT_TRUE(d.WaitForClose(milliseconds(2000)));
  // The others carry on.
  for (const auto& [conn, header, client] : clients) {
    ASSERT_TRUE(conn->Send(inspect(header)));
    auto response = conn->ReadResponse();
    ASSERT_TRUE(response.has_value()) << header;
    EXPECT_EQ(response->status, 200) << header;
  }
  EXPECT_THAT(Refusals(), ::testing::ElementsAre(Refused{"rejected", "client_over_capacity", "10.0.0.1"}));
}

// ---------------------------------------------------------------------------------------------------------
// The refusal observer.

TEST_F(ServerTest, RefusalObserverSeesEachReasonWithItsRoute) {
  options_.limits.header_total = 1024;
  options_.header_timeout = milliseconds(200);
  options_.read_timeout = milliseconds(300);
  StartServer();
  auto refuse = [&](const std::string& request, int status) {
    RawConnection c(server_->port());
    ASSERT_TRUE(c.Send(request));
    auto response = c.ReadResponse();
    ASSERT_TRUE(response.has_value()) << request;
    EXPECT_EQ(response->status, status) << request;
  };
  refuse("GET /hello HTTP/1.1\r\nHo", 408);                                         // head timeout
  refuse("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhalf", 408);  // body timeout
  refuse("POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n", 413);     // the route's limit
  refuse("GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(2000, 'h') + "\r\n\r\n", 431);
  refuse("GET /hello HTTP/1.1\r\nHost : x\r\n\r\n", 400);
  refuse("POST /small HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n11\r\n", 413);
  // Router answers and precheck answers are not refusals of the server's.
  refuse("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 404);
  refuse("POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n", 401);
  EXPECT_THAT(Refusals(), ::testing::ElementsAre(Refused{"rejected", "timeout", "127.0.0.1"},
                                                 Refused{"/echo", "timeout", "127.0.0.1"},
                                                 Refused{"/small", "too_large", "127.0.0.1"},
                                                 Refused{"rejected", "headers_too_large", "127.0.0.1"},
                                                 Refused{"rejected", "bad_http", "127.0.0.1"},
                                                 Refused{"/small", "too_large", "127.0.0.1"}));
}

}  // namespace
}  // namespace protectogram::http
