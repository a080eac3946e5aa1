// The client against our own server, a socket that never answers, and a loopback TLS server with a
// certificate made on the spot.
#include "libs/http/client.h"

#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/ssl.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/http/form.h"
#include "libs/http/server.h"

namespace protectogram::http {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;
using SteadyClock = std::chrono::steady_clock;

milliseconds Since(SteadyClock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(SteadyClock::now() - start);
}

std::string Url(uint16_t port, std::string_view path) {
  return "http://127.0.0.1:" + std::to_string(port) + std::string(path);
}

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions options;
    options.address = "127.0.0.1";
    options.port = 0;
    options.idle_timeout = milliseconds(300);
    Router router;
    router.Add("GET", "/hello", [](const Request& r) {
      Response response = Response::Json(200, R"({"hello":"world"})");
      response.headers.emplace_back("X-Seen-Agent", std::string(r.Header("user-agent")));
      response.headers.emplace_back("X-Seen-Host", std::string(r.Header("host")));
      response.headers.emplace_back("X-Seen-Query", std::string(r.QueryParam("q")));
      return response;
    });
    router.Add("POST", "/form", [](const Request& r) {
      auto fields = FormDecode(r.body);
      std::string out = std::string(r.Header("content-type")) + "|";
      for (const auto& [k, v] : fields) out += k + "=" + v + ";";
      return Response::Text(200, out);
    });
    router.Add("POST", "/json", [](const Request& r) {
      return Response::Json(201, std::string(r.Header("content-type")) + "|" + r.body);
    });
    router.Add("GET", "/teapot",
               [](const Request&) { return Response::Error(418, "teapot", "short and stout"); });
    router.Add("GET", "/big", [](const Request&) { return Response::Text(200, std::string(100000, 'x')); });
    router.Add("GET", "/sleep", [](const Request&) {
      std::this_thread::sleep_for(milliseconds(600));
      return Response::Text(200, "late");
    });
    server_ = std::make_unique<Server>(options, std::move(router));
    ASSERT_TRUE(server_->Start().ok());
  }

  std::unique_ptr<Server> server_;
};

TEST_F(ClientTest, GetReturnsStatusHeadersAndBody) {
  Client client;
  auto response = client.Get(Url(server_->port(), "/hello?q=a%20b"), {{"X-Extra", "1"}});
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, R"({"hello":"world"})");
  EXPECT_EQ(response->Header("content-type"), "application/json");
  EXPECT_EQ(response->Header("server"), "protectogram");
  EXPECT_EQ(response->Header("x-seen-agent"), "protectogram");
  EXPECT_EQ(response->Header("x-seen-host"), "127.0.0.1:" + std::to_string(server_->port()));
  EXPECT_EQ(response->Header("x-seen-query"), "a b");
}

TEST_F(ClientTest, ErrorStatusesAreResponsesNotErrors) {
  Client client;
  auto teapot = client.Get(Url(server_->port(), "/teapot"));
  ASSERT_TRUE(teapot.ok()) << teapot.status();
  EXPECT_EQ(teapot->status, 418);
  EXPECT_THAT(teapot->body, HasSubstr("short and stout"));
  auto missing = client.Get(Url(server_->port(), "/missing"));
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->status, 404);
}

TEST_F(ClientTest, PostFormAndJson) {
  Client client;
  auto form = client.PostForm(Url(server_->port(), "/form"), {{"Body", "hi there & bye"}, {"From", "+7999"}});
  ASSERT_TRUE(form.ok()) << form.status();
  EXPECT_EQ(form->body, "application/x-www-form-urlencoded|Body=hi there & bye;From=+7999;");
  auto json = client.PostJson(Url(server_->port(), "/json"), R"({"a":1})");
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(json->status, 201);
  EXPECT_EQ(json->body, R"(application/json|{"a":1})");
}

TEST_F(ClientTest, ReusesKeepAliveConnections) {
  Client client;
  for (int i = 0; i < 3; ++i) {
    auto response = client.Get(Url(server_->port(), "/hello"));
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(server_->open_connections(), 1u);
  }
  EXPECT_EQ(client.IdleConnectionsForTest(), 1u);
  auto big = client.Get(Url(server_->port(), "/big"));
  ASSERT_TRUE(big.ok()) << big.status();
  EXPECT_EQ(big->body.size(), 100000u);
  EXPECT_EQ(server_->open_connections(), 1u);
}

