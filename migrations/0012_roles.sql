-- 0012_roles: roles for people (README "Roles"). Two more token roles:
-- 'operator' runs certificates (create, change, delete, issue, resume, revoke
-- versions, alias checks, jobs) and 'viewer' reads certificates, versions and
-- jobs and runs alias checks. Neither reaches a private key, a token, a provider,
-- an issuer or the audit trail. Which role may call which route is the route
-- table's (service/http/routes.c), repeated in api/openapi.yaml.
--
-- Rolling upgrade: a replica still on 0011 reads such a row with a role it does
-- not know and refuses the token (401), so an operator or viewer token works only
-- against upgraded replicas; admin, host and keys tokens are unaffected.
ALTER TABLE tokens DROP CONSTRAINT tokens_role_check;
ALTER TABLE tokens ADD CONSTRAINT tokens_role_check
    CHECK (role IN ('admin','host','keys','operator','viewer'));
