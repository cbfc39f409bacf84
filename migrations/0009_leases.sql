-- Turns at periodic work among the processes sharing a database: the holder
-- of a lease does the work until expires_at, and renews it as it goes.
CREATE TABLE leases (
	name TEXT PRIMARY KEY,
	holder TEXT NOT NULL,
	expires_at TIMESTAMP NOT NULL
);