TEST_F(ClientTest, ReconnectsWhenThePooledConnectionWasClosed) {
  Client client;
  ASSERT_TRUE(client.Get(Url(server_->port(), "/hello")).ok());
  EXPECT_EQ(client.IdleConnectionsForTest(), 1u);
  std::this_thread::sleep_for(milliseconds(600));  // the server's idle_timeout is 300 ms
  auto response = client.PostJson(Url(server_->port(), "/json"), "{}");
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 201);
}

TEST_F(ClientTest, ConcurrentCallsFromManyThreads) {
  Client client;
  std::vector<std::future<int>> results;
  for (int i = 0; i < 8; ++i) {
    results.push_back(std::async(std::launch::async, [&] {
      int ok = 0;
      for (int j = 0; j < 10; ++j) {
        auto r = client.Get(Url(server_->port(), "/hello"));
        if (r.ok() && r->status == 200) ++ok;
      }
      return ok;
    }));
  }
  for (auto& r : results) EXPECT_EQ(r.get(), 10);
  EXPECT_LE(client.IdleConnectionsForTest(), 4u);
}

TEST_F(ClientTest, SlowServerIsDeadlineExceeded) {
  ClientOptions options;
  options.timeout = milliseconds(300);
  Client client(options);
  const auto start = SteadyClock::now();
  auto response = client.Get(Url(server_->port(), "/sleep"));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kDeadlineExceeded) << response.status();
  EXPECT_LT(Since(start), milliseconds(900));
}

TEST_F(ClientTest, ResponseOverTheLimitIsResourceExhausted) {
  ClientOptions options;
  options.max_response_body = 1000;
  Client client(options);
  auto response = client.Get(Url(server_->port(), "/big"));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kResourceExhausted) << response.status();
}

TEST(ClientErrorsTest, ServerThatNeverAnswersTimesOutQuickly) {
  // A listening socket nobody accepts on: the kernel completes the handshake, then nothing ever comes back.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd, 16), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const uint16_t port = ntohs(addr.sin_port);

  ClientOptions options;
  options.connect_timeout = milliseconds(200);
  options.timeout = milliseconds(300);
  Client client(options);
  const auto start = SteadyClock::now();
  auto response = client.PostJson(Url(port, "/anything"), "{}");
  EXPECT_THAT(response.status().code(),
              ::testing::AnyOf(absl::StatusCode::kDeadlineExceeded, absl::StatusCode::kUnavailable))
      << response.status();
  EXPECT_LT(Since(start), milliseconds(1000));

  // A per-request timeout overrides the client's.
  ClientRequest request;
  request.url = Url(port, "/x");
  request.timeout = milliseconds(100);
  const auto again = SteadyClock::now();
  EXPECT_FALSE(client.Do(request).ok());
  EXPECT_LT(Since(again), milliseconds(600));
  ::close(fd);
}

TEST(ClientErrorsTest, RefusedConnectionIsUnavailable) {
  // Bind a port and close it again, so nothing listens there.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  ::close(fd);
  Client client;
  auto response = client.Get(Url(ntohs(addr.sin_port), "/"));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable) << response.status();
}

TEST(ClientErrorsTest, BadUrlsAreInvalidArgument) {
  Client client;
  for (const char* url : {"", "not a url", "ftp://example.com/", "http://", "/relative/path"}) {
    EXPECT_EQ(client.Get(url).status().code(), absl::StatusCode::kInvalidArgument) << url;
  }
  ClientOptions options;
  options.ca_pem = "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n";
  Client bad_ca(options);
  EXPECT_EQ(bad_ca.Get("https://127.0.0.1:1/").status().code(), absl::StatusCode::kInvalidArgument);
}

// --- HTTPS against a loopback TLS server -------------------------------------------------------------------

struct TestCert {
  std::string cert_pem;
  std::string key_pem;
};

// A self-signed certificate (P-256) naming `san`, e.g. "DNS:localhost,IP:127.0.0.1".
TestCert MakeSelfSigned(const char* san) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* x509 = X509_new();
  X509_set_version(x509, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x509), 1);
  X509_gmtime_adj(X509_getm_notBefore(x509), -60);
  X509_gmtime_adj(X509_getm_notAfter(x509), 3600);
  X509_set_pubkey(x509, key);
  X509_NAME* name = X509_get_subject_name(x509);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("protectogram test"), -1, -1, 0);
  X509_set_issuer_name(x509, name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x509, x509, nullptr, nullptr, 0);
  for (auto [nid, value] :
       {std::pair{NID_subject_alt_name, san}, std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    X509_add_ext(x509, ext, -1);
    X509_EXTENSION_free(ext);
  }
  X509_sign(x509, key, EVP_sha256());
  auto to_string = [](BIO* bio) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<size_t>(n));
    BIO_free(bio);
    return out;
  };
  BIO* cert_bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(cert_bio, x509);
  BIO* key_bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(key_bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  TestCert out{to_string(cert_bio), to_string(key_bio)};
  X509_free(x509);
  EVP_PKEY_free(key);
  return out;
}

