/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_admin_schema.c — the management API's tables and their versioned
 * migrations, for SQLite and PostgreSQL (pure data; run by the glue on
 * mod_dbd). Version 1: workspaces, keys (SHA-256 of the secret only),
 * provider keys (sealed), policies. Version 2: the models a workspace used
 * in a month (for billing's usage by model) and an index of keys by
 * workspace. Version 3: the monthly usage checkpoint. A new version is one more step at the end of each list.
 */
#include <string.h>

#include "llmgw_admin.h"

/* The same statements serve both dialects: BIGINT, VARCHAR, TEXT, CHAR,
 * IF NOT EXISTS and composite primary keys mean the same in both. */
static const char *const v1[] = {
    "CREATE TABLE IF NOT EXISTS llmgw_schema (version INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS llmgw_workspaces ("
    " id VARCHAR(64) PRIMARY KEY,"
    " name VARCHAR(200) NOT NULL,"
    " plan VARCHAR(64) NOT NULL,"
    " status VARCHAR(16) NOT NULL,"
    " created_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS llmgw_keys ("
    " id VARCHAR(64) PRIMARY KEY,"
    " workspace_id VARCHAR(64) NOT NULL REFERENCES llmgw_workspaces (id),"
    " name VARCHAR(200) NOT NULL,"
    " role VARCHAR(16) NOT NULL,"
    " models TEXT,"
    " prefix VARCHAR(16) NOT NULL,"
    " digest CHAR(64) NOT NULL UNIQUE,"
    " created_at BIGINT NOT NULL,"
    " expires_at BIGINT,"
    " revoked_at BIGINT)",
    "CREATE TABLE IF NOT EXISTS llmgw_provider_keys ("
    " workspace_id VARCHAR(64) NOT NULL REFERENCES llmgw_workspaces (id),"
    " provider VARCHAR(64) NOT NULL,"
    " sealed TEXT NOT NULL,"
    " last4 VARCHAR(8) NOT NULL,"
    " created_at BIGINT NOT NULL,"
    " PRIMARY KEY (workspace_id, provider))",
    "CREATE TABLE IF NOT EXISTS llmgw_policies ("
    " workspace_id VARCHAR(64) PRIMARY KEY REFERENCES llmgw_workspaces (id),"
    " policy TEXT NOT NULL)",
    "DELETE FROM llmgw_schema",
    "INSERT INTO llmgw_schema (version) VALUES (1)",
    NULL
};

static const char *const v2[] = {
    "CREATE INDEX IF NOT EXISTS llmgw_keys_workspace"
    " ON llmgw_keys (workspace_id)",
    "CREATE TABLE IF NOT EXISTS llmgw_usage_models ("
    " workspace_id VARCHAR(64) NOT NULL,"
    " period BIGINT NOT NULL,"
    " provider VARCHAR(64) NOT NULL,"
    " model VARCHAR(256) NOT NULL,"
    " PRIMARY KEY (workspace_id, period, provider, model))",
    "UPDATE llmgw_schema SET version = 2",
    NULL
};

/* Version 3: the month's counters checkpointed (absolute values, the
 * larger kept), restored into a store that lost them. */
static const char *const v3[] = {
    "CREATE TABLE IF NOT EXISTS llmgw_usage_checkpoint ("
    " workspace_id VARCHAR(64) NOT NULL,"
    " period BIGINT NOT NULL,"
    " counter VARCHAR(64) NOT NULL,"
    " value BIGINT NOT NULL,"
    " updated_at BIGINT NOT NULL,"
    " PRIMARY KEY (period, workspace_id, counter))",
    "UPDATE llmgw_schema SET version = 3",
    NULL
};

static const char *const *const steps[] = { v1, v2, v3 };

int llmgw_sql_dialect(const char *driver_name)
{
    if (!driver_name) {
        return -1;
    }
    if (!strcmp(driver_name, "sqlite3")) {
        return LLMGW_SQL_SQLITE;
    }
    if (!strcmp(driver_name, "pgsql")) {
        return LLMGW_SQL_PGSQL;
    }
    return -1;
}

const char *const *llmgw_schema_step(llmgw_sql_dialect_e d, int from)
{
    (void)d;
    if (from < 0 || from >= LLMGW_SCHEMA_VERSION
        || from >= (int)(sizeof(steps) / sizeof(steps[0]))) {
        return NULL;
    }
    return steps[from];
}

/* SQLite: one writer at a time (BEGIN IMMEDIATE takes the write lock,
 * waiting for it); PostgreSQL: a session advisory lock, the migration's
 * steps each in a transaction of their own. */
const char *llmgw_schema_lock(llmgw_sql_dialect_e d)
{
    return d == LLMGW_SQL_PGSQL ? "SELECT pg_advisory_lock(7264712)"
                                : "BEGIN IMMEDIATE";
}

const char *llmgw_schema_unlock(llmgw_sql_dialect_e d)
{
    return d == LLMGW_SQL_PGSQL ? "SELECT pg_advisory_unlock(7264712)"
                                : "COMMIT";
}
