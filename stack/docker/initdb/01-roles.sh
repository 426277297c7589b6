#!/bin/sh
# First start of the postgres container: the service role, the replication
# role for Debezium (kept apart) and the two databases. The services apply
# their migrations (tables, publication, grants) when they start.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" <<SQL
CREATE ROLE shop WITH LOGIN PASSWORD '${SHOP_DB_PASSWORD}';
CREATE ROLE debezium WITH LOGIN REPLICATION PASSWORD '${DEBEZIUM_DB_PASSWORD}';
CREATE DATABASE orders OWNER shop;
CREATE DATABASE payments OWNER shop;
SQL
