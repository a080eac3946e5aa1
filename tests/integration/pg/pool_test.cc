// libs/pg against a real Postgres from the harness: typed rows, transactions, the SQLSTATE mapping, timeouts,
// and surviving a Postgres restart.
#include "libs/pg/pool.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "libs/pg/connection.h"
#include "libs/pg/status.h"
#include "tests/support/pg_harness.h"

namespace protectogram::pg {
namespace {

constexpr Query kCreateThings{"create_things",
                              "CREATE TABLE things (id bigserial PRIMARY KEY, name text NOT NULL UNIQUE, "
                              "n integer, big bigint, ratio double precision, flag boolean, at timestamptz)"};
constexpr Query kInsertThing{
    "insert_thing",
    "INSERT INTO things (name, n, big, ratio, flag, at) VALUES ($1, $2, $3, $4, $5, $6) "
    "RETURNING id"};
constexpr Query kSelectThing{"select_thing",
                             "SELECT id, name, n, big, ratio, flag, at FROM things WHERE name = $1"};
constexpr Query kCountThings{"count_things", "SELECT count(*) FROM things"};

class PoolTest : public test::PgTest {
 protected:
  void SetUp() override {
    test::PgTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(pool().Execute(kCreateThings).ok());
  }

  int64_t CountThings() {
    absl::StatusOr<Result> r = pool().Execute(kCountThings);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->front().Get<int64_t>(0) : -1;
  }

