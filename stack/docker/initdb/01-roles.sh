#!/bin/sh
# First start of the postgres container: the roles and the two databases.
#   <db>_owner  owns its database and tables; shop-migrate (the "migrate"
#               service) applies the migrations as it.
#   <db>_app    the service at run time: rows only, no DDL (schema.Grant).
#   <db>_operator  shopctl: the runtime role's rows, and the only role that
#               marks a dead letter handled.
#   debezium    REPLICATION, reads the captured tables (kept apart).
#   shop_audit  the scheduled audit: reads the audit's tables of both
#               databases and nothing else (schema.Grant).
# Only a database's own roles and debezium may connect to it, and
# shop_audit once the migrate service has granted it. The role names are
# schema.Database's OwnerRole, RuntimeRole and OperatorRole, and schema.AuditRole
# (sql/schema.go).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" \
  -v orders_owner_pw="$ORDERS_OWNER_DB_PASSWORD" -v orders_pw="$ORDERS_DB_PASSWORD" \
  -v payments_owner_pw="$PAYMENTS_OWNER_DB_PASSWORD" -v payments_pw="$PAYMENTS_DB_PASSWORD" \
  -v orders_operator_pw="$ORDERS_OPERATOR_DB_PASSWORD" -v payments_operator_pw="$PAYMENTS_OPERATOR_DB_PASSWORD" \
  -v debezium_pw="$DEBEZIUM_DB_PASSWORD" -v audit_pw="$AUDIT_DB_PASSWORD" <<'SQL'
CREATE ROLE orders_owner WITH LOGIN PASSWORD :'orders_owner_pw';
CREATE ROLE orders_app WITH LOGIN PASSWORD :'orders_pw';
CREATE ROLE payments_owner WITH LOGIN PASSWORD :'payments_owner_pw';
CREATE ROLE payments_app WITH LOGIN PASSWORD :'payments_pw';
CREATE ROLE orders_operator WITH LOGIN PASSWORD :'orders_operator_pw';
CREATE ROLE payments_operator WITH LOGIN PASSWORD :'payments_operator_pw';
CREATE ROLE debezium WITH LOGIN REPLICATION PASSWORD :'debezium_pw';
CREATE ROLE shop_audit WITH LOGIN PASSWORD :'audit_pw';
CREATE DATABASE orders OWNER orders_owner;
CREATE DATABASE payments OWNER payments_owner;
REVOKE ALL ON DATABASE orders, payments FROM PUBLIC;
GRANT CONNECT ON DATABASE orders TO orders_app, orders_operator, debezium;
GRANT CONNECT ON DATABASE payments TO payments_app, payments_operator, debezium;
SQL
