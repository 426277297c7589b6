-- expand
-- The key of the page tokens' MAC (orders/pagetoken.go): one row, shared by
-- every orders instance over this database, so that a token one instance
-- issued is accepted by the others and no client can forge one. It is made
-- here from strong randomness (gen_random_uuid() draws from the server's
-- strong random source: two UUIDs give 244 random bits in 32 bytes), so no
-- configuration is needed. To rotate it (tokens issued before then are
-- refused with INVALID_ARGUMENT: the client starts from the first page
-- again), update the row as the database's owner (the service's role may
-- only read it) and restart the instances:
--   UPDATE page_token_key SET key = decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'), created_at = now();
CREATE TABLE page_token_key (
    one        boolean     PRIMARY KEY DEFAULT true CHECK (one),
    key        bytea       NOT NULL CHECK (length(key) >= 16),
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO page_token_key (key)
VALUES (decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'));