  std::unique_ptr<Pool> MakePool(PoolOptions options) {
    if (options.url.empty()) options.url = db_url();
    absl::StatusOr<std::unique_ptr<Pool>> p = Pool::Create(std::move(options));
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? *std::move(p) : nullptr;
  }
};

TEST_F(PoolTest, TypedParamsAndRowsIncludingNullAndTimestamptz) {
  const absl::Time at = absl::FromUnixMicros(1764000000123456);
  absl::StatusOr<Result> ins =
      pool().Execute(kInsertThing, {"full", int32_t{7}, int64_t{9007199254740993}, 2.5, true, at});
  ASSERT_TRUE(ins.ok()) << ins.status();
  EXPECT_EQ(ins->affected_rows(), 1);
  const int64_t id = ins->front().Get<int64_t>("id");
  ASSERT_TRUE(pool()
                  .Execute(kInsertThing,
                           {std::string("empty"), std::optional<int32_t>(), std::nullopt,
                            std::optional<double>(), std::optional<bool>(), std::optional<absl::Time>()})
                  .ok());

  absl::StatusOr<Result> full = pool().Execute(kSelectThing, {"full"});
  ASSERT_TRUE(full.ok()) << full.status();
  ASSERT_EQ(full->size(), 1u);
  const Row row = full->front();
  EXPECT_EQ(row.Get<int64_t>(0), id);
  EXPECT_EQ(row.Get<std::string>(1), "full");
  EXPECT_EQ(row.Get<int32_t>("n"), 7);
  EXPECT_EQ(row.Get<int64_t>("big"), 9007199254740993);
  EXPECT_DOUBLE_EQ(row.Get<double>("ratio"), 2.5);
  EXPECT_TRUE(row.Get<bool>("flag"));
  EXPECT_EQ(row.Get<absl::Time>("at"), at);
  EXPECT_EQ(row.GetOptional<int32_t>("n"), 7);

  absl::StatusOr<Result> empty = pool().Execute(kSelectThing, {"empty"});
  ASSERT_TRUE(empty.ok()) << empty.status();
  const Row e = empty->front();
  EXPECT_TRUE(e.IsNull("n"));
  EXPECT_EQ(e.GetOptional<int32_t>("n"), std::nullopt);
  EXPECT_EQ(e.GetOptional<absl::Time>("at"), std::nullopt);
  EXPECT_EQ(e.GetOptional<bool>(5), std::nullopt);
  EXPECT_EQ(e.TryGet<int64_t>("big").status().code(), absl::StatusCode::kInvalidArgument);   // NULL
  EXPECT_EQ(e.TryGet<int64_t>("name").status().code(), absl::StatusCode::kInvalidArgument);  // not a number
  EXPECT_EQ(e.TryGet<int64_t>("nope").status().code(), absl::StatusCode::kInvalidArgument);  // no column

  // Iteration, and UPDATE's affected rows.
  int seen = 0;
  absl::StatusOr<Result> all = pool().Execute({"all", "SELECT name FROM things ORDER BY name"});
  ASSERT_TRUE(all.ok());
  for (const Row& r : *all) seen += r.Get<std::string>(0).empty() ? 0 : 1;
  EXPECT_EQ(seen, 2);
  absl::StatusOr<Result> upd = pool().Execute({"bump", "UPDATE things SET n = coalesce(n, 0) + 1"});
  ASSERT_TRUE(upd.ok());
  EXPECT_EQ(upd->affected_rows(), 2);
}

TEST_F(PoolTest, TimestamptzIsReadCorrectlyInAnySessionTimeZone) {
  const absl::Time at = absl::FromCivil(absl::CivilSecond(2026, 3, 29, 1, 30, 0), absl::UTCTimeZone());
  absl::StatusOr<Transaction> txn = pool().Begin();
  ASSERT_TRUE(txn.ok()) << txn.status();
  for (const char* tz : {"Asia/Kolkata", "America/St_Johns", "Europe/Madrid", "UTC"}) {
    ASSERT_TRUE(txn->Execute({"set_tz", "SELECT set_config('TimeZone', $1, true)"}, {tz}).ok());
    absl::StatusOr<Result> r =
        txn->Execute({"echo_time", "SELECT $1::timestamptz, $1::timestamptz::text"}, {at});
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->front().Get<absl::Time>(0), at) << tz << " " << r->front().Get<std::string>(1);
  }
}

TEST_F(PoolTest, TransactionRollsBackWhenDestroyedAndCommitsWhenAsked) {
  {
    absl::StatusOr<Transaction> txn = pool().Begin();
    ASSERT_TRUE(txn.ok()) << txn.status();
    ASSERT_TRUE(txn->Execute(kInsertThing, {"dropped", 1, 1, 1.0, true, absl::Now()}).ok());
  }  // no Commit
  EXPECT_EQ(CountThings(), 0);
  {
    absl::StatusOr<Transaction> txn = pool().Begin();
    ASSERT_TRUE(txn.ok()) << txn.status();
    ASSERT_TRUE(txn->Execute(kInsertThing, {"kept", 1, 1, 1.0, true, absl::Now()}).ok());
    ASSERT_TRUE(txn->Commit().ok());
    EXPECT_FALSE(txn->active());
    EXPECT_EQ(txn->Execute(kCountThings).status().code(), absl::StatusCode::kFailedPrecondition);
  }
  EXPECT_EQ(CountThings(), 1);
  {
    absl::StatusOr<Transaction> txn = pool().Begin();
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE(txn->Execute(kInsertThing, {"rolled", 1, 1, 1.0, true, absl::Now()}).ok());
    ASSERT_TRUE(txn->Rollback().ok());
  }
  EXPECT_EQ(CountThings(), 1);
}

TEST_F(PoolTest, UniqueViolationIsAlreadyExistsAndAbortsTheTransaction) {
  ASSERT_TRUE(pool().Execute(kInsertThing, {"dup", 1, 1, 1.0, true, absl::Now()}).ok());
  absl::StatusOr<Result> again = pool().Execute(kInsertThing, {"dup", 2, 2, 2.0, false, absl::Now()});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists) << again.status();
  EXPECT_TRUE(IsUniqueViolation(again.status()));
  EXPECT_EQ(SqlState(again.status()), "23505");
  EXPECT_NE(again.status().message().find("insert_thing"), absl::string_view::npos) << again.status();

