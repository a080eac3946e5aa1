// The REST call API's users (docs/call-api.md): edge.api_users (db/migrations/0011_edge_api_users.sql), one
// row per user with a bcrypt hash of its password, and the `protectogram-edge api-user add|remove NAME`
// subcommands that manage them.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/kernel/config.h"
#include "libs/pg/pool.h"

namespace protectogram::edge {

struct ApiUser {
  int64_t id = 0;
  std::string username;
  std::string password_hash;  // "$2b$12$..."
  absl::Time created_at;
};

// INVALID_ARGUMENT unless `username` is 1..64 of [A-Za-z0-9._@-] (the table's CHECK says the same).
absl::Status ValidateApiUsername(std::string_view username);

// The table. Errors of the pool (UNAVAILABLE when Postgres cannot be reached, ...) pass through.
class ApiUserStore {
 public:
  explicit ApiUserStore(pg::Pool& pool) : pool_(pool) {}

  // The active user (not disabled) with this name; NOT_FOUND when there is none.
  absl::StatusOr<ApiUser> Find(std::string_view username) const;
  // ALREADY_EXISTS when the name is taken.
  absl::Status Add(std::string_view username, std::string_view password_hash);
  // NOT_FOUND when no user has this name.
  absl::Status Remove(std::string_view username);

 private:
  pg::Pool& pool_;
};

// What `api-user add` does: checks the name and the password (not empty, at most 72 bytes: bcrypt reads no
// more), hashes it with bcrypt at `bcrypt_cost`, stores the user. INVALID_ARGUMENT for a bad name or
// password, ALREADY_EXISTS for a taken name, the store's errors otherwise.
absl::Status AddApiUser(ApiUserStore& store, std::string_view username, std::string_view password,
                        int bcrypt_cost);
// What `api-user remove` does. NOT_FOUND for an unknown user.
absl::Status RemoveApiUser(ApiUserStore& store, std::string_view username);

// True when the command line is an api-user subcommand (`args` excludes argv[0]).
bool IsApiUserCommand(const std::vector<std::string>& args);

// Runs `api-user add NAME` (the password is the first line of `in`; a trailing "\r" is dropped) or
// `api-user remove NAME`. DATABASE_URL as the server reads it (kernel::LoadProcessConfig: dev default, required
// elsewhere); BCRYPT_COST (4..31, default 12) for new hashes. Writes exactly one line: to `out` on success, to
// `err` on failure. Returns the exit code: 0 done; 1 refused (unknown user, taken name, empty password) or
// the database failed; 2 usage or configuration error.
int RunApiUserCommand(const std::vector<std::string>& args, const kernel::Env& env, std::istream& in,
                      std::ostream& out, std::ostream& err);

}  // namespace protectogram::edge
