package schema

// GrantWithAuditRole is Grant with the audit role named auditRole, for a
// test of a cluster that lacks it.
var GrantWithAuditRole = grant
