-- API access: bearer tokens (only a hash of each is kept) and the audit log of what they did.

CREATE TABLE api_tokens (
  id           int8 GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name         text NOT NULL,
  role         text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
  -- sha256 of the token, hex: a leaked database gives no usable token.
  hash         text NOT NULL UNIQUE,
  created_at   int8 NOT NULL,
  revoked_at   int8
);

-- A name is reusable once its token is revoked.
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL;

CREATE TABLE audit_log (
  id      int8 GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at      int8 NOT NULL,
  actor   text NOT NULL,
  action  text NOT NULL,
  target  text,
  detail  text
);

-- Retention deletes finished runs by age; listing by schedule already has (schedule, id).
CREATE INDEX runs_by_finished_at ON runs (finished_at) WHERE finished_at IS NOT NULL;
