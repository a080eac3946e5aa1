// The server on real loopback sockets, driven byte by byte with RawConnection.
#include "libs/http/server.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
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

  ServerOptions options_;
  Router router_;
  std::unique_ptr<Server> server_;
  std::atomic<int> echo_calls_{0};
  milliseconds slow_handler_time_{500};
  Latch slow_started_;
  std::mutex observed_mu_;
  std::vector<std::pair<std::string, int>> observed_;
  Request last_request_;
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

}  // namespace
}  // namespace protectogram::http
