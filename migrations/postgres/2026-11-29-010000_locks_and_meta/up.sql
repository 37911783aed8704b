-- Named locks for work that exactly one instance may do at a time (key rotation, bootstrap).
-- A transaction takes one by updating its row first: PostgreSQL then holds the row lock, SQLite
-- the database's write lock, until commit. One portable mechanism for both backends.
CREATE TABLE locks (
    name    TEXT PRIMARY KEY,
    held_at BIGINT NOT NULL
);
INSERT INTO locks (name, held_at) VALUES ('keys', 0), ('bootstrap', 0);

-- One-off facts about this installation, e.g. that the bootstrap admin client was created.
CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
