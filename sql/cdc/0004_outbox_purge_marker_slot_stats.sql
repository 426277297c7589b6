-- expand
-- The outbox purge trusts a slot's confirmations only for the slot the
-- marker was taken with (cdc/outbox, Purge). A slot dropped and created
-- again under the same name starts its statistics from zero: the marker
-- records how much WAL the slot had decoded (pg_stat_replication_slots
-- total_bytes), and a slot showing less is not the one it was taken with.
-- NULL (a marker saved before this column) is trusted by no slot: the next
-- run saves a new marker.
ALTER TABLE outbox_purge_marker ADD COLUMN slot_decoded_bytes bigint;