  absl::StatusOr<Transaction> txn = pool().Begin();
  ASSERT_TRUE(txn.ok());
  EXPECT_TRUE(IsUniqueViolation(txn->Execute(kInsertThing, {"dup", 3, 3, 3.0, true, absl::Now()}).status()));
  ASSERT_TRUE(txn->Execute(kInsertThing, {"other", 3, 3, 3.0, true, absl::Now()}).status().code() !=
              absl::StatusCode::kOk);  // the transaction is aborted
  EXPECT_EQ(txn->Commit().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(CountThings(), 1);
  // The connection went back to the pool in a usable state.
  EXPECT_TRUE(pool().Execute(kCountThings).ok());
}

TEST_F(PoolTest, OtherConstraintAndDataErrorsMap) {
  absl::StatusOr<Result> null_name =
      pool().Execute(kInsertThing, {std::nullopt, 1, 1, 1.0, true, absl::Now()});
  EXPECT_EQ(null_name.status().code(), absl::StatusCode::kFailedPrecondition) << null_name.status();
  EXPECT_EQ(SqlState(null_name.status()), "23502");
  absl::StatusOr<Result> bad_int = pool().Execute({"bad_int", "SELECT $1::bigint"}, {"twelve"});
  EXPECT_EQ(bad_int.status().code(), absl::StatusCode::kInvalidArgument) << bad_int.status();
  absl::StatusOr<Result> syntax = pool().Execute({"syntax", "SELEC 1"});
  EXPECT_EQ(syntax.status().code(), absl::StatusCode::kInternal) << syntax.status();
  EXPECT_EQ(SqlState(syntax.status()), "42601");
}

TEST_F(PoolTest, SerializationFailureIsAborted) {
  ASSERT_TRUE(pool().Execute(kInsertThing, {"row", 0, 0, 0.0, true, absl::Now()}).ok());
  absl::StatusOr<Transaction> a = pool().Begin(IsolationLevel::kSerializable);
  absl::StatusOr<Transaction> b = pool().Begin(IsolationLevel::kSerializable);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(b->Execute(kSelectThing, {"row"}).ok());  // b's snapshot predates a's update
  ASSERT_TRUE(a->Execute({"bump_a", "UPDATE things SET n = n + 1 WHERE name = 'row'"}).ok());
  ASSERT_TRUE(a->Commit().ok());
  absl::StatusOr<Result> conflict = b->Execute({"bump_b", "UPDATE things SET n = n + 10 WHERE name = 'row'"});
  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(conflict.status().code(), absl::StatusCode::kAborted) << conflict.status();
  EXPECT_TRUE(IsSerializationFailure(conflict.status()));
  EXPECT_EQ(SqlState(conflict.status()), "40001");
}

TEST_F(PoolTest, StatementTimeoutIsDeadlineExceededAndCancelIsCancelled) {
  absl::StatusOr<Transaction> txn = pool().Begin();
  ASSERT_TRUE(txn.ok());
  ASSERT_TRUE(txn->Execute({"set_timeout", "SET LOCAL statement_timeout = '50ms'"}).ok());
  absl::StatusOr<Result> slow = txn->Execute({"slow", "SELECT pg_sleep(5)"});
  ASSERT_FALSE(slow.ok());
  EXPECT_EQ(slow.status().code(), absl::StatusCode::kDeadlineExceeded) << slow.status();
  EXPECT_EQ(SqlState(slow.status()), "57014");
  txn->Rollback().IgnoreError();

  // pg_cancel_backend from another session: CANCELLED.
  absl::StatusOr<std::unique_ptr<Connection>> victim = Connection::Open(db_url());
  ASSERT_TRUE(victim.ok()) << victim.status();
  absl::StatusOr<Result> pid = (*victim)->Execute({"pid", "SELECT pg_backend_pid()"});
  ASSERT_TRUE(pid.ok());
  const int64_t backend = pid->front().Get<int32_t>(0);
  absl::Status cancelled;
  std::thread sleeper([&] { cancelled = (*victim)->Execute({"sleeper", "SELECT pg_sleep(10)"}).status(); });
  const absl::Time give_up = absl::Now() + absl::Seconds(5);
  bool sent = false;
  while (!sent && absl::Now() < give_up) {
    absl::StatusOr<Result> r = pool().Execute(
        {"cancel", "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE pid = $1 AND state = 'active'"},
        {backend});
    ASSERT_TRUE(r.ok()) << r.status();
    sent = !r->empty() && r->front().Get<bool>(0);
    if (!sent) absl::SleepFor(absl::Milliseconds(10));
  }
  sleeper.join();
  ASSERT_TRUE(sent);
  EXPECT_EQ(cancelled.code(), absl::StatusCode::kCancelled) << cancelled;
  EXPECT_EQ(SqlState(cancelled), "57014");
}

TEST_F(PoolTest, ClientSideStatementTimeoutDropsTheConnection) {
  std::unique_ptr<Pool> p = MakePool({.size = 1, .statement_timeout = absl::Milliseconds(200)});
  ASSERT_NE(p, nullptr);
  const absl::Time start = absl::Now();
  absl::StatusOr<Result> slow = p->Execute({"slow", "SELECT pg_sleep(3)"});
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  ASSERT_FALSE(slow.ok());
  EXPECT_EQ(slow.status().code(), absl::StatusCode::kDeadlineExceeded) << slow.status();
  EXPECT_EQ(SqlState(slow.status()), "");
  // A fresh connection serves the next call.
  EXPECT_TRUE(p->Execute({"fast", "SELECT 1"}).ok());
}

TEST_F(PoolTest, AcquireTimesOutWhenThePoolIsExhausted) {
  std::unique_ptr<Pool> p = MakePool({.size = 1, .acquire_timeout = absl::Milliseconds(100)});
  absl::StatusOr<Transaction> held = p->Begin();
  ASSERT_TRUE(held.ok());
  absl::StatusOr<Result> r = p->Execute({"one", "SELECT 1"});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
  ASSERT_TRUE(held->Commit().ok());
  EXPECT_TRUE(p->Execute({"one", "SELECT 1"}).ok());
}

TEST_F(PoolTest, ServiceRoleUrlConnectsAsThatRole) {
  std::unique_ptr<Pool> p = MakePool({.url = db_url_for_role("protectogram_edge")});
  absl::StatusOr<Result> who = p->Execute({"whoami", "SELECT current_user"});
  ASSERT_TRUE(who.ok()) << who.status();
  EXPECT_EQ(who->front().Get<std::string>(0), "protectogram_edge");
}

TEST_F(PoolTest, IdleConnectionsClosedByTheServerAreReplacedTransparently) {
  std::unique_ptr<Pool> p = MakePool({.size = 2, .application_name = "terminate-me"});
  {
    absl::StatusOr<Transaction> t1 = p->Begin();
    absl::StatusOr<Transaction> t2 = p->Begin();
    ASSERT_TRUE(t1.ok() && t2.ok());
  }  // two idle connections now
  absl::StatusOr<Result> killed =
      pool().Execute({"terminate",
                      "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE application_name = 'terminate-me') t"});
  ASSERT_TRUE(killed.ok()) << killed.status();
  EXPECT_EQ(killed->front().Get<int64_t>(0), 2);
  // Wait until the backends are gone, so that their sockets are closed.
  for (int i = 0; i < 200; ++i) {
    absl::StatusOr<Result> left = pool().Execute(
        {"left", "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'terminate-me'"});
    ASSERT_TRUE(left.ok());
    if (left->front().Get<int64_t>(0) == 0) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<Result> r = p->Execute({"after_kill", "SELECT 1"});
    EXPECT_TRUE(r.ok()) << r.status();
  }
}

TEST_F(PoolTest, ConnectionLossIsUnavailableAndThePoolRecoversAfterRestart) {
  std::unique_ptr<Pool> p = MakePool({.size = 2,
                                      .connect_timeout = absl::Seconds(2),
                                      .reconnect_backoff_initial = absl::Milliseconds(50),
                                      .reconnect_backoff_max = absl::Milliseconds(400)});
  ASSERT_TRUE(p->Execute({"before", "SELECT 1"}).ok());
  EXPECT_TRUE(p->Ping().ok());
  absl::StatusOr<Transaction> open = p->Begin();
  ASSERT_TRUE(open.ok());

  ASSERT_TRUE(cluster().Stop().ok());
  absl::StatusOr<Result> down = p->Execute({"while_down", "SELECT 1"});
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.status().code(), absl::StatusCode::kUnavailable) << down.status();
  EXPECT_TRUE(IsConnectionError(down.status()));
  const absl::Time ping_start = absl::Now();
  absl::Status ping = p->Ping();
  EXPECT_EQ(ping.code(), absl::StatusCode::kUnavailable) << ping;
  EXPECT_LT(absl::Now() - ping_start, absl::Seconds(3));
  // The transaction's connection is gone too.
  absl::StatusOr<Result> in_txn = open->Execute({"in_txn", "SELECT 1"});
  EXPECT_EQ(in_txn.status().code(), absl::StatusCode::kUnavailable) << in_txn.status();
  EXPECT_FALSE(open->Commit().ok());

