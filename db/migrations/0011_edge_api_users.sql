-- edge: the users of the REST call API (docs/call-api.md). `protectogram-edge api-user add NAME` adds one with
-- a bcrypt hash of its password ("$2b$12$..."; "$2a$"/"$2y$" hashes made elsewhere are accepted too), and
-- `api-user remove NAME` deletes it. The edge looks the user of every bearer token up here (one lookup on the
-- unique index), so a removed or disabled user's tokens stop working at once.
CREATE TABLE edge.api_users (
  id bigserial PRIMARY KEY,
  username text NOT NULL,
  password_hash text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  disabled_at timestamptz,  -- set: the user can neither log in nor use its tokens
  CONSTRAINT api_users_username_key UNIQUE (username),
  CONSTRAINT api_users_username_check CHECK (username ~ '^[A-Za-z0-9._@-]{1,64}$'),
  CONSTRAINT api_users_password_hash_check CHECK (password_hash ~ '^\$2[aby]\$[0-9]{2}\$')
);

-- The edge adds and removes users (the CLI runs as the edge's role) and reads them on every request.
GRANT SELECT, INSERT, UPDATE, DELETE ON edge.api_users TO protectogram_edge;
GRANT USAGE, SELECT ON SEQUENCE edge.api_users_id_seq TO protectogram_edge;