// Serves HTTPS on 127.0.0.1 with `cert`, one connection at a time, until destroyed; records the SNI name.
class TlsServer {
 public:
  explicit TlsServer(const TestCert& cert) : ctx_(boost::asio::ssl::context::tls_server), acceptor_(ioc_) {
    ctx_.use_certificate_chain(boost::asio::buffer(cert.cert_pem));
    ctx_.use_private_key(boost::asio::buffer(cert.key_pem), boost::asio::ssl::context::pem);
    using boost::asio::ip::tcp;
    acceptor_.open(tcp::v4());
    acceptor_.bind(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { Serve(); });
  }
  ~TlsServer() {
    stop_ = true;
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);  // wakes the blocking accept
    thread_.join();
  }
  uint16_t port() const { return port_; }
  std::string sni() {
    std::lock_guard<std::mutex> lock(mu_);
    return sni_;
  }

 private:
  void Serve() {
    namespace beast = boost::beast;
    while (!stop_) {
      boost::system::error_code ec;
      boost::asio::ip::tcp::socket socket(ioc_);
      acceptor_.accept(socket, ec);
      if (ec) return;
      boost::asio::ssl::stream<boost::asio::ip::tcp::socket> stream(std::move(socket), ctx_);
      stream.handshake(boost::asio::ssl::stream_base::server, ec);
      if (ec) continue;  // the client refused our certificate
      if (const char* name = SSL_get_servername(stream.native_handle(), TLSEXT_NAMETYPE_host_name)) {
        std::lock_guard<std::mutex> lock(mu_);
        sni_ = name;
      }
      beast::flat_buffer buffer;
      beast::http::request<beast::http::string_body> request;
      beast::http::read(stream, buffer, request, ec);
      if (ec) continue;
      beast::http::response<beast::http::string_body> response{beast::http::status::ok, 11};
      response.body() = "secure " + std::string(request.target());
      response.keep_alive(false);
      response.prepare_payload();
      beast::http::write(stream, response, ec);
      stream.shutdown(ec);
    }
  }

  boost::asio::io_context ioc_;
  boost::asio::ssl::context ctx_;
  boost::asio::ip::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::string sni_;
  std::thread thread_;
};

TEST(ClientTlsTest, VerifiesAgainstTheGivenCaAndSendsSni) {
  const TestCert cert = MakeSelfSigned("DNS:localhost,IP:127.0.0.1");
  TlsServer server(cert);
  ClientOptions options;
  options.ca_pem = cert.cert_pem;
  options.timeout = milliseconds(3000);
  Client client(options);
  auto by_ip = client.Get("https://127.0.0.1:" + std::to_string(server.port()) + "/by-ip");
  ASSERT_TRUE(by_ip.ok()) << by_ip.status();
  EXPECT_EQ(by_ip->status, 200);
  EXPECT_EQ(by_ip->body, "secure /by-ip");

  auto by_name = client.Get("https://localhost:" + std::to_string(server.port()) + "/by-name");
  ASSERT_TRUE(by_name.ok()) << by_name.status();
  EXPECT_EQ(by_name->body, "secure /by-name");
  EXPECT_EQ(server.sni(), "localhost");
}

TEST(ClientTlsTest, UntrustedCertificateIsRefused) {
  const TestCert cert = MakeSelfSigned("IP:127.0.0.1");
  TlsServer server(cert);
  Client client;  // system CAs only
  auto response = client.Get("https://127.0.0.1:" + std::to_string(server.port()) + "/");
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable) << response.status();
  EXPECT_THAT(response.status().message(), HasSubstr("certificate verify failed"));
}

TEST(ClientTlsTest, CertificateForAnotherHostIsRefused) {
  const TestCert cert = MakeSelfSigned("DNS:other.example");
  TlsServer server(cert);
  ClientOptions options;
  options.ca_pem = cert.cert_pem;
  Client client(options);
  auto response = client.Get("https://127.0.0.1:" + std::to_string(server.port()) + "/");
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable) << response.status();
}

}  // namespace
}  // namespace protectogram::http
