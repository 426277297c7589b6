-- expand
-- A dead letter is one Kafka record: (topic, partition, offset) alone no
-- longer names it once a topic is deleted and created again (its offsets
-- start over), and the poison message of the new topic was dropped as a
-- redelivery of the old one. The key adds a fingerprint of the record: a
-- SHA-256 of its timestamp, key, value and headers (cdc/inbox,
-- insertDeadLetter). A redelivery has the same fingerprint and is kept
-- once. Rows from before have an empty fingerprint.
--
-- The previous release's insert names the old key (ON CONFLICT (topic,
-- partition, "offset")), which no longer exists: during a rolling upgrade
-- an old consumer that meets a poison message fails its batch and retries
-- it, its offset uncommitted, until a new instance takes the partition and
-- records it. Nothing is lost; only that partition waits.
ALTER TABLE dead_letters ADD COLUMN fingerprint bytea NOT NULL DEFAULT ''::bytea;
CREATE UNIQUE INDEX dead_letters_record ON dead_letters (topic, partition, "offset", fingerprint);
ALTER TABLE dead_letters DROP CONSTRAINT dead_letters_topic_partition_offset_key;
