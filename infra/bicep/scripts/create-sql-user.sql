-- Makes the function app's managed identity a contained user of the monitoring database and grants what
-- the app needs. Run it connected to the monitoring database (not master) as the server's Entra admin.
-- create_sql_user.py beside this file fills the two variables and runs it; `--dry-run` prints the filled-in
-- text, which sqlcmd can run:
--   python infra/bicep/scripts/create_sql_user.py --dry-run | sqlcmd -S <server>.database.windows.net \
--     -d monitoring --authentication-method ActiveDirectoryDefault
-- Running it again changes nothing.
--
-- The user is created from its SID, the binary form of the identity's client (application) id, with TYPE = E
-- (an Entra application): unlike FROM EXTERNAL PROVIDER, that needs no lookup in Microsoft Graph, so it works
-- when the admin running it is a service principal (a pipeline) and the SQL server has no directory
-- permissions of its own.
--
-- Roles:
--   db_datareader, db_datawriter  every query and DML statement the app runs (the pipeline, alerting,
--                                 cleanup's batched deletes);
--   db_ddladmin                   the maintenance timer's ALTER INDEX ... REORGANIZE/REBUILD and UPDATE
--                                 STATISTICS need ALTER on each table, and it lets a pipeline that signs in
--                                 as this identity apply migrations (mgrid db upgrade);
--   VIEW DATABASE STATE           maintenance reads index fragmentation from sys.dm_db_index_physical_stats.
-- The identity gets no db_owner: it cannot change permissions or drop the database.

-- A user of that name for another identity (deleted and recreated under the same name) must be dropped first.
IF EXISTS (SELECT 1 FROM sys.database_principals WHERE name = N'$(IdentityName)' AND sid <> $(Sid))
    THROW 50000, N'$(IdentityName) is a user for another identity: DROP USER [$(IdentityName)] first', 1;

IF NOT EXISTS (SELECT 1 FROM sys.database_principals WHERE name = N'$(IdentityName)')
BEGIN
    CREATE USER [$(IdentityName)] WITH SID = $(Sid), TYPE = E;
END;

IF IS_ROLEMEMBER(N'db_datareader', N'$(IdentityName)') = 0
    ALTER ROLE db_datareader ADD MEMBER [$(IdentityName)];

IF IS_ROLEMEMBER(N'db_datawriter', N'$(IdentityName)') = 0
    ALTER ROLE db_datawriter ADD MEMBER [$(IdentityName)];

IF IS_ROLEMEMBER(N'db_ddladmin', N'$(IdentityName)') = 0
    ALTER ROLE db_ddladmin ADD MEMBER [$(IdentityName)];

GRANT VIEW DATABASE STATE TO [$(IdentityName)];
