-- The inbox's lookups. followers and following are keyed by (coop_id,
-- actor_id), but activities arrive by actor: an Undo or a Delete finds the
-- actor's follow rows, and every Create or Update asks whether the actor is
-- followed at all. inbox_seen is pruned by age.
CREATE INDEX followers_actor ON followers (actor_id);
CREATE INDEX following_actor ON following (actor_id, state);
CREATE INDEX inbox_seen_received ON inbox_seen (received_at);
