-- Discovery: whom the actors our coops follow follow, read from their
-- `following` collections, to suggest coops to follow
-- (federation/discovery.go). The graph is kept by peer, not by coop of
-- ours: a peer's follows are the same whichever of our coops follows it,
-- so each is read once; a coop's suggestions join it with `following`.

-- Each actor whose following collection was read (or tried: last_error).
CREATE TABLE discovery_reads (
	actor_id TEXT PRIMARY KEY,
	read_at TIMESTAMP NOT NULL,
	items INTEGER NOT NULL DEFAULT 0,
	last_error TEXT NOT NULL DEFAULT ''
);

-- via_actor_id follows actor_id, as its following collection said; found_at
-- is when that was first seen.
CREATE TABLE discovery_follows (
	via_actor_id TEXT NOT NULL,
	actor_id TEXT NOT NULL,
	found_at TIMESTAMP NOT NULL,
	PRIMARY KEY (via_actor_id, actor_id)
);
CREATE INDEX discovery_follows_actor ON discovery_follows (actor_id);

-- What a suggestion shows beyond the cached actor (remote_actors): its
-- summary, and whether it lets itself be suggested. An actor that could not
-- be read (last_error) is not suggested until it is read again.
CREATE TABLE discovery_actors (
	actor_id TEXT PRIMARY KEY,
	summary TEXT NOT NULL DEFAULT '',
	discoverable BOOLEAN NOT NULL DEFAULT FALSE,
	checked_at TIMESTAMP NOT NULL,
	last_error TEXT NOT NULL DEFAULT ''
);
