-- The benchmark's table: 10 000 rows looked up by primary key.
CREATE TABLE IF NOT EXISTS items (
    id bigint PRIMARY KEY,
    name text NOT NULL,
    amount_minor bigint NOT NULL
);
INSERT INTO items (id, name, amount_minor)
SELECT n, 'item ' || n, n * 100
FROM generate_series(1, 10000) AS n
ON CONFLICT (id) DO NOTHING;
