#include "edge/api_users.h"

#include <istream>
#include <ostream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/crypto/bcrypt.h"
#include "libs/pg/query.h"
#include "libs/pg/status.h"

namespace protectogram::edge {
namespace {

// The statements on edge.api_users (here rather than edge/queries.h: only this file uses them).
constexpr pg::Query kFindApiUser{"edge_api_user_find", R"sql(
SELECT id, username, password_hash, created_at FROM edge.api_users
 WHERE username = $1 AND disabled_at IS NULL)sql"};
constexpr pg::Query kInsertApiUser{"edge_api_user_insert", R"sql(
INSERT INTO edge.api_users (username, password_hash) VALUES ($1, $2))sql"};
constexpr pg::Query kDeleteApiUser{"edge_api_user_delete", R"sql(
DELETE FROM edge.api_users WHERE username = $1)sql"};

constexpr size_t kMaxUsernameLength = 64;

bool UsernameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '@' || c == '-';
}

constexpr char kUsage[] =
    "usage: protectogram-edge api-user add|remove NAME (add reads the password from the first line of stdin)";

}  // namespace

absl::Status ValidateApiUsername(std::string_view username) {
  if (username.empty() || username.size() > kMaxUsernameLength) {
    return absl::InvalidArgumentError("the user name must be 1 to 64 characters");
  }
  for (char c : username) {
    if (!UsernameChar(c)) {
      return absl::InvalidArgumentError("the user name may contain only letters, digits and . _ @ -");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ApiUser> ApiUserStore::Find(std::string_view username) const {
  absl::StatusOr<pg::Result> rows = pool_.Execute(kFindApiUser, {username});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return absl::NotFoundError("no such api user");
  const pg::Row row = rows->front();
  ApiUser user;
  user.id = row.Get<int64_t>("id");
  user.username = row.Get<std::string>("username");
  user.password_hash = row.Get<std::string>("password_hash");
  user.created_at = row.Get<absl::Time>("created_at");
  return user;
}

absl::Status ApiUserStore::Add(std::string_view username, std::string_view password_hash) {
  absl::StatusOr<pg::Result> r = pool_.Execute(kInsertApiUser, {username, password_hash});
  if (!r.ok() && pg::IsUniqueViolation(r.status())) {
    return absl::AlreadyExistsError(absl::StrCat("api user ", std::string(username), " already exists"));
  }
  return r.status();
}

absl::Status ApiUserStore::Remove(std::string_view username) {
  absl::StatusOr<pg::Result> r = pool_.Execute(kDeleteApiUser, {username});
  if (!r.ok()) return r.status();
  if (r->affected_rows() == 0) {
    return absl::NotFoundError(absl::StrCat("no api user named ", std::string(username)));
  }
  return absl::OkStatus();
}

absl::Status AddApiUser(ApiUserStore& store, std::string_view username, std::string_view password,
                        int bcrypt_cost) {
  if (absl::Status s = ValidateApiUsername(username); !s.ok()) return s;
  if (password.empty()) return absl::InvalidArgumentError("the password is empty");
  if (password.size() > crypto::kBcryptMaxPasswordBytes) {
    return absl::InvalidArgumentError("the password is longer than 72 bytes (bcrypt reads no more)");
  }
  absl::StatusOr<std::string> hash = crypto::BcryptHash(password, bcrypt_cost);
  if (!hash.ok()) return hash.status();
  return store.Add(username, *hash);
}

absl::Status RemoveApiUser(ApiUserStore& store, std::string_view username) {
  if (absl::Status s = ValidateApiUsername(username); !s.ok()) {
    return absl::NotFoundError(absl::StrCat("no api user named ", std::string(username)));
  }
  return store.Remove(username);
}

bool IsApiUserCommand(const std::vector<std::string>& args) { return !args.empty() && args[0] == "api-user"; }

int RunApiUserCommand(const std::vector<std::string>& args, const kernel::Env& env, std::istream& in,
                      std::ostream& out, std::ostream& err) {
  if (args.size() != 3 || args[0] != "api-user" || (args[1] != "add" && args[1] != "remove")) {
    err << kUsage << "\n";
    return 2;
  }
  const std::string& verb = args[1];
  const std::string& username = args[2];

  kernel::ConfigReader reader(env);
  const int cost = static_cast<int>(reader.Int("BCRYPT_COST", crypto::kBcryptDefaultCost, 4, 31));
  absl::StatusOr<kernel::ProcessConfig> process = kernel::LoadProcessConfig(env, kernel::EdgeDefaults());
  if (absl::Status s = reader.Finish(); !s.ok()) {
    err << "config error: " << s.message() << "\n";
    return 2;
  }
  if (!process.ok()) {
    err << "config error: " << process.status().message() << "\n";
    return 2;
  }

  std::string password;
  if (verb == "add") {
    if (absl::Status s = ValidateApiUsername(username); !s.ok()) {
      err << "error: " << s.message() << "\n";
      return 1;
    }
    std::getline(in, password);
    if (!password.empty() && password.back() == '\r') password.pop_back();
    if (password.empty()) {
      err << "error: the password (the first line of stdin) is empty\n";
      return 1;
    }
  }

  pg::PoolOptions options;
  options.url = process->database_url;
  options.size = 1;
  options.application_name = "protectogram-edge-api-user";
  absl::StatusOr<std::unique_ptr<pg::Pool>> pool = pg::Pool::Create(std::move(options));
  if (!pool.ok()) {
    err << "config error: " << pool.status().message() << "\n";
    return 2;
  }
  ApiUserStore store(**pool);
  const absl::Status status =
      verb == "add" ? AddApiUser(store, username, password, cost) : RemoveApiUser(store, username);
  if (!status.ok()) {
    err << "error: " << status.message() << "\n";
    return 1;
  }
  out << "api user " << username << (verb == "add" ? " added" : " removed") << "\n";
  return 0;
}

}  // namespace protectogram::edge