  ASSERT_TRUE(cluster().Start().ok());
  absl::Status last;
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  do {
    last = p->Execute({"after", "SELECT 1"}).status();
    if (!last.ok()) absl::SleepFor(absl::Milliseconds(50));
  } while (!last.ok() && absl::Now() < give_up);
  EXPECT_TRUE(last.ok()) << last;
  EXPECT_TRUE(p->Ping().ok());
  // Both pooled connections work again (the second one is opened afresh).
  absl::StatusOr<Transaction> t1 = p->Begin();
  absl::StatusOr<Transaction> t2 = p->Begin();
  EXPECT_TRUE(t1.ok() && t2.ok());
}

TEST_F(PoolTest, PingIsFalseWhileStoppedAndTrueAfter) {
  std::unique_ptr<Pool> p = MakePool({.reconnect_backoff_initial = absl::Milliseconds(20),
                                      .reconnect_backoff_max = absl::Milliseconds(200)});
  EXPECT_TRUE(p->Ping().ok());
  ASSERT_TRUE(cluster().Stop().ok());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(p->Ping().code(), absl::StatusCode::kUnavailable);
  ASSERT_TRUE(cluster().Start().ok());
  absl::Status ping;
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  do {
    ping = p->Ping();
    if (!ping.ok()) absl::SleepFor(absl::Milliseconds(20));
  } while (!ping.ok() && absl::Now() < give_up);
  EXPECT_TRUE(ping.ok()) << ping;
}

// A TCP server that accepts connections and never answers: a hung Postgres.
class SilentServer {
 public:
  SilentServer() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    listen(fd_, 16);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentServer() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_;
  int port_ = 0;
};

TEST_F(PoolTest, PingDoesNotHangOnAnUnresponsiveServer) {
  SilentServer silent;
  std::unique_ptr<Pool> p =
      MakePool({.url = absl::StrCat("postgresql://postgres@127.0.0.1:", silent.port(), "/x"),
                .connect_timeout = absl::Seconds(2)});
  const absl::Time start = absl::Now();
  absl::Status ping = p->Ping();
  EXPECT_EQ(ping.code(), absl::StatusCode::kUnavailable) << ping;
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST(PoolCreate, RejectsBadOptions) {
  EXPECT_EQ(Pool::Create({.url = "mysql://x"}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Pool::Create({.url = "postgresql://h/db", .size = 0}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace protectogram::pg
